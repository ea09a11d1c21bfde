#!/usr/bin/env python3
"""Steward node agent: Docker engine events -> Redis stream ``steward:events``.

Standard library only. Reads the Docker Engine API event stream over its unix socket
and publishes each container die/oom/health_status/restart as one stream entry
(``XADD steward:events MAXLEN ~ N * id <id> type <type> event <json>``), speaking RESP
over a plain socket. Reconnects to Docker and to Redis on its own with backoff. While
Redis is down, events wait in a bounded in-memory queue (oldest dropped when full, and
lost if the agent itself stops).

Usage: steward_node_agent.py CONFIG.json
"""

from __future__ import annotations

import collections
import datetime
import json
import secrets
import socket
import sys
import threading
import time
import urllib.parse
from typing import Any

STREAM = "steward:events"
# A node may run a Python older than 3.11 (no datetime.UTC).
UTC = datetime.timezone.utc  # noqa: UP017
FILTERS = {"type": ["container"], "event": ["die", "oom", "health_status", "restart"]}


class RespError(Exception):
    """Redis answered with an error reply."""


def new_event_id() -> str:
    return f"{time.time_ns():016x}-{secrets.token_hex(6)}"


def encode_command(*args: object) -> bytes:
    """RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def read_reply(f):  # noqa: ANN001 - a buffered socket file
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RespError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [read_reply(f) for _ in range(n)]
    raise ConnectionError(f"bad RESP reply {line!r}")


def map_event(raw: dict, host: str) -> dict | None:
    """One Docker engine event -> one Steward event, or None when it is not one we publish."""
    if raw.get("Type", raw.get("type")) != "container":
        return None
    action = raw.get("Action") or raw.get("status") or ""
    attrs = (raw.get("Actor") or {}).get("Attributes") or {}
    if action == "die":
        etype = "container_die"
    elif action == "oom":
        etype = "container_oom"
    elif action == "restart":
        etype = "container_restart"
    elif action.startswith("health_status"):
        status = action.split(":", 1)[1].strip() if ":" in action else ""
        if status == "unhealthy":
            etype = "container_unhealthy"
        elif status == "healthy":
            etype = "container_healthy"
        else:
            return None
    else:
        return None
    nano = raw.get("timeNano")
    ts = nano / 1e9 if nano else float(raw.get("time") or time.time())
    at = datetime.datetime.fromtimestamp(ts, UTC).isoformat()
    name = attrs.get("name", "")
    exit_code = attrs.get("exitCode")
    event = {
        "id": new_event_id(),
        "type": etype,
        "at": at,
        "host": host,
        "key": f"docker:{name}",
        "action": action,
        "cycle": None,
        "source": "node_agent",
        "container": name,
        "container_id": (raw.get("Actor") or {}).get("ID") or raw.get("id", ""),
        "image": attrs.get("image", raw.get("from", "")),
        "exit_code": int(exit_code) if exit_code not in (None, "") else None,
    }
    return event


def stream_fields(event: dict) -> list:
    return ["id", event["id"], "type", event["type"], "event", json.dumps(event, sort_keys=True)]


class RedisPublisher:
    """XADD over RESP; reconnects with backoff; a bounded queue holds events while Redis is down."""

    def __init__(self, host: str, port: int, maxlen: int, queue_size: int, timeout: float = 5.0):
        self.host, self.port, self.maxlen, self.timeout = host, port, maxlen, timeout
        self.queue: collections.deque = collections.deque(maxlen=queue_size)
        self.cond = threading.Condition()
        self.sock: socket.socket | None = None
        self.file: Any = None

    def connect(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.file = self.sock.makefile("rb")

    def close(self) -> None:
        for c in (self.file, self.sock):
            try:
                if c is not None:
                    c.close()
            except OSError:
                pass
        self.sock = self.file = None

    def command(self, *args: object):
        if self.sock is None:
            self.connect()
        assert self.sock is not None
        self.sock.sendall(encode_command(*args))
        return read_reply(self.file)

    def xadd(self, event: dict) -> str:
        return self.command("XADD", STREAM, "MAXLEN", "~", self.maxlen, "*", *stream_fields(event))

    def put(self, event: dict) -> None:
        with self.cond:
            if len(self.queue) == self.queue.maxlen:
                log(f"queue full ({self.queue.maxlen}): dropping oldest event")
            self.queue.append(event)
            self.cond.notify()

    def run(self) -> None:
        backoff = 0.5
        while True:
            with self.cond:
                while not self.queue:
                    self.cond.wait()
                event = self.queue[0]
            try:
                self.xadd(event)
            except RespError as exc:
                log(f"redis refused event {event['id']}: {exc}; dropping it")
            except (OSError, ConnectionError) as exc:
                self.close()
                log(
                    f"redis {self.host}:{self.port} unavailable ({exc}); "
                    f"{len(self.queue)} queued, retry in {backoff:.1f}s"
                )
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 0.5
            with self.cond:
                if self.queue and self.queue[0] is event:
                    self.queue.popleft()


def docker_events(socket_path: str, timeout: float | None = None):
    """Yield decoded JSON objects from GET /events (chunked, one JSON per line)."""
    query = urllib.parse.urlencode({"filters": json.dumps(FILTERS)})
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(socket_path)
    try:
        sock.sendall(f"GET /events?{query} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n".encode())
        f = sock.makefile("rb")
        status = f.readline()
        if b" 200 " not in status:
            raise ConnectionError(f"docker answered {status!r}")
        chunked = False
        while True:
            line = f.readline()
            if not line:
                raise ConnectionError("docker closed the event stream")
            if line in (b"\r\n", b"\n"):
                break
            if line.lower().startswith(b"transfer-encoding:") and b"chunked" in line.lower():
                chunked = True
        buf = b""
        while True:
            if chunked:
                size_line = f.readline()
                if not size_line:
                    raise ConnectionError("docker closed the event stream")
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    raise ConnectionError("docker ended the event stream")
                data = f.read(size + 2)[:-2]
            else:
                data = f.readline()
                if not data:
                    raise ConnectionError("docker closed the event stream")
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    yield json.loads(line)
    finally:
        sock.close()


def log(msg: str) -> None:
    print(f"{datetime.datetime.now(UTC).isoformat()} steward-node-agent: {msg}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as fh:
        cfg = json.load(fh)
    publisher = RedisPublisher(
        cfg.get("redis_host", "127.0.0.1"),
        int(cfg.get("redis_port", 6379)),
        int(cfg.get("maxlen", 10000)),
        int(cfg.get("queue_size", 1000)),
    )
    threading.Thread(target=publisher.run, name="redis", daemon=True).start()
    host = cfg.get("host") or socket.gethostname()
    sock_path = cfg.get("docker_socket", "/var/run/docker.sock")
    if sock_path.startswith("unix://"):
        sock_path = sock_path[len("unix://") :]
    log(f"starting: docker {sock_path} -> redis {publisher.host}:{publisher.port} as host {host}")
    backoff = 0.5
    while True:
        try:
            for raw in docker_events(sock_path):
                backoff = 0.5
                event = map_event(raw, host)
                if event is not None:
                    publisher.put(event)
        except (OSError, ConnectionError, ValueError) as exc:
            log(f"docker {sock_path} unavailable ({exc}); retry in {backoff:.1f}s")
        time.sleep(backoff)
        backoff = min(backoff * 2, 30.0)


if __name__ == "__main__":
    sys.exit(main())
