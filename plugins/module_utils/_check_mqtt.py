# Copyright: Steward maintainers
# MIT License (see galaxy.yml)
"""MQTT broker check: can this node open an MQTT 3.1.1 session with each broker?

Private to homelab.steward. Runs on the node, so it uses the standard library only (a plain
``socket``; no paho-mqtt on a homelab node).

For each broker :func:`collect` reports, without ever raising for what it observes:

* whether a TCP connection could be opened (DNS failure, refused, timeout -> ``reachable: false``);
* the CONNACK return code of a real CONNECT (clean session, optional username/password),
  its meaning, and the time from the start of the TCP connect to the CONNACK;
* optionally a round trip: SUBSCRIBE to a topic (QoS 1), PUBLISH a unique payload (QoS 1)
  and wait for it to come back;
* then a clean DISCONNECT.

A server that is not an MQTT broker (garbage, HTTP, TLS, silence, a dropped connection)
is a ``protocol_error`` or a ``timeout``, never a hang: every step has a deadline, and each
broker is checked in its own thread with an overall limit, so even a hanging DNS lookup
cannot stall the check.

Only a configuration mistake (no host, a bad port, a password without a username, ...)
raises, as :class:`MqttConfigError` (a ``ValueError``): that is not something observed.
"""

from __future__ import annotations

import binascii
import contextlib
import errno
import os
import socket
import struct
import threading
import time

DEFAULT_PORT = 1883
DEFAULT_TIMEOUT = 5.0
KEEPALIVE_SECONDS = 30
TOPIC_PREFIX = "steward/health/"
# A packet bigger than this while we wait for our own message is not worth reading.
MAX_PACKET = 1024 * 1024

CONNACK_REASONS = {
    0: "connection accepted",
    1: "unacceptable protocol version",
    2: "identifier rejected",
    3: "server unavailable",
    4: "bad username or password",
    5: "not authorised",
}

# Per-broker status values (the "what kind of answer" summary of one broker).
ACCEPTED = "accepted"  # CONNACK 0
REFUSED = "refused"  # CONNACK 1-5 (or another non-zero code)
UNREACHABLE = "unreachable"  # no TCP connection: DNS, refused, timeout, no route
PROTOCOL_ERROR = "protocol_error"  # connected, but the answer was not a CONNACK
TIMEOUT = "timeout"  # connected, but no (complete) CONNACK in time
BROKER_STATUSES = (ACCEPTED, REFUSED, UNREACHABLE, PROTOCOL_ERROR, TIMEOUT)

# The options of one broker, as an Ansible argument_spec (suboptions of ``brokers``).
BROKER_SPEC = dict(
    name=dict(type="str"),
    host=dict(type="str", required=True),
    port=dict(type="int", default=DEFAULT_PORT),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    client_id=dict(type="str"),
    roundtrip=dict(type="bool", default=False),
    topic=dict(type="str"),
)
# The keyword arguments of collect(), as an Ansible argument_spec.
OPTIONS_SPEC = dict(
    brokers=dict(type="list", elements="dict", default=[], options=BROKER_SPEC),
    timeout=dict(type="float", default=DEFAULT_TIMEOUT),
)


# socket.timeout is an alias of TimeoutError only since Python 3.10; nodes may be older.
_TIMEOUTS = (socket.timeout, TimeoutError)


class MqttConfigError(ValueError):
    """The options cannot describe a check (not something observed on a broker)."""


class _ProtocolError(Exception):
    """The peer said something that is not the MQTT we expect."""


class _Timeout(Exception):
    """A deadline passed while waiting for the peer."""


# --------------------------------------------------------------------------- packets


def _varint(n: int) -> bytes:
    """MQTT "remaining length" encoding."""
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _string(value: str | bytes) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else value
    if len(data) > 0xFFFF:
        raise MqttConfigError("an MQTT string is limited to 65535 bytes")
    return struct.pack("!H", len(data)) + data


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + _varint(len(body)) + body


