"""The web desk in a real browser (Debian's chromium through Playwright) against the real
`steward ui` process: log in, see actions written by real plan cycles, approve one, reject one
with a reason, and find no buttons on an expired one.

STEWARD_DESK_SCREENSHOTS=DIR keeps the queue and action pages as PNGs there (docs/img/ is made so).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from desk_lab import Desk

from helpers import REPO

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium (scripts/bootstrap.sh)")

sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e .[dev])")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(desk: Desk, tmp_path: Path) -> Iterator[tuple[Desk, str]]:
    """`steward ui` as the operator starts it, on a free loopback port."""
    port = free_port()
    cmd = [sys.executable, "-m", "steward", "--state-dir", str(desk.settings.state_dir)]
    cmd += ["-i", str(desk.settings.inventory), "ui", "--port", str(port)]
    log = (tmp_path / "ui.log").open("w")
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, (tmp_path / "ui.log").read_text()
            time.sleep(0.1)
        yield desk, url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture
def browser() -> Iterator[object]:
    args = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]
    args += ["--disable-component-update", "--disable-sync", "--no-first-run"]
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield b
        finally:
            b.close()


def shot(page: object, name: str) -> None:
    where = os.environ.get("STEWARD_DESK_SCREENSHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(where) / name), full_page=True)  # type: ignore[attr-defined]


def test_an_operator_logs_in_approves_one_action_rejects_another_and_an_expired_one_has_no_buttons(
    served, browser
) -> None:
    desk, url = served
    approve_me = desk.cycles("piha", "mqtt")
    reject_me = desk.cycles("saturn", "gitea")
    expired = desk.expired_pending()
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{url}/")
    assert page.url.startswith(f"{url}/login")  # no session: the login form
    page.fill("#token", desk.token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")
    rows = page.locator("table.queue tbody tr.row-pending")
    assert rows.count() == 3
    assert page.locator(f'tr[data-action="{approve_me}"]').inner_text().count("container mqtt is exited") == 1
    page.wait_for_selector(".countdown[data-ticking]")  # the page's script runs (under the CSP)
    shot(page, "desk-queue.png")

    page.click(f'a[href="/actions/{approve_me}"]')
    page.wait_for_url(f"{url}/actions/{approve_me}")
    assert page.locator("h1").inner_text() == "container mqtt is exited (exit code 137), desired running"
    assert "homeauto" not in page.content() and page.locator("pre.playbook").count() == 1
    shot(page, "desk-action.png")
    page.fill("#approve-reason", "spare is ready")
    page.click("button.approve")
    page.wait_for_selector(".folder-approved")
    assert desk.folder_of(approve_me) == ["approved"]
    assert page.locator("button.approve").count() == 0
    page.goto(f"{url}/")
    assert page.locator(f'tr.row-pending[data-action="{approve_me}"]').count() == 0
    assert page.locator(f'tr.row-approved[data-action="{approve_me}"]').count() == 1

    page.goto(f"{url}/actions/{reject_me}")
    page.click("button.reject")  # without a reason the browser itself keeps the form (required)
    assert desk.folder_of(reject_me) == ["pending"]
    page.fill("#reject-reason", "gitea moves to the new box tomorrow")
    page.click("button.reject")
    page.wait_for_selector(".outcome-rejected")
    assert "rejected by operator (web): gitea moves to the new box tomorrow" in page.inner_text(".outcome")
    assert desk.folder_of(reject_me) == ["rejected"]

    page.goto(f"{url}/actions/{expired}")
    assert page.locator("section.decide").count() == 0 and page.locator("button.approve").count() == 0
    assert "expired" in page.inner_text("dl.facts")
    page.goto(f"{url}/hosts")
    assert page.locator('tr[data-host="piha"]').count() == 1
    assert errors == [], errors  # no CSP violation, no script error


def test_the_queue_page_follows_a_decision_made_elsewhere(served, browser) -> None:
    from steward.app import actions

    desk, url = served
    action = desk.cycles("piha", "mqtt")
    page = browser.new_page()
    page.goto(f"{url}/login")
    page.fill("#token", desk.token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")
    assert page.locator(f'tr.row-pending[data-action="{action}"]').count() == 1
    actions.approve(desk.settings, action, via="cli", by="ops")  # someone approved it from a shell
    page.wait_for_selector(f'tr.row-approved[data-action="{action}"]', timeout=15000)  # the page reloaded itself


if shutil.which("chromium") is None and os.path.exists(CHROMIUM):  # pragma: no cover - a hint, not a test
    print("chromium is at /usr/bin/chromium but not on PATH", file=sys.stderr)
