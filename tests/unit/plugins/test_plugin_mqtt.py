"""plugins/module_utils/_check_mqtt.py against a real mosquitto and real (misbehaving) TCP servers."""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mosquitto import Mosquitto, free_port

from ansible_collections.homelab.steward.plugins.module_utils._check_mqtt import (
    CONNACK_REASONS,
    MqttConfigError,
    collect,
)

pytestmark = pytest.mark.skipif(
    shutil.which("mosquitto", path="/usr/sbin:/usr/bin:/sbin:/bin") is None
    or shutil.which("mosquitto_passwd", path="/usr/sbin:/usr/bin:/sbin:/bin") is None,
    reason="needs the Debian package mosquitto (run scripts/bootstrap.sh)",
)

DENIED = "steward/denied/probe"
USER, PASSWORD = "steward", "right-horse-battery"
TIMEOUT = 1.5


@pytest.fixture(scope="module")
def anonymous_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path_factory.mktemp("mqtt-anon"), deny_topics=["steward/denied/#"]) as broker:
        yield broker


@pytest.fixture(scope="module")
def auth_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    folder = tmp_path_factory.mktemp("mqtt-auth")
    with Mosquitto(folder, users={USER: PASSWORD, "other": "x"}, deny_topics=["steward/denied/#"]) as broker:
        yield broker


def one(**broker: object) -> dict:
    """collect() for a single broker; returns that broker's result."""
    result = collect(brokers=[broker], timeout=TIMEOUT)
    assert result["status"] == "ok"
    assert result["error"] is None
    assert len(result["brokers"]) == 1
    return result["brokers"][0]


# --------------------------------------------------------------------------- real mosquitto


def test_anonymous_broker_accepts_and_carries_a_message(anonymous_broker: Mosquitto) -> None:
    b = one(name="home", host="127.0.0.1", port=anonymous_broker.port, roundtrip=True)

    assert b["name"] == "home"
    assert (b["host"], b["port"]) == ("127.0.0.1", anonymous_broker.port)
    assert b["status"] == "accepted"
    assert b["reachable"] is True
    assert b["accepted"] is True
    assert (b["connack_code"], b["connack_reason"]) == (0, "connection accepted")
    assert isinstance(b["latency_ms"], float) and 0 < b["latency_ms"] < TIMEOUT * 1000
    assert b["error"] is None
    rt = b["roundtrip"]
    assert rt["ok"] is True, rt
    assert rt["error"] is None
    assert isinstance(rt["latency_ms"], float) and 0 <= rt["latency_ms"] < TIMEOUT * 1000


def test_without_roundtrip_there_is_no_roundtrip_and_a_clean_disconnect(anonymous_broker: Mosquitto) -> None:
    b = one(host="127.0.0.1", port=anonymous_broker.port, client_id="steward-clean-bye")

    assert b["name"] == f"127.0.0.1:{anonymous_broker.port}"
    assert b["accepted"] is True
    assert b["roundtrip"] is None
    log = _wait_for_log(anonymous_broker, "Client steward-clean-bye disconnected.")
    # A clean DISCONNECT, not a dropped connection.
    assert "Received DISCONNECT from steward-clean-bye" in log
    assert "steward-clean-bye closed its connection" not in log


def test_default_client_id_and_topic(anonymous_broker: Mosquitto) -> None:
    b = one(host="127.0.0.1", port=anonymous_broker.port, roundtrip=True)

    assert b["roundtrip"]["ok"] is True
    log = _wait_for_log(anonymous_broker, "Received SUBSCRIBE from steward-")
    # Default client id "steward-<12 hex>", default topic steward/health/<client id>.
    subscriptions = re.findall(r"Received SUBSCRIBE from (\S+)\n\d+: \t(\S+) \(QoS 1\)", log)
    assert subscriptions, log
    client_id, topic = subscriptions[-1]
    assert re.fullmatch(r"steward-[0-9a-f]{12}", client_id)
    assert topic == f"steward/health/{client_id}"