def connect_packet(client_id: str, username: str | None, password: str | None, keepalive: int) -> bytes:
    """An MQTT 3.1.1 CONNECT with a clean session."""
    flags = 0x02  # clean session
    payload = _string(client_id)
    if username is not None:
        flags |= 0x80
        payload += _string(username)
    if password is not None:
        flags |= 0x40
        payload += _string(password)
    variable = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive)
    return _packet(0x10, variable + payload)


def subscribe_packet(packet_id: int, topic: str, qos: int = 1) -> bytes:
    return _packet(0x82, struct.pack("!H", packet_id) + _string(topic) + bytes([qos]))


def publish_packet(topic: str, payload: bytes, packet_id: int | None = None) -> bytes:
    """QoS 1 with a packet id, QoS 0 without; never retained."""
    if packet_id is None:
        return _packet(0x30, _string(topic) + payload)
    return _packet(0x32, _string(topic) + struct.pack("!H", packet_id) + payload)


def puback_packet(packet_id: int) -> bytes:
    return _packet(0x40, struct.pack("!H", packet_id))


DISCONNECT = b"\xe0\x00"
# Every MQTT 3.1.1 CONNACK starts with these two bytes (type 2, no flags; remaining length 2).
_CONNACK_HEAD = b"\x20\x02"


# --------------------------------------------------------------------------- a session


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


def _describe_bytes(data: bytes) -> str:
    """A short, readable hint of what a non-MQTT server sent."""
    if data.startswith(b"HTTP/"):
        return "an HTTP response (is this a web server?)"
    if data[:1] == b"\x15" and data[1:2] == b"\x03":
        return "a TLS alert (is this an MQTT-over-TLS port? only plain MQTT is supported)"
    if data.startswith(b"SSH-"):
        return "an SSH banner"
    shown = data[:16]
    text = "".join(chr(b) if 32 <= b < 127 else "." for b in shown)
    more = "..." if len(data) > len(shown) else ""
    return f"bytes {binascii.hexlify(shown).decode()}{more} ({text!r}{more})"


