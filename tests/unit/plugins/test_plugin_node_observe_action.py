"""plugins/action/node_observe.py: the world document it writes, and the action run for real.

The document builder is tested directly; the action itself runs through a real `ansible`
ad hoc command on the local connection (an action plugin needs the whole controller).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.homelab.steward.plugins.action.node_observe import (
    InvalidHostName,
    build_world,
    check_host_name,
)

REPO = Path(__file__).resolve().parents[3]
VENV_BIN = Path(sys.executable).parent
SCHEMA_KEYS = {"schema", "host", "observed_at", "cycle", "reachable", "error", "checks"}
DOCKER = {"status": "engine_unreachable", "error": "no socket", "docker_host": "unix:///x.sock", "containers": None}


def test_world_document_has_exactly_the_schema() -> None:
    now = datetime(2026, 11, 27, 4, 0, 0, 987654, tzinfo=UTC)
    doc = build_world("saturn", now, "c1", True, None, {"docker": DOCKER})
    assert doc == {
        "schema": 1,
        "host": "saturn",
        "observed_at": "2026-11-27T04:00:00Z",
        "cycle": "c1",
        "reachable": True,
        "error": None,
        "checks": {"docker": DOCKER},
    }


def test_observed_at_is_utc_whatever_the_clock_zone() -> None:
    now = datetime(2026, 11, 27, 6, 30, 5, tzinfo=timezone(timedelta(hours=2)))
    doc = build_world("saturn", now, None, True, None, {})
    assert doc["observed_at"] == "2026-11-27T04:30:05Z"
    assert doc["cycle"] == "20261127T043005Z"  # default: the observation time, compact


def test_unreachable_host_has_an_error_and_never_any_checks() -> None:
    now = datetime.now(UTC)
    doc = build_world("vps", now, "c1", False, None, {"docker": DOCKER})
    assert doc["reachable"] is False
    assert doc["checks"] == {}
    assert doc["error"] == "host unreachable"


@pytest.mark.parametrize("host", ["../etc/passwd", "a/b", ".hidden", "..", "", "nul\0byte"])
def test_host_names_that_could_escape_or_hide_are_refused(host: str) -> None:
    with pytest.raises(InvalidHostName):
        check_host_name(host)


@pytest.mark.parametrize("host", ["saturn", "piha.lan", "h01", "198.18.0.11"])
def test_ordinary_host_names_are_fine(host: str) -> None:
    check_host_name(host)


# --- the action, run by ansible itself ----------------------------------------------------------


def adhoc(tmp_path: Path, args: dict[str, Any], *extra: str) -> tuple[int, dict[str, Any]]:
    """Run homelab.steward.node_observe on one local host; return (rc, the task result)."""
    inventory = tmp_path / "inventory.json"
    inventory.write_text(
        json.dumps(
            {
                "all": {
                    "hosts": {"node-a": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}
                }
            }
        )
    )
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    proc = subprocess.run(
        ["ansible", "all", "-i", str(inventory), "-m", "homelab.steward.node_observe", "-a", json.dumps(args), *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = json.loads(proc.stdout)
    return proc.returncode, out["plays"][0]["tasks"][0]["hosts"]["node-a"]


@pytest.mark.slow
def test_writes_the_world_file_atomically_and_reports_no_change(tmp_path: Path) -> None:
    state = tmp_path / "state"
    rc, result = adhoc(tmp_path, {"state_dir": str(state), "cycle": "c-1", "checks": {"disk": {}}})

    assert rc == 0, result
    assert result["changed"] is False
    path = state / "world" / "node-a.json"
    assert result["path"] == str(path)
    text = path.read_text()
    doc = json.loads(text)
    assert set(doc) == SCHEMA_KEYS
    assert (doc["host"], doc["cycle"], doc["reachable"], doc["error"]) == ("node-a", "c-1", True, None)
    assert doc["checks"]["disk"]["status"] == "ok"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", doc["observed_at"])
    assert text == json.dumps(doc, sort_keys=True, indent=2) + "\n"  # the canonical serialisation
    assert result["world"] == doc
    assert [p.name for p in path.parent.iterdir()] == ["node-a.json"]  # no temp file left behind


@pytest.mark.slow
def test_without_state_dir_the_observation_is_only_returned(tmp_path: Path) -> None:
    rc, result = adhoc(tmp_path, {"checks": {"disk": {"mounts": [{"path": str(tmp_path)}]}}})

    assert rc == 0, result
    assert "path" not in result
    assert result["world"]["checks"]["disk"]["mounts"][0]["present"] is True
    assert list(tmp_path.iterdir()) == [tmp_path / "inventory.json"]


@pytest.mark.slow
def test_no_check_requested_skips_the_host(tmp_path: Path) -> None:
    rc, result = adhoc(tmp_path, {"state_dir": str(tmp_path / "state"), "checks": {}})
    assert rc == 0
    assert result["skipped"] is True
    assert not (tmp_path / "state").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"state_dir": "relative/state", "checks": {"disk": {}}}, "absolute"),
        ({"checks": {"disk": {}}, "timeout": 0}, "timeout"),
        ({"checks": {"disk": {}}, "bogus": 1}, "bogus"),
    ],
    ids=["relative-state-dir", "zero-timeout", "unknown-option"],
)
def test_bad_task_arguments_fail_the_task(tmp_path: Path, args: dict[str, Any], message: str) -> None:
    rc, result = adhoc(tmp_path, args)
    assert rc != 0
    assert result["failed"] is True
    assert message in result["msg"]


@pytest.mark.slow
def test_an_unwritable_state_dir_fails_with_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the state folder should be")
    rc, result = adhoc(tmp_path, {"state_dir": str(blocker), "checks": {"disk": {}}})
    assert rc != 0
    assert str(blocker / "world" / "node-a.json") in result["msg"]
