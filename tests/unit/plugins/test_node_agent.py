"""The node agent (roles/node_agent/files/steward_node_agent.py): RESP against a real
redis-server, and the mapping of real Docker engine event JSON to Steward events."""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

AGENT = Path(__file__).resolve().parents[3] / "roles" / "node_agent" / "files" / "steward_node_agent.py"
spec = importlib.util.spec_from_file_location("steward_node_agent", AGENT)
assert spec is not None and spec.loader is not None
agent = importlib.util.module_from_spec(spec)
spec.loader.exec_module(agent)

# Shapes as the Docker Engine API (v1.4x) streams them from GET /events.
DIE = {
    "status": "die",
    "id": "4f1c0e2d9a6b",
    "from": "steward-molecule/busybox:1",
    "Type": "container",
    "Action": "die",
    "Actor": {
        "ID": "4f1c0e2d9a6b",
        "Attributes": {"execDuration": "3", "exitCode": "137", "image": "steward-molecule/busybox:1", "name": "victim"},
    },
    "scope": "local",
    "time": 1764222000,
    "timeNano": 1764222000123456789,
}


def _event(action: str, **attrs: str) -> dict:
    return {
        "Type": "container",
        "Action": action,
        "Actor": {"ID": "abc", "Attributes": {"image": "img", "name": "web", **attrs}},
        "scope": "local",
        "time": 1764222000,
        "timeNano": 1764222000000000000,
    }


def test_die_maps_to_container_die_with_exit_code() -> None:
    event = agent.map_event(DIE, "saturn")
    assert event["type"] == "container_die"
    assert event["host"] == "saturn"
    assert event["container"] == "victim"
    assert event["exit_code"] == 137
    assert event["key"] == "docker:victim"
    assert event["at"].startswith("2025-11-27T")
    assert len(event["id"]) == 29 and event["id"][16] == "-"
    int(event["id"][:16], 16), int(event["id"][17:], 16)


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("oom", "container_oom"),
        ("restart", "container_restart"),
        ("health_status: unhealthy", "container_unhealthy"),
        ("health_status: healthy", "container_healthy"),
        ("health_status: starting", None),
        ("start", None),
        ("exec_start: sh -c true", None),
    ],
)
def test_actions_map_to_event_types(action: str, expected: str | None) -> None:
    event = agent.map_event(_event(action), "saturn")
    assert (event["type"] if event else None) == expected


def test_non_container_events_are_ignored() -> None:
    assert agent.map_event({**_event("die"), "Type": "network"}, "saturn") is None


def test_resp_encoding_is_byte_exact() -> None:
    assert agent.encode_command("SET", "k", "vé") == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\xc3\xa9\r\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_port(tmp_path: Path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed")
    port = _free_port()
    proc = _start_redis(port, tmp_path)
    yield port
    proc.terminate()
    proc.wait(10)


def _start_redis(port: int, folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def test_xadd_against_real_redis_uses_the_bus_stream_format(redis_port: int) -> None:
    pub = agent.RedisPublisher("127.0.0.1", redis_port, maxlen=100, queue_size=10)
    event = agent.map_event(DIE, "saturn")
    entry_id = pub.xadd(event)
    assert "-" in entry_id
    entries = pub.command("XRANGE", "steward:events", "-", "+")
    assert len(entries) == 1
    fields = entries[0][1]
    got = dict(zip(fields[::2], fields[1::2], strict=True))
    assert got["id"] == event["id"]
    assert got["type"] == "container_die"
    assert json.loads(got["event"]) == event
    assert pub.command("PING") == "PONG"
    assert pub.command("XLEN", "steward:events") == 1
    with pytest.raises(agent.RespError):
        pub.command("NOSUCHCOMMAND")
    pub.close()


def test_events_wait_in_a_bounded_queue_while_redis_is_down(tmp_path: Path) -> None:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed")
    port = _free_port()
    pub = agent.RedisPublisher("127.0.0.1", port, maxlen=100, queue_size=2)
    threading.Thread(target=pub.run, daemon=True).start()
    events = [agent.map_event(_event("die", exitCode=str(n)), "saturn") for n in range(3)]
    for event in events:
        pub.put(event)
    time.sleep(0.3)  # redis is down: nothing delivered, the oldest event dropped
    assert [e["id"] for e in pub.queue] == [events[1]["id"], events[2]["id"]]
    proc = _start_redis(port, tmp_path)
    try:
        check = agent.RedisPublisher("127.0.0.1", port, maxlen=100, queue_size=1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and check.command("XLEN", "steward:events") < 2:
            time.sleep(0.1)
        entries = check.command("XRANGE", "steward:events", "-", "+")
        assert [dict(zip(f[::2], f[1::2], strict=True))["id"] for _, f in entries] == [events[1]["id"], events[2]["id"]]
        check.close()
    finally:
        proc.terminate()
        proc.wait(10)


ROLE = AGENT.parents[1]


def test_role_argument_specs_defaults_and_readme_agree() -> None:
    import yaml

    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    readme = (ROLE / "README.md").read_text()
    assert set(specs) == set(defaults)
    for name, spec in specs.items():
        assert spec["default"] == defaults[name], name
        assert f"| `{name}` | {spec['type']} |" in readme, name