def test_right_password_is_accepted(auth_broker: Mosquitto) -> None:
    b = one(host="127.0.0.1", port=auth_broker.port, username=USER, password=PASSWORD, roundtrip=True)

    assert b["status"] == "accepted"
    assert b["connack_code"] == 0
    assert b["accepted"] is True
    assert b["roundtrip"]["ok"] is True


# Mosquitto 2.0 answers every failed authentication of an MQTT 3.1.1 client with CONNACK 5
# ("not authorised"), never 4 ("bad username or password"): the check reports what it got.
@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param({"username": USER, "password": "wrong"}, id="wrong-password"),
        pytest.param({"username": "nobody", "password": PASSWORD}, id="unknown-user"),
        pytest.param({"username": USER}, id="missing-password"),
        pytest.param({}, id="anonymous"),
    ],
)
def test_bad_credentials_are_refused_as_mosquitto_says(auth_broker: Mosquitto, credentials: dict) -> None:
    b = one(host="127.0.0.1", port=auth_broker.port, roundtrip=True, **credentials)

    assert b["status"] == "refused"
    assert b["reachable"] is True
    assert b["accepted"] is False
    assert (b["connack_code"], b["connack_reason"]) == (5, "not authorised")
    assert b["error"] == "broker refused the connection: not authorised (CONNACK 5)"
    assert isinstance(b["latency_ms"], float)
    assert b["roundtrip"] == {
        "ok": False,
        "latency_ms": None,
        "error": "not attempted: broker refused the connection: not authorised (CONNACK 5)",
    }


@pytest.mark.parametrize("which", ["anonymous", "auth"])
def test_acl_denied_topic_is_a_failed_roundtrip(
    anonymous_broker: Mosquitto, auth_broker: Mosquitto, which: str
) -> None:
    creds = {"username": USER, "password": PASSWORD} if which == "auth" else {}
    broker = auth_broker if which == "auth" else anonymous_broker
    started = time.monotonic()
    b = one(host="127.0.0.1", port=broker.port, roundtrip=True, topic=DENIED, **creds)
    elapsed = time.monotonic() - started

    assert b["accepted"] is True
    assert b["status"] == "accepted"
    rt = b["roundtrip"]
    assert rt["ok"] is False
    assert rt["latency_ms"] is None
    assert f"the message published to {DENIED!r} was acknowledged (PUBACK) but not delivered back" in rt["error"]
    assert "not authorised" in rt["error"]
    assert elapsed < TIMEOUT + 2.0
    # The broker really denied it (the check did not just give up early).
    assert "Denied PUBLISH from" in _wait_for_log(broker, f"'{DENIED}'")


def test_many_brokers_in_one_call(anonymous_broker: Mosquitto, auth_broker: Mosquitto) -> None:
    closed = free_port()
    result = collect(
        brokers=[
            {"name": "anon", "host": "127.0.0.1", "port": anonymous_broker.port, "roundtrip": True},
            {"name": "auth", "host": "127.0.0.1", "port": auth_broker.port, "username": USER, "password": PASSWORD},
            {"name": "badpw", "host": "127.0.0.1", "port": auth_broker.port, "username": USER, "password": "no"},
            {"name": "closed", "host": "127.0.0.1", "port": closed},
        ],
        timeout=TIMEOUT,
    )
    by_name = {b["name"]: b for b in result["brokers"]}
    assert [b["name"] for b in result["brokers"]] == ["anon", "auth", "badpw", "closed"]
    assert {name: b["status"] for name, b in by_name.items()} == {
        "anon": "accepted",
        "auth": "accepted",
        "badpw": "refused",
        "closed": "unreachable",
    }
    assert by_name["anon"]["roundtrip"]["ok"] is True
    assert set(by_name["closed"]) == set(by_name["anon"])


# --------------------------------------------------------------------------- no broker there


def test_closed_port_is_unreachable() -> None:
    port = free_port()  # nothing listens on it any more
    b = one(host="127.0.0.1", port=port, roundtrip=True)

    assert b["status"] == "unreachable"
    assert b["reachable"] is False
    assert b["accepted"] is False
    assert b["connack_code"] is None and b["connack_reason"] is None and b["latency_ms"] is None
    assert b["error"] == f"connection refused by 127.0.0.1:{port}"
    assert b["roundtrip"]["ok"] is False
    assert b["roundtrip"]["error"] == f"not attempted: connection refused by 127.0.0.1:{port}"


