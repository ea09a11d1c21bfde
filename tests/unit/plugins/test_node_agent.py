"""The node agent (roles/node_agent/files/steward_node_agent.py): RESP against a real
redis-server, the mapping of real Docker engine event JSON to Steward events, its position in
Docker's event stream (since, duplicates at the boundary, the state file), the supervisor with
real child processes, and the worker as a real process replaying what it missed."""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer, free_port, missing

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
    assert event["key"] == "saturn/docker/victim"
    assert event["at"].startswith("2025-11-27T") and event["at"].endswith("Z") and len(event["at"]) == 20
    assert isinstance(event["time_nano"], int)
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


@pytest.fixture
def redis_port(tmp_path: Path):
    if missing():
        pytest.skip(str(missing()))
    server = RedisServer(tmp_path / "redis", acl=False).start()  # no users: the tests' raw commands
    yield server.port
    server.stop()


@pytest.fixture
def acl_redis(tmp_path: Path):
    """ACL users as docs/operations.md asks: default off, node-saturn may only XADD to the stream."""
    if missing():
        pytest.skip(str(missing()))
    server = RedisServer(tmp_path / "redis", nodes=("saturn",)).start()
    yield server
    server.stop()


def publisher(port: int, queue_size: int = 10, **kw) -> object:
    """A publisher for a test Redis without users: the loopback development flag, explicitly."""
    return agent.RedisPublisher("127.0.0.1", port, maxlen=100, queue_size=queue_size, allow_unauthenticated=True, **kw)


def test_xadd_against_real_redis_uses_the_bus_stream_format(redis_port: int) -> None:
    pub = publisher(redis_port)
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
    if missing():
        pytest.skip(str(missing()))
    server = RedisServer(tmp_path / "redis", acl=False)
    port = server.port
    pub = publisher(port, queue_size=2)
    threading.Thread(target=pub.run, daemon=True).start()
    events = [agent.map_event(_event("die", exitCode=str(n)), "saturn") for n in range(3)]
    for event in events:
        pub.put(event)
    time.sleep(0.3)  # redis is down: nothing delivered, the oldest event dropped
    assert [e["id"] for e, _ in pub.queue] == [events[1]["id"], events[2]["id"]]
    server.start()
    try:
        check = publisher(port, queue_size=1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and check.command("XLEN", "steward:events") < 2:
            time.sleep(0.1)
        entries = check.command("XRANGE", "steward:events", "-", "+")
        assert [dict(zip(f[::2], f[1::2], strict=True))["id"] for _, f in entries] == [events[1]["id"], events[2]["id"]]
        check.close()
    finally:
        server.stop()


def test_with_requirepass_the_agent_authenticates_and_a_refusal_keeps_the_event(tmp_path: Path) -> None:
    """NOAUTH/WRONGPASS mean "not you (yet)": the event stays queued, nothing is dropped."""
    if missing():
        pytest.skip(str(missing()))
    server = RedisServer(tmp_path / "redis", acl=False, extra=("--requirepass", "s3cret")).start()
    port = server.port
    try:
        wrong = agent.RedisPublisher("127.0.0.1", port, maxlen=100, queue_size=10, password="guess")
        threading.Thread(target=wrong.run, daemon=True).start()
        event = agent.map_event(DIE, "saturn")
        wrong.put(event)
        time.sleep(0.5)
        assert [e["id"] for e, _ in wrong.queue] == [event["id"]]  # refused, kept, retried
        with pytest.raises(ConnectionError, match="AUTH refused"):  # a connection problem, not the event's
            agent.RedisPublisher("127.0.0.1", port, maxlen=100, queue_size=1, password="guess").connect()
        right = agent.RedisPublisher("127.0.0.1", port, maxlen=100, queue_size=10, password="s3cret")
        right.put(event)
        threading.Thread(target=right.run, daemon=True).start()
        deadline = time.monotonic() + 10
        while right.queue and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not right.queue
        assert right.command("XLEN", "steward:events") == 1
        right.close()
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("reply", "retry"),
    [
        ("LOADING Redis is loading the dataset in memory", True),
        ("NOAUTH Authentication required.", True),
        ("WRONGPASS invalid username-password pair", True),
        ("DENIED Redis is running in protected mode", True),
        ("READONLY You can't write against a read only replica.", True),
        ("OOM command not allowed when used memory > 'maxmemory'.", True),
        ("ERR max number of clients reached", True),
        # Redis 7, to a client that sent XADD before AUTH (issue 17: the event was dropped)
        ("ERR Protocol error: unauthenticated multibulk length", True),
        ("ERR Protocol error: unauthenticated bulk length", True),
        ("WRONGTYPE Operation against a key holding the wrong kind of value", False),
        ("ERR unknown command", False),
    ],
)
def test_which_error_replies_keep_the_event(reply: str, retry: bool) -> None:
    assert agent.retryable(agent.RespError(reply)) is retry


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


