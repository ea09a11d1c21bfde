"""desired.py's guards around Ansible's inventory code, and the messages they give (one each)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import REPO, make_settings, service
from steward.desired.cached import load_desired_cached
from steward.desired.inventory import (
    InventoryChanged,
    InventoryUnreadable,
    NoHostMatched,
    NoStewardHost,
    error_fields,
    hosts_matching,
    load_desired,
)
from steward.desired.signature import check_whole, signature
from steward.events.tail import describe
from steward.interfaces.cli.main import main
from steward.interfaces.cli.output import plan_text, terminal_lines
from steward.plan.engine import CycleReport

GOOD = "all:\n  hosts:\n    saturn:\n      steward_services:\n        - {name: web, image: 'x:1'}\n"
BAD = "all:\n  hosts:\n    saturn:\n      steward_services: [\n"


def test_the_switches_hold_whatever_ansible_cfg_says_and_are_restored(tmp_path: Path, monkeypatch) -> None:
    from ansible import constants as C

    monkeypatch.setattr(C, "INVENTORY_UNPARSED_IS_FAILED", False)
    monkeypatch.setattr(C, "INVENTORY_ANY_UNPARSED_IS_FAILED", False)
    inv = tmp_path / "hosts.yml"
    inv.write_text(BAD)
    with pytest.raises(InventoryUnreadable) as err:
        load_desired(inv)
    assert (err.value.file, err.value.line, err.value.column) == (str(inv), 5, 1)
    assert C.INVENTORY_UNPARSED_IS_FAILED is False and C.INVENTORY_ANY_UNPARSED_IS_FAILED is False


def test_an_ansible_cfg_that_turns_the_switches_off_still_gets_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[inventory]\nunparsed_is_failed = False\nany_unparsed_is_failed = False\n")
    inv = tmp_path / "hosts.yml"
    inv.write_text(BAD)
    env = {**os.environ, "ANSIBLE_CONFIG": str(cfg)}
    cmd = [sys.executable, "-m", "steward", "--state-dir", str(tmp_path / "s"), "-i", str(inv), "plan"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=REPO)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2, proc.stderr
    assert errors == [
        f"error: desired state: cannot parse {inv} (line 5, column 1): YAML parsing failed: "
        "While parsing a flow node did not find expected node content."
    ]
    assert "Traceback" not in proc.stderr and "[WARNING]" not in proc.stderr  # Ansible's own blocks stay off


def test_messages_name_what_is_wrong(tmp_path: Path) -> None:
    unreadable = InventoryUnreadable("/i/host_vars/a.yml", "YAML parsing failed: x\x1b[2J", 3, 7)
    assert str(unreadable) == "cannot parse /i/host_vars/a.yml (line 3, column 7): YAML parsing failed: x\\x1b[2J"
    assert error_fields(unreadable) == {
        "reason": f"desired state unusable: {unreadable}",
        "file": "/i/host_vars/a.yml",
        "line": 3,
        "column": 7,
    }
    changed = InventoryChanged(["/i/hosts.yml"])
    assert str(changed).startswith("the inventory changed while it was read (/i/hosts.yml): nothing is planned")
    assert error_fields(changed)["files"] == ["/i/hosts.yml"]
    (tmp_path / "empty.yml").write_text("")
    assert "(the file is empty)" in str(NoStewardHost(tmp_path / "empty.yml", 0))
    assert "(2 host(s), none with a steward_* variable)" in str(NoStewardHost(tmp_path / "x.yml", 2))
    assert str(NoHostMatched("nope", Path("/i/hosts.yml"))) == (
        "--limit 'nope' matches no host of /i/hosts.yml; nothing observed"
    )


def test_limits_are_resolved_by_ansible_patterns(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, {"saturn": [service("a")], "piha": [service("b")]})
    assert hosts_matching(settings.inventory, "sat*") == ["saturn"]
    assert hosts_matching(settings.inventory, "all:!piha") == ["saturn"]
    assert hosts_matching(settings.inventory, "nope") == []


def test_a_vars_file_added_or_removed_after_a_load_is_seen(tmp_path: Path) -> None:
    """host_group_vars keeps process-wide lists of the vars files it found: a long-running process
    (executor --watch) would miss a new host_vars file, or fail on a removed one, without a reset."""
    settings = make_settings(tmp_path, {"saturn": [service("a")]})
    assert load_desired_cached(settings.inventory).hosts["saturn"].want("disk") == ()
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "saturn.yml").write_text("steward_disk: {'/': 80}\n")
    assert [r.max_used_pct for r in load_desired_cached(settings.inventory).hosts["saturn"].want("disk")] == [80]
    (tmp_path / "host_vars" / "saturn.yml").unlink()
    assert load_desired_cached(settings.inventory).hosts["saturn"].want("disk") == ()


def test_a_writer_pausing_between_two_halves_is_never_read_as_the_half(tmp_path: Path) -> None:
    """Half written, a 0.1 s pause (longer than a whole load), the rest: the load waits for the file
    to settle and sees the change, or reads it whole - never the valid half (one service)."""
    inv = tmp_path / "hosts.yml"
    whole = GOOD + "        - {name: db, image: 'x:1'}\n"
    half = whole.index("        - {name: db")
    inv.write_text(whole)
    os.utime(inv, (time.time() - 10, time.time() - 10))
    for _ in range(3):
        fd = os.open(inv, os.O_WRONLY | os.O_TRUNC)
        os.write(fd, whole[:half].encode())

        def finish(fd: int = fd) -> None:
            time.sleep(0.1)
            os.write(fd, whole[half:].encode())
            os.close(fd)

        threading.Thread(target=finish).start()
        try:
            names = [s.name for s in load_desired(inv).hosts["saturn"].want("docker")]
        except InventoryChanged:
            names = ["web", "db"]
        assert names == ["web", "db"]
        time.sleep(0.15)


def test_a_read_that_differs_from_the_file_before_and_after_is_a_change(tmp_path: Path) -> None:
    """ABA: the file is the same before and after the load, but Ansible read something else in between."""
    inv = tmp_path / "hosts.yml"
    inv.write_text(GOOD)
    before = signature(inv)
    with pytest.raises(InventoryChanged):
        check_whole(inv, before, [(os.path.realpath(inv), 10, 1234)])
    check_whole(inv, before, [(os.path.realpath(inv), len(GOOD), __import__("zlib").crc32(GOOD.encode()))])


def test_describe_names_the_unusable_files_and_stays_one_line() -> None:
    world = {
        "at": "2026-01-01T00:00:00Z",
        "type": "cycle_skipped",
        "reason": "world state unusable; keeping last-known-good",  # an entry written before the files were named
        "errors": {"piha.json": "not JSON: line 1\nfake line"},
    }
    assert describe(world).endswith("errors=piha.json: not JSON: line 1\\nfake line")
    inventory = {
        "type": "cycle_skipped",
        "reason": "desired state unusable",
        "file": "/i/h.yml",
        "line": 4,
        "column": 2,
    }
    assert "file=/i/h.yml:4:2" in describe(inventory)
    left = {"type": "host_left_inventory", "hosts": ["a", "b"], "summary": "x"}
    assert "hosts=a,b" in describe(left)
    assert "\x1b" not in describe({"type": "x", "reason": "\x1b]0;pwned\x07"})


def test_terminal_text_escapes_control_characters() -> None:
    report = CycleReport(
        drifts=[{"key": "h/docker/c/x", "summary": "image evil\x1b[2J\n---", "observations": 1, "notice_only": False}]
    )
    text = plan_text(report)
    assert "\x1b" not in text and "\\x1b[2J\\n---" in text and len(text.splitlines()) == 2
    assert terminal_lines("- a:\n\tb\x1b[31m\r") == "- a:\n\tb\\x1b[31m\\r"


def test_show_prints_a_playbook_with_only_newlines_and_tabs_kept(tmp_path: Path, capsys) -> None:
    settings = make_settings(tmp_path, {"saturn": [service("a")]})
    (settings.paths.actions / "pending" / "20260101T000000Z-x.yml").write_text("# a\x1b[2J\n- hosts: x\n\tb\n")
    assert (
        main(["--state-dir", str(settings.state_dir), "-i", str(settings.inventory), "show", "20260101T000000Z-x"]) == 0
    )
    out = capsys.readouterr().out
    assert "\x1b" not in out and "# a\\x1b[2J\n- hosts: x\n\tb" in out
