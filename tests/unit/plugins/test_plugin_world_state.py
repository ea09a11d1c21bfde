"""plugins/modules/world_state.py, run in-process."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _module_runner import run_module
from ansible_collections.homelab.steward.plugins.modules import world_state

DOCKER_OK = {
    "status": "ok",
    "error": None,
    "docker_host": "unix:///var/run/docker.sock",
    "containers": [
        {
            "name": "web",
            "id": "97a25013e960",
            "state": "running",
            "health": "healthy",
            "image": "steward/busybox:test",
            "image_id": "sha256:5c24e77b2e58",
            "restart_count": 0,
            "started_at": "2026-11-27T03:46:30.766589796Z",
            "exit_code": 0,
            "compose_project": "home",
        }
    ],
}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_writes_the_world_file_with_exactly_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    result = run_module(
        world_state,
        capsys,
        {"state_dir": str(tmp_path), "host": "saturn", "cycle": "20261127T040000Z", "checks": {"docker": DOCKER_OK}},
    )

    path = tmp_path / "world" / "saturn.json"
    assert result["changed"] is True
    assert result["path"] == str(path)
    text = path.read_text()
    doc = json.loads(text)
    assert set(doc) == {"schema", "host", "observed_at", "cycle", "reachable", "error", "checks"}
    assert doc["schema"] == 1
    assert doc["host"] == "saturn"
    assert doc["cycle"] == "20261127T040000Z"
    assert doc["reachable"] is True
    assert doc["error"] is None
    assert doc["checks"] == {"docker": DOCKER_OK}
    assert ISO_Z.match(doc["observed_at"])
    observed = datetime.strptime(doc["observed_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= observed <= datetime.now(UTC)
    assert text == json.dumps(doc, sort_keys=True, indent=2) + "\n"
    assert result["world"] == doc


def test_unreachable_host_records_the_error_and_no_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    msg = "Failed to connect to the host via ssh: ssh: connect to host 198.18.0.250 port 22: Connection timed out"
    result = run_module(
        world_state,
        capsys,
        {
            "state_dir": str(tmp_path),
            "host": "vps",
            "cycle": "c1",
            "reachable": False,
            "error": msg,
            # Whatever a caller passes, an unreachable host has no check results.
            "checks": {"docker": {"status": "ok", "containers": []}},
        },
    )

    doc = json.loads((tmp_path / "world" / "vps.json").read_text())
    assert doc["reachable"] is False
    assert doc["error"] == msg
    assert doc["checks"] == {}
    # ansible-core 2.19 reports warnings as structured objects; older cores as strings.
    assert "its checks are not recorded" in json.dumps(result.get("warnings"))


def test_unreachable_without_message_still_has_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_module(world_state, capsys, {"state_dir": str(tmp_path), "host": "piha", "reachable": False})
    doc = json.loads((tmp_path / "world" / "piha.json").read_text())
    assert doc["error"] == "host unreachable"


def test_cycle_defaults_to_the_compact_observation_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_module(world_state, capsys, {"state_dir": str(tmp_path), "host": "solaria"})
    world = result["world"]
    assert re.match(r"^\d{8}T\d{6}Z$", world["cycle"])
    assert world["cycle"] == world["observed_at"].replace("-", "").replace(":", "")


def test_check_mode_reports_a_change_but_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    result = run_module(
        world_state,
        capsys,
        {"state_dir": str(state), "host": "saturn", "checks": {"docker": DOCKER_OK}},
        check_mode=True,
    )
    assert result["changed"] is True
    assert result["path"] == str(state / "world" / "saturn.json")
    assert not state.exists()


def test_every_run_replaces_the_previous_observation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = {"state_dir": str(tmp_path), "host": "saturn", "checks": {"docker": DOCKER_OK}}
    run_module(world_state, capsys, {**args, "cycle": "one"})
    second = run_module(world_state, capsys, {**args, "cycle": "two"})

    assert second["changed"] is True
    assert json.loads((tmp_path / "world" / "saturn.json").read_text())["cycle"] == "two"
    assert [p.name for p in (tmp_path / "world").iterdir()] == ["saturn.json"]


@pytest.mark.parametrize("host", ["../etc/passwd", "a/b", ".hidden", "..", ""])
def test_host_names_that_could_escape_or_hide_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], host: str
) -> None:
    result = run_module(world_state, capsys, {"state_dir": str(tmp_path), "host": host})
    assert result["failed"] is True
    assert not (tmp_path / "world").exists()


def test_relative_state_dir_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_module(world_state, capsys, {"state_dir": "state", "host": "saturn"})
    assert result["failed"] is True
    assert "absolute" in result["msg"]


def test_unwritable_state_dir_fails_with_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the state folder should be")
    result = run_module(world_state, capsys, {"state_dir": str(blocker), "host": "saturn"})
    assert result["failed"] is True
    assert str(blocker / "world" / "saturn.json") in result["msg"]