class _Session:
    """One TCP connection to a broker with deadline-bounded reads."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = b""

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def send(self, data: bytes, deadline: float) -> None:
        self._settimeout(deadline)
        try:
            self.sock.sendall(data)
        except _TIMEOUTS as exc:
            raise _Timeout("timed out sending to the broker") from exc

    def _settimeout(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Timeout("deadline passed")
        self.sock.settimeout(remaining)

    def _fill(self, deadline: float, what: str) -> None:
        """Read more bytes into the buffer; raises _Timeout / _ProtocolError (closed)."""
        try:
            self._settimeout(deadline)
            chunk = self.sock.recv(65536)
        except _TIMEOUTS as exc:
            raise _Timeout(what) from exc
        if not chunk:
            raise EOFError(what)
        self._buf += chunk

    def read_packet(self, deadline: float, what: str) -> tuple[int, bytes]:
        """Read one MQTT control packet: ``(first byte, body)``.

        Raises _Timeout, EOFError (the peer closed), _ProtocolError (not MQTT) or OSError.
        """
        while not self._buf:
            self._fill(deadline, what)
        first = self._buf[0]
        # Remaining length: 1 to 4 bytes, 7 bits each, high bit = "more".
        length, multiplier, pos = 0, 1, 1
        while True:
            while len(self._buf) <= pos:
                self._fill(deadline, what)
            byte = self._buf[pos]
            length += (byte & 0x7F) * multiplier
            pos += 1
            if not byte & 0x80:
                break
            multiplier *= 128
            if pos > 4:
                raise _ProtocolError(f"invalid MQTT packet length, got {_describe_bytes(self._buf)}")
        if length > MAX_PACKET:
            raise _ProtocolError(f"MQTT packet of {length} bytes is larger than {MAX_PACKET}")
        while len(self._buf) < pos + length:
            self._fill(deadline, what)
        body = self._buf[pos : pos + length]
        self._buf = self._buf[pos + length :]
        return first, body

    def expect_prefix(self, prefix: bytes, deadline: float, what: str) -> None:
        """Fail fast (_ProtocolError) as soon as the first bytes cannot start ``prefix``."""
        while True:
            got = self._buf[: len(prefix)]
            if not prefix.startswith(got):
                raise _ProtocolError(f"expected a {what}, got {_describe_bytes(self._buf)}")
            if len(got) == len(prefix):
                return
            self._fill(deadline, what)

    def peek(self) -> bytes:
        return self._buf


def _resolve(host: str, port: int) -> list[tuple]:
    return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)


def _tcp_connect(addresses: list[tuple], deadline: float, where: str) -> socket.socket:
    """Connect to the first address that answers; raise OSError with a readable message."""
    last: OSError | None = None
    for family, socktype, proto, _canon, sockaddr in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock = socket.socket(family, socktype, proto)
        try:
            sock.settimeout(remaining)
            sock.connect(sockaddr)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    if last is None or isinstance(last, _TIMEOUTS):
        raise _Timeout(f"timed out connecting to {where}")
    if last.errno == errno.ECONNREFUSED:
        raise OSError(last.errno, f"connection refused by {where}")
    reason = last.strerror or str(last) or type(last).__name__
    raise OSError(last.errno, f"cannot connect to {where}: {reason}")


class _Probe:
    """Checks one broker, filling ``self.result`` step by step (read by the caller)."""

    def __init__(self, broker: dict, timeout: float) -> None:
        self.broker = broker
        self.timeout = timeout
        self.phase = "resolving the host name"
        self.lock = threading.Lock()
        self.result: dict = {
            "name": broker["name"],
            "host": broker["host"],
            "port": broker["port"],
            "status": UNREACHABLE,
            "reachable": False,
            "connack_code": None,
            "connack_reason": None,
            "accepted": False,
            "latency_ms": None,
            "roundtrip": None,
            "error": None,
        }

    def _set(self, **fields: object) -> None:
        with self.lock:
            self.result.update(fields)

    def snapshot(self) -> dict:
        with self.lock:
            result = dict(self.result)
            if isinstance(result["roundtrip"], dict):
                result["roundtrip"] = dict(result["roundtrip"])
            return result

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # never let one broker break the whole check
            self._set(error=f"unexpected error while {self.phase}: {type(exc).__name__}: {exc}")

    def _where(self) -> str:
        return f"{self.broker['host']}:{self.broker['port']}"

    def _run(self) -> None:
        b = self.broker
        where = self._where()
        try:
            addresses = _resolve(b["host"], b["port"])
        except socket.gaierror as exc:
            self._set(error=f"cannot resolve {b['host']}: {exc.strerror or exc}")
            return
        except (OSError, UnicodeError) as exc:  # UnicodeError: not a valid host name (IDNA)
            self._set(error=f"cannot resolve {b['host']}: {exc}")
            return

        self.phase = f"connecting to {where}"
        start = time.monotonic()
        try:
            sock = _tcp_connect(addresses, start + self.timeout, where)
        except _Timeout:
            self._set(error=f"timed out connecting to {where} after {self.timeout:g}s")
            return
        except OSError as exc:
            self._set(error=exc.strerror or str(exc))
            return
        self._set(reachable=True, status=TIMEOUT)
        session = _Session(sock)
        try:
            self._mqtt(session, start)
        finally:
            session.close()

    def _mqtt(self, session: _Session, start: float) -> None:
        b = self.broker
        where = self._where()
        self.phase = f"waiting for the CONNACK from {where}"
        deadline = time.monotonic() + self.timeout  # the TCP connect had its own timeout
        try:
            session.send(connect_packet(b["client_id"], b["username"], b["password"], KEEPALIVE_SECONDS), deadline)
            session.expect_prefix(_CONNACK_HEAD, deadline, "CONNACK")
            first, body = session.read_packet(deadline, "CONNACK")
        except _Timeout:
            got = session.peek()
            if got:
                self._set(
                    status=PROTOCOL_ERROR,
                    error=f"not an MQTT broker at {where}: no complete CONNACK within "
                    f"{self.timeout:g}s, got {_describe_bytes(got)}",
                )
            else:
                self._set(error=f"no CONNACK from {where} within {self.timeout:g}s (is this an MQTT broker?)")
            return
        except EOFError:
            got = session.peek()
            detail = f" after sending {_describe_bytes(got)}" if got else " without answering"
            self._set(
                status=PROTOCOL_ERROR,
                error=f"{where} closed the connection{detail} instead of sending a CONNACK "
                "(not an MQTT broker, or one that rejects MQTT 3.1.1?)",
            )
            return
        except _ProtocolError as exc:
            self._set(status=PROTOCOL_ERROR, error=f"not an MQTT broker at {where}: {exc}")
            return
        except OSError as exc:
            self._set(status=PROTOCOL_ERROR, error=f"connection to {where} failed before the CONNACK: {exc}")
            return
        latency = time.monotonic() - start

        if first != 0x20 or len(body) != 2:
            raw = bytes([first]) + _varint(len(body)) + body
            self._set(
                status=PROTOCOL_ERROR,
                error=f"not an MQTT broker at {where}: expected a CONNACK, got {_describe_bytes(raw)}",
            )
            return
        code = body[1]
        reason = CONNACK_REASONS.get(code, f"unknown return code {code}")
        accepted = code == 0
        self._set(
            status=ACCEPTED if accepted else REFUSED,
            connack_code=code,
            connack_reason=reason,
            accepted=accepted,
            latency_ms=_ms(latency),
            error=None if accepted else f"broker refused the connection: {reason} (CONNACK {code})",
        )
        if not accepted:
            return
        if b["roundtrip"]:
            self.phase = f"doing a round trip through {where}"
            self._set(roundtrip={"ok": False, "latency_ms": None, "error": "round trip did not finish"})
            self._set(roundtrip=self._roundtrip(session))
        self.phase = f"disconnecting from {where}"
        # The check is done; a broker that is gone by now changes nothing.
        with contextlib.suppress(OSError, _Timeout):
            session.send(DISCONNECT, time.monotonic() + self.timeout)

    def _roundtrip(self, session: _Session) -> dict:
        topic = self.broker["topic"]
        payload = ("steward " + binascii.hexlify(os.urandom(12)).decode()).encode()
        deadline = time.monotonic() + self.timeout
        sent_at = None
        subscribed = False
        published = False
        step = "waiting for the SUBACK"

        def fail(message: str) -> dict:
            return {"ok": False, "latency_ms": None, "error": message}

        try:
            session.send(subscribe_packet(1, topic), deadline)
            while True:
                first, body = session.read_packet(deadline, step)
                kind = first >> 4
                if kind == 9 and body[:2] == b"\x00\x01":  # SUBACK for our SUBSCRIBE
                    if len(body) < 3 or body[2] == 0x80:
                        return fail(f"broker refused the subscription to {topic!r} (SUBACK 0x80; not authorised?)")
                    subscribed = True
                    step = "waiting for the published message to come back"
                    sent_at = time.monotonic()
                    session.send(publish_packet(topic, payload, packet_id=2), deadline)
                elif kind == 4 and body[:2] == b"\x00\x02":  # PUBACK for our PUBLISH
                    published = True
                elif kind == 3:  # PUBLISH
                    qos = (first >> 1) & 0x03
                    if len(body) < 2:
                        raise _ProtocolError("PUBLISH packet too short")
                    (topic_len,) = struct.unpack("!H", body[:2])
                    got_topic = body[2 : 2 + topic_len]
                    rest = body[2 + topic_len :]
                    if qos:
                        packet_id, rest = rest[:2], rest[2:]
                        if qos == 1:
                            session.send(b"\x40\x02" + packet_id, deadline)
                    if got_topic == topic.encode("utf-8") and rest == payload and sent_at is not None:
                        return {"ok": True, "latency_ms": _ms(time.monotonic() - sent_at), "error": None}
                # Anything else (another message, PINGRESP, ...) is not ours: keep waiting.
        except _Timeout:
            if not subscribed:
                return fail(f"no SUBACK for {topic!r} within {self.timeout:g}s")
            acked = "acknowledged (PUBACK) but " if published else ""
            return fail(
                f"the message published to {topic!r} was {acked}not delivered back within {self.timeout:g}s "
                "(not authorised to publish or subscribe to this topic?)"
            )
        except EOFError:
            return fail(f"broker closed the connection while {step} on {topic!r} (not authorised?)")
        except _ProtocolError as exc:
            return fail(f"protocol error while {step}: {exc}")
        except OSError as exc:
            return fail(f"connection failed while {step}: {exc}")


# --------------------------------------------------------------------------- options


def default_client_id() -> str:
    """Unique per check (two nodes checking one broker must not kick each other off); 20 chars."""
    return "steward-" + binascii.hexlify(os.urandom(6)).decode()


def normalize_broker(broker: object, index: int) -> dict:
    """Apply defaults and validate one broker; raises MqttConfigError."""
    if not isinstance(broker, dict):
        raise MqttConfigError(f"brokers[{index}] must be a dict, got {type(broker).__name__}")
    unknown = set(broker) - set(BROKER_SPEC)
    if unknown:
        raise MqttConfigError(f"brokers[{index}] has unknown option(s): {', '.join(sorted(unknown))}")
    host = broker.get("host")
    if not isinstance(host, str) or not host.strip():
        raise MqttConfigError(f"brokers[{index}] needs a host")
    host = host.strip()
    port = broker.get("port")
    port = DEFAULT_PORT if port is None else port
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise MqttConfigError(f"brokers[{index}] ({host}): port must be an integer from 1 to 65535, got {port!r}")
    username, password = broker.get("username"), broker.get("password")
    if password is not None and username is None:
        raise MqttConfigError(f"brokers[{index}] ({host}:{port}): MQTT 3.1.1 allows a password only with a username")
    client_id = broker.get("client_id") or default_client_id()
    topic = broker.get("topic") or TOPIC_PREFIX + client_id
    if any(c in topic for c in "+#"):
        raise MqttConfigError(f"brokers[{index}] ({host}:{port}): topic {topic!r} must not contain wildcards")
    name = broker.get("name") or f"{host}:{port}"
    return {
        "name": str(name),
        "host": host,
        "port": port,
        "username": None if username is None else str(username),
        "password": None if password is None else str(password),
        "client_id": str(client_id),
        "roundtrip": bool(broker.get("roundtrip") or False),
        "topic": str(topic),
    }


def collect(brokers: list | None = None, timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Check every broker (in parallel) and return ``{status, error, brokers}``.

    ``timeout`` bounds each step (TCP connect, CONNACK, round trip); one broker never takes
    longer than about ``4 * timeout`` even if its DNS lookup hangs. Raises MqttConfigError
    only for options that cannot describe a check.
    """
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise MqttConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if brokers is None:
        brokers = []
    if not isinstance(brokers, list):
        raise MqttConfigError(f"brokers must be a list, got {type(brokers).__name__}")
    normalized = [normalize_broker(b, i) for i, b in enumerate(brokers)]
    names = [b["name"] for b in normalized]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise MqttConfigError(f"broker names must be unique, repeated: {', '.join(duplicates)}")

    probes = [_Probe(b, float(timeout)) for b in normalized]
    threads = [threading.Thread(target=p.run, name=f"mqtt-check-{p.broker['name']}", daemon=True) for p in probes]
    for t in threads:
        t.start()
    # resolve + connect + CONNACK + round trip, each bounded by timeout; plus a little slack.
    deadline = time.monotonic() + 4 * timeout + 1.0
    results = []
    for index, probe in enumerate(probes):
        thread = threads[index]
        thread.join(max(0.0, deadline - time.monotonic()))
        result = probe.snapshot()
        if thread.is_alive():
            # Only a blocking call without a timeout gets here (a hanging DNS lookup).
            result["error"] = f"the check did not finish within {4 * timeout + 1.0:g}s (stuck {probe.phase})"
            if isinstance(result["roundtrip"], dict):
                result["roundtrip"]["error"] = "round trip did not finish"
        if probe.broker["roundtrip"] and result["roundtrip"] is None:
            why = result["error"] or "the connection was not accepted"
            result["roundtrip"] = {"ok": False, "latency_ms": None, "error": f"not attempted: {why}"}
        results.append(result)
    return {"status": "ok", "error": None, "brokers": results}
