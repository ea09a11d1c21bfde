"""plugins/modules/docker_containers_info.py, run in-process against a real unix-socket server."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from _docker_server import FakeEngine, load_engine
from _module_runner import run_module

from ansible_collections.homelab.steward.plugins.modules import docker_containers_info


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    folder = tempfile.mkdtemp(prefix="sdmod-")
    server = FakeEngine(folder + "/docker.sock")
    yield server
    server.close()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("check_mode", [False, True])
def test_reports_containers_and_never_changes(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str], check_mode: bool
) -> None:
    engine.serve_engine(load_engine())

    result = run_module(
        docker_containers_info, capsys, {"docker_host": engine.docker_host, "timeout": 5}, check_mode=check_mode
    )

    assert result["changed"] is False
    assert "failed" not in result
    docker = result["docker"]
    assert docker["status"] == "ok"
    assert docker["error"] is None
    assert docker["docker_host"] == engine.docker_host
    assert [c["name"] for c in docker["containers"]] == ["crashed", "fresh", "home-mosquitto-1", "web"]


def test_missing_engine_is_reported_not_failed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    host = f"unix://{tmp_path}/docker.sock"
    result = run_module(docker_containers_info, capsys, {"docker_host": host})

    assert "failed" not in result
    assert result["changed"] is False
    assert result["docker"] == {
        "status": "engine_unreachable",
        "error": f"Docker socket {tmp_path}/docker.sock does not exist",
        "docker_host": host,
        "containers": None,
    }


def test_api_error_is_reported_not_failed(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    engine.route("/containers/json?all=1", 500, {"message": "storage driver broken"})
    result = run_module(docker_containers_info, capsys, {"docker_host": engine.docker_host})

    assert "failed" not in result
    assert result["docker"]["status"] == "api_error"
    assert "storage driver broken" in result["docker"]["error"]
    assert result["docker"]["containers"] is None


def test_unsupported_docker_host_fails_the_task(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_module(docker_containers_info, capsys, {"docker_host": "tcp://127.0.0.1:2375"})
    assert result["failed"] is True
    assert "tcp://127.0.0.1:2375" in result["msg"]


def test_non_positive_timeout_fails_the_task(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_module(docker_containers_info, capsys, {"timeout": 0})
    assert result["failed"] is True
    assert "timeout" in result["msg"]