def test_invalid_host_name_is_unreachable_not_a_crash() -> None:
    b = one(host="bad..name", port=1883)

    assert b["status"] == "unreachable"
    assert b["reachable"] is False
    assert b["error"].startswith("cannot resolve bad..name: ")


# --------------------------------------------------------------------------- not MQTT


class TcpServer:
    """A real TCP server on 127.0.0.1 that runs ``handler(conn)`` for each connection."""

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self.handler = handler
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            with contextlib.suppress(OSError):
                self.handler(conn)

    def read_connect(self, conn: socket.socket) -> bytes:
        data = conn.recv(4096)
        self.received.append(data)
        return data

    def wait_received(self, count: int, timeout: float = 3.0) -> list[bytes]:
        """The first ``count`` reads, once the handler thread made them."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.received) >= count, self.received
        return self.received[:count]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def tcp_server() -> Iterator[Callable[[Callable[[socket.socket], None]], TcpServer]]:
    servers: list[TcpServer] = []

    def make(handler: Callable[[socket.socket], None]) -> TcpServer:
        servers.append(TcpServer(handler))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def _silent(stop: threading.Event) -> Callable[[socket.socket], None]:
    def handler(conn: socket.socket) -> None:
        conn.recv(4096)
        stop.wait(10)

    return handler


def test_garbage_is_a_protocol_error_within_the_timeout(tcp_server) -> None:
    def garbage(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(b"\x00\xffhello, I am not a broker\r\n")
        time.sleep(5)  # and keep the connection open

    server = tcp_server(garbage)
    started = time.monotonic()
    b = one(host="127.0.0.1", port=server.port, roundtrip=True)
    elapsed = time.monotonic() - started

    assert b["status"] == "protocol_error"
    assert b["reachable"] is True
    assert b["accepted"] is False
    assert b["connack_code"] is None
    assert b["error"].startswith(f"not an MQTT broker at 127.0.0.1:{server.port}: expected a CONNACK, got bytes 00ff")
    assert b["roundtrip"]["ok"] is False
    assert elapsed < TIMEOUT  # fails at the first byte, does not wait for the timeout


def test_http_server_is_named_as_such(tcp_server) -> None:
    def http(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    server = tcp_server(http)
    b = one(host="127.0.0.1", port=server.port)

    assert b["status"] == "protocol_error"
    assert "an HTTP response" in b["error"]


def test_server_that_hangs_up_is_a_protocol_error(tcp_server) -> None:
    server = tcp_server(lambda conn: conn.recv(4096))  # read the CONNECT, then close
    b = one(host="127.0.0.1", port=server.port)

    assert b["status"] == "protocol_error"
    assert b["error"].startswith(f"127.0.0.1:{server.port} closed the connection without answering")


def test_silent_server_times_out_without_hanging(tcp_server) -> None:
    stop = threading.Event()
    server = tcp_server(_silent(stop))
    started = time.monotonic()
    b = one(host="127.0.0.1", port=server.port, roundtrip=True)
    elapsed = time.monotonic() - started
    stop.set()

    assert b["status"] == "timeout"
    assert b["reachable"] is True
    assert b["error"] == f"no CONNACK from 127.0.0.1:{server.port} within {TIMEOUT:g}s (is this an MQTT broker?)"
    assert TIMEOUT <= elapsed < TIMEOUT + 2.0


def test_slow_drip_cannot_stretch_the_timeout(tcp_server) -> None:
    """A byte every 0.45 s never trips a per-read timeout; the deadline is per step, so it cannot stretch it."""

    def drip(conn: socket.socket) -> None:
        conn.recv(4096)
        for byte in b"\x20\x02\x00\x00":  # a valid CONNACK, complete only after 1.8 s
            time.sleep(0.45)
            conn.sendall(bytes([byte]))
        time.sleep(2)

    server = tcp_server(drip)
    started = time.monotonic()
    b = one(host="127.0.0.1", port=server.port)
    elapsed = time.monotonic() - started

    assert b["status"] == "protocol_error"
    assert "no complete CONNACK within 1.5s, got bytes 200200" in b["error"]
    assert elapsed < TIMEOUT + 2.0


def test_silent_brokers_are_checked_in_parallel(tcp_server) -> None:
    stop = threading.Event()
    ports = [tcp_server(_silent(stop)).port for _ in range(4)]
    started = time.monotonic()
    result = collect(brokers=[{"host": "127.0.0.1", "port": p} for p in ports], timeout=TIMEOUT)
    elapsed = time.monotonic() - started
    stop.set()

    assert [b["status"] for b in result["brokers"]] == ["timeout"] * 4
    assert elapsed < 2 * TIMEOUT


@pytest.mark.parametrize("code", [1, 2, 3, 4, 5, 7])
def test_every_connack_code_is_reported_with_its_meaning(tcp_server, code: int) -> None:
    def broker(conn: socket.socket) -> None:
        server.read_connect(conn)
        conn.sendall(bytes([0x20, 0x02, 0x00, code]))
        conn.recv(4096)

    server = tcp_server(broker)
    b = one(host="127.0.0.1", port=server.port, username="u", password="p")

    assert b["status"] == "refused"
    assert b["connack_code"] == code
    assert b["connack_reason"] == CONNACK_REASONS.get(code, f"unknown return code {code}")
    assert b["accepted"] is False


def test_connect_packet_is_mqtt_3_1_1_with_clean_session_and_credentials(tcp_server) -> None:
    def broker(conn: socket.socket) -> None:
        server.read_connect(conn)
        conn.sendall(b"\x20\x02\x00\x00")
        server.received.append(conn.recv(4096))  # what comes after the CONNACK

    server = tcp_server(broker)
    b = one(host="127.0.0.1", port=server.port, username="user", password="pa55", client_id="steward-test")

    assert b["accepted"] is True
    connect, after = server.wait_received(2)
    assert connect[0] == 0x10
    body = connect[2:]
    assert body[:6] == b"\x00\x04MQTT"
    assert body[6] == 4  # protocol level 3.1.1
    assert body[7] == 0x80 | 0x40 | 0x02  # username, password, clean session
    (keepalive,) = struct.unpack("!H", body[8:10])
    assert keepalive > 0
    assert body[10:] == b"\x00\x0csteward-test" + b"\x00\x04user" + b"\x00\x04pa55"
    assert after == b"\xe0\x00"  # DISCONNECT


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("brokers", "timeout", "message"),
    [
        ([{"host": "h", "password": "p"}], 5, "allows a password only with a username"),
        ([{"host": ""}], 5, "needs a host"),
        ([{"port": 1883}], 5, "needs a host"),
        ([{"host": "h", "port": 0}], 5, "port must be an integer from 1 to 65535"),
        ([{"host": "h", "port": "1883"}], 5, "port must be an integer"),
        ([{"host": "h", "topic": "a/#"}], 5, "must not contain wildcards"),
        ([{"host": "h", "name": "x"}, {"host": "g", "name": "x"}], 5, "repeated: x"),
        ([{"host": "h", "colour": "red"}], 5, "unknown option(s): colour"),
        (["h"], 5, "must be a dict"),
        ([], 0, "timeout must be a positive number"),
    ],
)
def test_options_that_cannot_describe_a_check_raise(brokers: list, timeout: float, message: str) -> None:
    with pytest.raises(MqttConfigError) as err:
        collect(brokers=brokers, timeout=timeout)
    assert message in str(err.value)


def test_no_brokers_is_ok_and_empty() -> None:
    assert collect() == {"status": "ok", "error": None, "brokers": []}


def _wait_for_log(broker: Mosquitto, needle: str, timeout: float = 3.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        log = broker.log_text()
        if needle in log or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def test_helper_stops_its_broker_by_pid(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "b").start()
    pid, port = broker.pid, broker.port
    assert Path(f"/proc/{pid}").exists()
    broker.stop()
    assert one(host="127.0.0.1", port=port)["status"] == "unreachable"
    assert not (tmp_path / "b" / "mosquitto.pid").exists()