# --- Where the agent is in Docker's event stream: since, duplicates, the state file ----------

SEC = 1_000_000_000


def test_event_key_is_time_nano_actor_and_action() -> None:
    assert agent.event_key(DIE) == (1764222000123456789, "4f1c0e2d9a6b", "die")
    # An engine without timeNano: whole seconds.
    old = {"status": "die", "id": "4f1c", "time": 1764222000}
    assert agent.event_key(old) == (1764222000 * SEC, "4f1c", "die")


def test_cursor_drops_exact_duplicates_at_the_boundary_only() -> None:
    cursor = agent.Cursor(100)
    assert cursor.advance((200, "a", "die"))
    assert cursor.advance((200, "b", "die"))  # same time, other container: a different event
    assert cursor.advance((200, "a", "oom"))  # same time and container, other action
    assert (cursor.time_nano, cursor.seen) == (200, {("a", "die"), ("b", "die"), ("a", "oom")})
    # What Docker replays after `since=200`: the three again, then something new.
    assert not cursor.advance((200, "a", "die"))
    assert not cursor.advance((200, "b", "die"))
    assert not cursor.advance((200, "a", "oom"))
    assert cursor.advance((201, "a", "die"))
    assert (cursor.time_nano, cursor.seen) == (201, {("a", "die")})
    # Older than the boundary (Docker never replays those) passes, and does not move the cursor.
    assert cursor.advance((150, "c", "die"))
    assert (cursor.time_nano, cursor.seen) == (201, {("a", "die")})


def test_since_is_seconds_dot_nine_digit_nanoseconds() -> None:
    now = 1764222600 * SEC
    assert agent.since_param(agent.Cursor(1764222000 * SEC + 5), now, 600) == "1764222000.000000005"
    assert agent.since_param(agent.Cursor(1764222000123456789), now, 600) == "1764222000.123456789"


def test_since_never_reaches_further_back_than_replay_max_seconds() -> None:
    now = 1764222600 * SEC + 42
    hour_old = agent.Cursor(now - 3600 * SEC)
    assert agent.since_param(hour_old, now, 600) == f"{1764222600 - 600}.000000042"
    assert agent.since_param(hour_old, now, 0) == "1764222600.000000042"  # 0: no replay, from now
    assert agent.since_param(hour_old, now, 7200) == f"{1764222600 - 3600}.000000042"


def test_state_file_round_trip_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert agent.load_state(str(path)) is None
    agent.save_state(str(path), agent.Cursor(1764222000123456789, {("4f1c", "die"), ("9e2b", "oom")}))
    agent.save_state(str(path), agent.Cursor(1764222000123456790, {("4f1c", "restart")}))
    loaded = agent.load_state(str(path))
    assert (loaded.time_nano, loaded.seen) == (1764222000123456790, {("4f1c", "restart")})
    saved = json.loads(path.read_text())
    assert saved["at"].startswith("2025-11-27T05:40:00.12345")
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temp file left behind


