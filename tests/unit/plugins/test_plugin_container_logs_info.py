"""plugins/modules/container_logs_info.py, run in-process against a real unix-socket server answering like dockerd.

The real engine is in tests/integration/test_diagnose_real_docker.py."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from _docker_server import FakeEngine
from _module_runner import run_module

from ansible_collections.homelab.steward.plugins.module_utils import _container_logs
from ansible_collections.homelab.steward.plugins.modules import container_logs_info

SPEC_KEYS = ("type", "required", "default", "choices", "elements", "no_log", "aliases")
INSPECT = {
    "Id": "3f4e5d6c7b8a" + "0" * 52,
    "Name": "/mqtt",
    "RestartCount": 2,
    "State": {
        "Status": "exited",
        "ExitCode": 137,
        "OOMKilled": True,
        "Error": "",
        "StartedAt": "2026-11-27T03:59:12.1Z",
        "FinishedAt": "2026-11-27T04:01:40.5Z",
    },
    "Config": {
        "Image": "eclipse-mosquitto:2",
        "Tty": False,
        "Env": ["PATH=/usr/local/sbin:/usr/bin", "MQTT_PASSWORD=correct-horse", "DEBUG=1", "MODE=true"],
    },
}
LOGS = f"/containers/{INSPECT['Id']}/logs?stdout=1&stderr=1&timestamps=1&tail="


def frame(stream: int, text: str) -> bytes:
    payload = text.encode()
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    folder = tempfile.mkdtemp(prefix="sdlog-")
    server = FakeEngine(folder + "/docker.sock")
    server.route("/containers/mqtt/json", 200, INSPECT)
    yield server
    server.close()
    shutil.rmtree(folder, ignore_errors=True)


def look(engine: FakeEngine, capsys: pytest.CaptureFixture[str], **args: Any) -> dict[str, Any]:
    return run_module(container_logs_info, capsys, {"name": "mqtt", "docker_host": engine.docker_host, **args})


@pytest.mark.parametrize("check_mode", [False, True])
def test_exit_state_and_last_lines_env_values_scrubbed_on_the_node(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str], check_mode: bool
) -> None:
    body = (
        frame(1, "2026-11-27T04:01:39.1Z starting with secret correct-horse\n")
        + frame(2, "2026-11-27T04:01:40.2Z Error: out of mem")
        + frame(2, "ory (DEBUG=1 MODE=true)\n")
        + frame(1, "2026-11-27T04:01:40.3Z PATH is /usr/local/sbin:/usr/bin\n")
    )
    engine.route(LOGS + "50", 200, body)

    result = run_module(
        container_logs_info, capsys, {"name": "mqtt", "docker_host": engine.docker_host}, check_mode=check_mode
    )

    assert result["changed"] is False and "failed" not in result
    seen = result["container_logs"]
    assert seen["status"] == "ok" and seen["error"] is None
    assert (seen["state"], seen["exit_code"], seen["oom_killed"], seen["restart_count"]) == ("exited", 137, True, 2)
    assert seen["engine_error"] is None and seen["finished_at"] == "2026-11-27T04:01:40.5Z"
    assert seen["env_names"] == ["PATH", "MQTT_PASSWORD", "DEBUG", "MODE"]
    assert seen["lines"] == [
        {"at": "2026-11-27T04:01:39.1Z", "stream": "stdout", "text": "starting with secret [env:MQTT_PASSWORD]"},
        {"at": "2026-11-27T04:01:40.2Z", "stream": "stderr", "text": "Error: out of memory (DEBUG=1 MODE=true)"},
        {"at": "2026-11-27T04:01:40.3Z", "stream": "stdout", "text": "PATH is /usr/local/sbin:/usr/bin"},
    ]
    assert seen["env_values_scrubbed"] == 1 and seen["truncated"] is False
    assert "correct-horse" not in str(result)
    assert engine.requests == ["/containers/mqtt/json", LOGS + "50"]


def test_a_tty_container_log_is_one_raw_stream(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    engine.route("/containers/web/json", 200, {**INSPECT, "Config": {**INSPECT["Config"], "Tty": True}})
    engine.route(LOGS + "2", 200, b"2026-11-27T04:00:00Z one\r\n2026-11-27T04:00:01Z two\r\n")
    seen = look(engine, capsys, name="web", lines=2)["container_logs"]
    assert [(line["stream"], line["text"]) for line in seen["lines"]] == [("stdout", "one"), ("stdout", "two")]


def test_long_lines_are_cut_and_a_huge_log_is_truncated(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_container_logs, "MAX_LOG_BYTES", 200)
    engine.route(LOGS + "50", 200, frame(1, "x" * 100 + "\n") + frame(1, "y" * 100 + "\n") + frame(1, "z\n"))
    seen = look(engine, capsys, max_line_length=40)["container_logs"]
    assert seen["truncated"] is True
    assert [line["text"] for line in seen["lines"]] == ["x" * 39 + "\u2026"]


def test_a_missing_container_is_reported_not_failed(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    result = look(engine, capsys, name="gone")
    assert "failed" not in result
    seen = result["container_logs"]
    assert seen["status"] == "not_found" and seen["lines"] is None and seen["exit_code"] is None
    assert seen["error"] == "no container named gone on this engine"


def test_unreadable_logs_keep_the_exit_state(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    engine.route(LOGS + "50", 501, {"message": "configured logging driver does not support reading"})
    seen = look(engine, capsys)["container_logs"]
    assert seen["status"] == "ok" and seen["exit_code"] == 137 and seen["lines"] is None
    assert "HTTP 501" in seen["logs_error"] and "does not support reading" in seen["logs_error"]


def test_a_missing_engine_is_reported_not_failed(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    host = f"unix://{tmp_path}/docker.sock"
    result = run_module(container_logs_info, capsys, {"name": "mqtt", "docker_host": host})
    assert "failed" not in result
    assert result["container_logs"]["status"] == "engine_unreachable"
    assert result["container_logs"]["error"] == f"Docker socket {tmp_path}/docker.sock does not exist"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"name": "../etc"}, "name must be a container name"),
        ({"name": "mqtt", "docker_host": "tcp://1.2.3.4:2375"}, "tcp://1.2.3.4:2375"),
        ({"name": "mqtt", "lines": 0}, "lines must be"),
        ({"name": "mqtt", "lines": 501}, "lines must be"),
        ({"name": "mqtt", "max_line_length": 5}, "max_line_length"),
        ({"name": "mqtt", "timeout": 0}, "timeout"),
    ],
)
def test_options_it_cannot_use_fail_the_task(
    capsys: pytest.CaptureFixture[str], args: dict[str, Any], words: str
) -> None:
    result = run_module(container_logs_info, capsys, args)
    assert result["failed"] is True and words in result["msg"]


def _normalised(option: dict[str, Any]) -> dict[str, Any]:
    out = {key: option[key] for key in SPEC_KEYS if key in option}
    if out.get("default") is None:
        out.pop("default", None)
    if out.get("required") is False:
        out.pop("required")
    return out


def test_documented_options_equal_argument_spec_and_return_documents_every_field() -> None:
    doc = yaml.safe_load(container_logs_info.DOCUMENTATION)
    assert doc["module"] == "container_logs_info" and doc["attributes"]["check_mode"]["support"] == "full"
    documented = {name: _normalised(opt) for name, opt in doc["options"].items()}
    assert documented == {name: _normalised(opt) for name, opt in container_logs_info.ARGUMENT_SPEC.items()}
    assert all("description" in opt for opt in doc["options"].values())
    assert yaml.safe_load(container_logs_info.EXAMPLES)
    returned = yaml.safe_load(container_logs_info.RETURN)["container_logs"]["contains"]
    assert set(returned) == set(_container_logs._empty("x", "unix:///x", "ok", None))
    assert all({"description", "returned", "type"} <= set(v) for v in returned.values())
