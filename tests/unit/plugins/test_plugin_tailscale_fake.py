"""tests/fake_tailscaled.py as a program: the way the Molecule scenario starts and stops it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ansible_collections.homelab.steward.plugins.module_utils._check_tailscale import collect

FAKE = Path(__file__).resolve().parents[2] / "fake_tailscaled.py"


@pytest.fixture
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tsfake-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start(folder: Path, *args: str) -> int:
    """Start the fake detached, as prepare.yml does; return its PID (from the pid file)."""
    proc = subprocess.run(
        [sys.executable, str(FAKE), "--socket", str(folder / "tailscaled.sock"), "--daemon",
         "--pidfile", str(folder / "pid"), "--log", str(folder / "log"), *args],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return int((folder / "pid").read_text())


def stop(pid: int, folder: Path) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while (folder / "pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_daemon_serves_a_scenario_and_stops_by_pid(folder: Path) -> None:
    pid = start(folder, "--scenario", "needs-login")
    try:
        assert oct((folder / "tailscaled.sock").stat().st_mode & 0o777) == "0o666"  # as tailscaled's
        result = collect(socket=str(folder / "tailscaled.sock"))
        assert (result["status"], result["backend_state"]) == ("ok", "NeedsLogin")
    finally:
        stop(pid, folder)
    # Gone, and it cleaned up after itself: the next look reports the daemon absent.
    assert not (folder / "pid").exists()
    assert collect(socket=str(folder / "tailscaled.sock"))["status"] == "absent"


def test_daemon_serves_a_fixture_file_in_forbidden_mode(folder: Path) -> None:
    fixture = folder / "status.json"
    fixture.write_text(json.dumps({"BackendState": "Stopped", "Self": None, "Peer": None}))
    pid = start(folder, "--fixture", str(fixture), "--mode", "forbidden")
    try:
        assert collect(socket=str(folder / "tailscaled.sock"))["status"] == "permission_denied"
    finally:
        stop(pid, folder)


def test_daemon_reports_a_failed_start(folder: Path) -> None:
    (folder / "tailscaled.sock").write_text("not a socket")
    proc = subprocess.run(
        [sys.executable, str(FAKE), "--socket", str(folder / "tailscaled.sock"), "--daemon"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "exists and is not a socket" in proc.stderr


def test_unknown_scenario_is_a_usage_error(folder: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(FAKE), "--socket", str(folder / "s.sock"), "--scenario", "exploded"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "unknown scenario" in proc.stderr