@pytest.mark.parametrize("content", ["", "{", "[]", '{"time_nano": "soon"}', '{"time_nano": 0}', '{"seen": []}'])
def test_a_damaged_state_file_counts_as_none(tmp_path: Path, content: str, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    assert agent.load_state(str(path)) is None
    assert "ignoring state file" in capsys.readouterr().err


# --- The supervisor, with real child processes ------------------------------------------------


def test_backoff_doubles_from_initial_to_maximum_and_resets_after_a_long_run() -> None:
    backoff = agent.Backoff(1.0, 30.0, reset_after=60.0)
    assert [backoff.after_exit(0.2) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.after_exit(60.0) == 1
    assert backoff.after_exit(59.9) == 2


def test_exit_status_names_the_signal() -> None:
    assert agent.describe_status(3) == "exit code 3"
    assert agent.describe_status(-9) == "signal SIGKILL"


SUPERVISE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("steward_node_agent", sys.argv[1])
agent = importlib.util.module_from_spec(spec)
spec.loader.exec_module(agent)
opts = json.loads(sys.argv[2])
backoff = agent.Backoff(*opts["backoff"])
sys.exit(agent.Supervisor(opts["argv"], backoff, stop_timeout=opts["stop_timeout"], poll=0.02).run())
"""

CHILD = """
import os, signal, sys, time
starts, mode = sys.argv[1], sys.argv[2]
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open(starts, "a") as fh:
    fh.write(f"{os.getpid()} {time.monotonic()}\\n")
if mode == "exit3":
    sys.exit(3)
time.sleep(3600)
"""


class Supervised:
    """A real supervisor process (Supervisor.run) over a real child script."""

    def __init__(self, folder: Path, mode: str, backoff: tuple[float, float, float], stop_timeout: float = 5.0):
        (folder / "supervise.py").write_text(SUPERVISE)
        (folder / "child.py").write_text(CHILD)
        self.starts = folder / "starts"
        self.log = folder / "supervisor.log"
        argv = [sys.executable, str(folder / "child.py"), str(self.starts), mode]
        opts = {
            "argv": [str(folder / "no-such-interpreter")] if mode == "missing" else argv,
            "backoff": backoff,
            "stop_timeout": stop_timeout,
        }
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(folder / "supervise.py"), str(AGENT), json.dumps(opts)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def children(self) -> list[tuple[int, float]]:
        if not self.starts.exists():
            return []
        return [(int(pid), float(at)) for pid, at in (line.split() for line in self.starts.read_text().splitlines())]

    def wait_children(self, n: int, timeout: float = 10) -> list[tuple[int, float]]:
        deadline = time.monotonic() + timeout
        while len(self.children()) < n:
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"{len(self.children())} child starts, wanted {n}"
            time.sleep(0.02)
        return self.children()

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 10) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(timeout)

    def text(self) -> str:
        return self.log.read_text()


def _alive(pid: int) -> bool:
    """Running, and not a zombie (an orphan's zombie may wait a while for its reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pid: int, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def supervised(tmp_path: Path):
    started: list[Supervised] = []

    def start(*args, **kwargs) -> Supervised:
        sup = Supervised(tmp_path, *args, **kwargs)
        started.append(sup)
        return sup

    yield start
    for sup in started:  # a failed test must not leave processes behind
        if sup.proc.poll() is None:
            sup.proc.kill()
            sup.proc.wait(10)
        for pid, _ in sup.children():
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_supervisor_restarts_an_exiting_child_with_doubling_delays(supervised) -> None:
    sup = supervised("exit3", backoff=(0.2, 0.8, 60.0))
    starts = [at for _, at in sup.wait_children(5)]
    assert sup.stop() == 0
    gaps = [b - a for a, b in zip(starts[:4], starts[1:5], strict=True)]
    for gap, delay in zip(gaps, [0.2, 0.4, 0.8, 0.8], strict=True):
        assert delay <= gap < delay + 1.0, (gaps, sup.text())
    log = sup.text()
    assert "exited with exit code 3" in log
    assert "restart 1 in 0.2s" in log and "restart 3 in 0.8s" in log and "restart 4 in 0.8s" in log
    assert "supervisor: stopped" in log


def test_supervisor_restarts_a_killed_child_and_logs_the_signal(supervised) -> None:
    sup = supervised("sleep", backoff=(0.1, 1.0, 60.0))
    [(first, _)] = sup.wait_children(1)
    os.kill(first, signal.SIGKILL)
    (_, _), (second, _) = sup.wait_children(2)
    assert second != first and _alive(second)
    assert f"worker {first} exited with signal SIGKILL" in sup.text()
    assert sup.stop() == 0
    assert _wait_gone(second, 0)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_supervisor_stops_its_child_on_term_or_int_and_exits_0(supervised, signum: int) -> None:
    sup = supervised("sleep", backoff=(0.1, 1.0, 60.0))
    [(child, _)] = sup.wait_children(1)
    assert sup.stop(signum) == 0
    assert _wait_gone(child, 0), "the worker outlived its supervisor"
    assert f"worker {child} stopped (signal SIGTERM)" in sup.text()


def test_supervisor_kills_a_child_that_ignores_sigterm(supervised) -> None:
    sup = supervised("stubborn", backoff=(0.1, 1.0, 60.0), stop_timeout=0.5)
    [(child, _)] = sup.wait_children(1)
    began = time.monotonic()
    assert sup.stop() == 0
    assert 0.5 <= time.monotonic() - began < 5
    assert _wait_gone(child, 0)
    assert f"worker {child} ignored SIGTERM" in sup.text()
    assert f"worker {child} stopped (signal SIGKILL)" in sup.text()


def test_supervisor_keeps_trying_when_the_worker_cannot_even_start(supervised) -> None:
    sup = supervised("missing", backoff=(0.1, 0.2, 60.0))
    _wait_for(lambda: sup.text().count("could not start") >= 3, "three failed starts")
    assert "restart 2 in 0.2s" in sup.text()
    assert sup.stop() == 0


def test_the_worker_exits_when_its_supervisor_is_killed(tmp_path: Path) -> None:
    """kill -9 of the supervisor cannot stop the worker; the worker notices and goes."""
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "docker_socket": f"unix://{tmp_path}/none.sock",
                "redis_port": free_port(),
                "redis_password": "pw-supervised-1",
            }
        )
    )
    log = tmp_path / "agent.log"
    with log.open("wb") as fh:
        sup = subprocess.Popen([sys.executable, str(AGENT), "--supervise", str(config)], stderr=fh)
    worker = 0
    try:
        deadline = time.monotonic() + 10
        while "started" not in log.read_text():
            assert sup.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        worker = int(log.read_text().split("supervisor: worker ", 1)[1].split()[0])
        assert _alive(worker)
        sup.kill()
        sup.wait(10)
        assert _wait_gone(worker, 5), log.read_text()
        assert f"supervisor {sup.pid} is gone; exiting" in log.read_text()
    finally:
        if sup.poll() is None:
            sup.kill()
            sup.wait(10)
        if worker and _alive(worker):  # the bug this test is about: do not leave it running
            os.kill(worker, signal.SIGKILL)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"replay_max_seconds": -1, "redis_password": "pw-bad-config"}, "replay_max_seconds must be >= 0"),
        ({}, "no redis_password: Redis must authenticate the agent"),
        ({"allow_unauthenticated": True, "redis_host": "198.18.0.1"}, "only accepted for a loopback Redis"),
        ({"allow_unauthenticated": "yes"}, "allow_unauthenticated must be true or false"),
        ({"redis_password": "pw-x", "heartbeat_seconds": "often"}, "heartbeat_seconds must be 0 (off) or between"),
        ({"redis_password": "pw-x", "heartbeat_seconds": 0.1}, "heartbeat_seconds must be 0 (off) or between"),
    ],
)
def test_a_bad_config_is_refused_before_anything_starts(tmp_path: Path, config: dict, message: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    for argv in ([str(path)], ["--supervise", str(path)]):
        proc = subprocess.run([sys.executable, str(AGENT), *argv], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2
        assert message in proc.stderr


def test_a_node_user_may_only_xadd_to_the_stream(acl_redis: RedisServer) -> None:
    password = acl_redis.node_passwords["saturn"]
    pub = agent.RedisPublisher("127.0.0.1", acl_redis.port, 100, 10, password=password, username="node-saturn")
    event = agent.map_event(DIE, "saturn")
    assert "-" in pub.xadd(event)
    for command in (
        ("XRANGE", "steward:events", "-", "+"),
        ("XADD", "other", "*", "a", "b"),
        ("DEL", "steward:events"),
    ):
        with pytest.raises(agent.RespError, match="NOPERM"):
            pub.command(*command)
    pub.close()
    assert acl_redis.client().xlen("steward:events") == 1


def test_a_redis_that_answers_anyone_is_refused_and_the_event_kept(redis_port: int) -> None:
    pub = agent.RedisPublisher("127.0.0.1", redis_port, 100, 10, password="whatever")
    with pytest.raises(ConnectionError, match="refusing this Redis"):
        pub.connect()
    threading.Thread(target=pub.run, daemon=True).start()
    event = agent.map_event(DIE, "saturn")
    pub.put(event)
    time.sleep(0.5)
    assert [e["id"] for e, _ in pub.queue] == [event["id"]]
    assert publisher(redis_port).command("XLEN", "steward:events") == 0


def test_the_password_is_never_logged() -> None:
    agent.SECRETS.append("pw-never-shown")
    try:
        import contextlib
        import io

        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            agent.log("AUTH node-saturn pw-never-shown refused")
        assert "pw-never-shown" not in err.getvalue() and "***" in err.getvalue()
    finally:
        agent.SECRETS.remove("pw-never-shown")


# --- The worker end to end: a real process, a real redis-server, Docker's /events on a unix socket


class FakeEvents:
    """GET /events on a real unix socket: each connection is handed to the test, which sends the
    events the engine would (chunked JSON lines, as dockerd does) and closes it when it likes."""

    def __init__(self, path: str) -> None:
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen()
        self.connections: queue.Queue = queue.Queue()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            target = request.split(b" ", 2)[1].decode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            self.connections.put((conn, urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)))

    def accept(self, timeout: float = 10) -> tuple[socket.socket, dict]:
        return self.connections.get(timeout=timeout)

    @staticmethod
    def send(conn: socket.socket, *events: dict) -> None:
        for event in events:
            data = json.dumps(event).encode() + b"\n"
            conn.sendall(b"%x\r\n%s\r\n" % (len(data), data))

    def close(self) -> None:
        self.server.close()


def _die(name: str, nano: int) -> dict:
    return {
        "Type": "container",
        "Action": "die",
        "Actor": {"ID": f"id-{name}", "Attributes": {"exitCode": "137", "image": "img", "name": name}},
        "scope": "local",
        "time": nano // SEC,
        "timeNano": nano,
    }


def _since(nano: int) -> str:
    return f"{nano // SEC}.{nano % SEC:09d}"


def _wait_for(predicate, what: str, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_the_worker_replays_what_it_missed_and_publishes_each_event_once(acl_redis: RedisServer) -> None:
    """As a real node does: its own ACL user (XADD only), its password never in its log."""
    with tempfile.TemporaryDirectory(prefix="stw-agent-") as folder:  # short: a unix socket path
        base = Path(folder)
        docker = FakeEvents(str(base / "docker.sock"))
        config = base / "config.json"
        password = acl_redis.node_passwords["saturn"]
        settings = {"host": "saturn", "docker_socket": f"unix://{base}/docker.sock", "redis_port": acl_redis.port}
        settings.update(redis_username="node-saturn", redis_password=password, heartbeat_seconds=0)
        config.write_text(json.dumps(settings))
        state = base / "state.json"
        check = agent.RedisPublisher(
            "127.0.0.1", acl_redis.port, maxlen=100, queue_size=1, username="admin", password=acl_redis.admin_password
        )

        def published() -> list[str]:
            entries = check.command("XRANGE", "steward:events", "-", "+")
            return [json.loads(dict(zip(f[::2], f[1::2], strict=True))["event"])["container"] for _, f in entries]

        def saved() -> tuple[int, set] | None:
            cursor = agent.load_state(str(state))
            return cursor and (cursor.time_nano, cursor.seen)

        workers: list[subprocess.Popen] = []

        def start_worker() -> subprocess.Popen:
            with (base / "agent.log").open("ab") as log:
                workers.append(subprocess.Popen([sys.executable, str(AGENT), str(config)], stderr=log))
            return workers[-1]

        try:
            before = time.time_ns()
            worker = start_worker()
            # First start, no state file: from now, no history.
            conn, query = docker.accept()
            assert before <= int(query["since"][0].replace(".", "")) <= time.time_ns()
            assert json.loads(query["filters"][0])["event"] == ["die", "oom", "health_status", "restart"]
            t_a = time.time_ns()
            docker.send(conn, _die("a", t_a))
            _wait_for(lambda: published() == ["a"], "a in the stream")
            assert _wait_for(lambda: saved() == (t_a, {("id-a", "die")}), "the state file at a")
            # The engine drops the stream; b and c (same timeNano) happen meanwhile.
            conn.close()
            conn, query = docker.accept()
            assert query["since"] == [_since(t_a)]
            t_b = time.time_ns()
            docker.send(conn, _die("a", t_a), _die("b", t_b), _die("c", t_b))  # `since` is inclusive: a again
            _wait_for(lambda: len(published()) >= 3, "three events")
            assert published() == ["a", "b", "c"]
            _wait_for(lambda: saved() == (t_b, {("id-b", "die"), ("id-c", "die")}), "the state file at b and c")
            # The worker dies; d happens while none runs; a new worker starts from the state file.
            worker.kill()
            worker.wait(10)
            conn.close()
            start_worker()
            conn, query = docker.accept()
            assert query["since"] == [_since(t_b)]
            docker.send(conn, _die("b", t_b), _die("c", t_b), _die("d", time.time_ns()))
            _wait_for(lambda: len(published()) >= 4, "four events")
            assert published() == ["a", "b", "c", "d"]
            log = (base / "agent.log").read_text()
            assert "starting:" in log and password not in log
        finally:
            for worker in workers:
                worker.kill()
                worker.wait(10)
            docker.close()
            check.close()


def test_an_agent_without_the_password_keeps_every_event_until_it_has_one(tmp_path: Path, capsys: Any) -> None:
    """Issue 17, Why 2: Redis 7 with ACL users answers an unauthenticated agent `ERR Protocol error:
    unauthenticated …` (not NOAUTH); that was read as "malformed" and the event dropped. Now every
    event stays queued, the retries are logged, and once the password is there all are delivered."""
    if missing():
        pytest.skip(str(missing()))
    server = RedisServer(tmp_path / "redis", nodes=("saturn",)).start()
    try:
        pub = agent.RedisPublisher("127.0.0.1", server.port, maxlen=100, queue_size=50)  # deployed without it
        threading.Thread(target=pub.run, daemon=True).start()
        events = [agent.map_event(_event("die", exitCode=str(n)), "saturn") for n in range(5)]
        for event in events:
            pub.put(event)
        time.sleep(1.5)
        assert [e["id"] for e, _ in pub.queue] == [e["id"] for e in events], "all kept while refused"
        assert pub.dropped == 0
        pub.username, pub.password = "node-saturn", server.node_passwords["saturn"]  # the fix, under it
        deadline = time.monotonic() + 10  # the retry wait is capped at REDIS_RETRY_MAX (0.5 s)
        while pub.queue and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pub.queue and pub.dropped == 0
        delivered = server.client(decode_responses=True).xrange("steward:events")
        assert [fields["id"] for _, fields in delivered] == [e["id"] for e in events], "all, in order"
        log = capsys.readouterr().err
        assert "cannot take events now" in log and "reconnected" in log
        assert "dropping it" not in log
    finally:
        server.stop()


# --- Failing loudly: the role's check, heartbeats, a password changed under a running agent ----


def _check(config: Path, **settings: Any) -> subprocess.CompletedProcess[str]:
    config.write_text(json.dumps(settings))
    return subprocess.run(
        [sys.executable, str(AGENT), "--check", str(config)], capture_output=True, text=True, timeout=30
    )


def test_the_check_sends_one_heartbeat_or_says_why_it_could_not(acl_redis: RedisServer, tmp_path: Path) -> None:
    """What the role runs before it starts the agent: exit 0 only when Redis took an event."""
    config = tmp_path / "config.json"
    right = {"host": "saturn", "redis_port": acl_redis.port, "redis_username": "node-saturn"}
    ok = _check(config, **right, redis_password=acl_redis.node_passwords["saturn"])
    assert ok.returncode == 0, ok.stderr
    assert f"redis 127.0.0.1:{acl_redis.port} as user node-saturn took a heartbeat" in ok.stderr
    entries = acl_redis.client().xrange("steward:events")
    assert [json.loads(f["event"])["status"] for _, f in entries] == ["check"]
    assert entries[0][1]["type"] == "agent_heartbeat" and json.loads(entries[0][1]["event"])["host"] == "saturn"

    wrong = _check(config, **right, redis_password="pw-not-this-one")
    assert wrong.returncode == 1
    assert "check failed: redis 127.0.0.1:" in wrong.stderr and "AUTH refused: WRONGPASS" in wrong.stderr
    assert "pw-not-this-one" not in wrong.stderr
    unknown = _check(config, **{**right, "redis_username": "node-nobody"}, redis_password="pw-x")
    assert unknown.returncode == 1 and "as user node-nobody: AUTH refused: WRONGPASS" in unknown.stderr
    gone = _check(config, **{**right, "redis_port": free_port()}, redis_password="pw-x")
    assert gone.returncode == 1 and "Connection refused" in gone.stderr
    # a controller-only user may not XADD... it may (+@stream); a user without +xadd may not:
    acl_redis.client().execute_command("ACL", "SETUSER", "node-saturn", "-xadd")
    denied = _check(config, **right, redis_password=acl_redis.node_passwords["saturn"])
    assert denied.returncode == 1 and "refused a heartbeat: NOPERM" in denied.stderr
    assert acl_redis.client().xlen("steward:events") == 1, "only the first check's heartbeat"


def test_at_most_one_heartbeat_waits_while_redis_is_down() -> None:
    pub = agent.RedisPublisher("127.0.0.1", free_port(), maxlen=100, queue_size=10, password="pw-x")
    die = agent.map_event(DIE, "saturn")
    for status in ("start", "alive", "alive"):
        pub.put(agent.heartbeat_event("saturn", status))
    pub.put(die)
    pub.put(agent.heartbeat_event("saturn", "alive"))
    assert [e["type"] for e, _ in pub.queue] == ["agent_heartbeat", "container_die"]
    assert pub.queue[0][0]["status"] == "start"


def test_a_heartbeat_counts_the_queue_when_sent_and_a_drained_backlog_is_reported(acl_redis: RedisServer) -> None:
    """Issue 17, seen on the lab: a heartbeat queued during an outage said "1 queued" long after
    Redis was back and the event delivered, so `steward status` reported a backlog that was gone."""
    pub = agent.RedisPublisher(
        "127.0.0.1",
        acl_redis.port,
        maxlen=100,
        queue_size=10,
        username="node-saturn",
        password=acl_redis.node_passwords["saturn"],
    )
    pub.put(agent.heartbeat_event("saturn", "alive", queued=7, dropped=3))  # counts from the outage
    pub.put(agent.map_event(DIE, "saturn"))
    threading.Thread(target=pub.run, daemon=True).start()
    client = acl_redis.client()
    _wait_for(lambda: client.xlen("steward:events") >= 3, "heartbeat, die, heartbeat", timeout=10)
    sent = [(f["type"], json.loads(f["event"])) for _, f in client.xrange("steward:events")]
    assert [t for t, _ in sent] == ["agent_heartbeat", "container_die", "agent_heartbeat"]
    assert (sent[0][1]["queued"], sent[0][1]["dropped"]) == (1, 0)  # the die behind it; none dropped
    assert (sent[2][1]["queued"], sent[2][1]["status"], sent[2][1]["host"]) == (0, "alive", "saturn")
    assert sent[2][1]["id"] != sent[0][1]["id"]
    time.sleep(0.5)
    assert client.xlen("steward:events") == 3, "one drained report, not one per event"


def test_the_worker_sends_a_heartbeat_at_start_and_then_every_interval(acl_redis: RedisServer) -> None:
    with tempfile.TemporaryDirectory(prefix="stw-agent-") as folder:
        base = Path(folder)
        docker = FakeEvents(str(base / "docker.sock"))
        config = base / "config.json"
        config.write_text(
            json.dumps(
                {
                    "host": "saturn",
                    "docker_socket": f"unix://{base}/docker.sock",
                    "redis_port": acl_redis.port,
                    "redis_username": "node-saturn",
                    "redis_password": acl_redis.node_passwords["saturn"],
                    "heartbeat_seconds": 1,
                }
            )
        )
        client = acl_redis.client()
        worker = subprocess.Popen([sys.executable, str(AGENT), str(config)], stderr=subprocess.DEVNULL)
        try:
            _wait_for(lambda: client.xlen("steward:events") >= 3, "three heartbeats", timeout=15)
            beats = [json.loads(f["event"]) for _, f in client.xrange("steward:events")]
            assert [b["status"] for b in beats[:3]] == ["start", "alive", "alive"]
            assert {(b["type"], b["host"], b["source"], b["queued"], b["dropped"]) for b in beats} == {
                ("agent_heartbeat", "saturn", "node_agent", 0, 0)
            }
        finally:
            worker.kill()
            worker.wait(10)
            docker.close()


def test_a_password_changed_under_the_agent_loses_no_event(acl_redis: RedisServer) -> None:
    """Issue 17: Redis's password for the node changes while the agent runs. What happens meanwhile
    is refused and kept; the agent redeployed with the new password replays from the oldest event
    not delivered, so every event arrives exactly once (counted), none dropped."""
    with tempfile.TemporaryDirectory(prefix="stw-agent-") as folder:
        base = Path(folder)
        docker = FakeEvents(str(base / "docker.sock"))
        config = base / "config.json"
        settings = {"host": "saturn", "docker_socket": f"unix://{base}/docker.sock", "redis_port": acl_redis.port}
        settings.update(redis_username="node-saturn", redis_password=acl_redis.node_passwords["saturn"])
        settings["heartbeat_seconds"] = 0
        config.write_text(json.dumps(settings))
        admin = acl_redis.client()

        def published() -> list[str]:
            return [json.loads(f["event"])["container"] for _, f in admin.xrange("steward:events")]

        workers: list[subprocess.Popen] = []
        log_path = base / "agent.log"

        def start_worker() -> None:
            with log_path.open("ab") as log:
                workers.append(subprocess.Popen([sys.executable, str(AGENT), str(config)], stderr=log))

        try:
            start_worker()
            conn, _ = docker.accept()
            t_a = time.time_ns()
            docker.send(conn, _die("a", t_a))
            _wait_for(lambda: published() == ["a"], "a in the stream")
            # the operator rotates the node's password on Redis (and its connections go)
            admin.execute_command("ACL", "SETUSER", "node-saturn", "resetpass", ">pw-rotated-new")
            admin.execute_command("CLIENT", "KILL", "USER", "node-saturn")
            docker.send(conn, _die("b", time.time_ns()), _die("c", time.time_ns() + 1))
            _wait_for(lambda: "AUTH refused: WRONGPASS" in log_path.read_text(), "the refusal logged")
            time.sleep(1)
            assert published() == ["a"]
            assert workers[0].poll() is None, "the agent lives on, holding b and c"
            # redeployed with the new password: the role restarts the agent with the new config
            workers[0].terminate()
            workers[0].wait(10)
            conn.close()
            config.write_text(json.dumps({**settings, "redis_password": "pw-rotated-new"}))
            start_worker()
            conn, query = docker.accept()
            assert query["since"] == [_since(t_a)], "from the oldest event not delivered"
            docker.send(conn, _die("a", t_a), _die("b", t_a + 10), _die("c", t_a + 11))
            _wait_for(lambda: len(published()) >= 3, "b and c delivered")
            time.sleep(0.5)
            assert published() == ["a", "b", "c"], "each once, in order"
            log = log_path.read_text()
            assert "dropping it" not in log and "pw-rotated-new" not in log
        finally:
            for worker in workers:
                worker.kill()
                worker.wait(10)
            docker.close()
