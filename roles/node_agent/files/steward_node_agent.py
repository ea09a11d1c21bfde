#!/usr/bin/env python3
"""Steward node agent: Docker engine events -> Redis stream ``steward:events``.

Standard library only, Python 3.9+. Reads the Docker Engine API event stream over its unix
socket and publishes each container die/oom/health_status/restart as one stream entry
(``XADD steward:events MAXLEN ~ N * id <id> type <type> event <json>``), speaking RESP
over a plain socket. Reconnects to Docker and to Redis on its own with backoff. While
Redis is down, events wait in a bounded in-memory queue (oldest dropped when full).

No event is lost to a gap in the Docker connection: the agent remembers where it is in the
engine's event stream (the newest ``timeNano`` and the events at exactly that time) and
reconnects with ``since=<seconds.nanoseconds>``, dropping the exact duplicates Docker
replays at that boundary. The position of the last event written to Redis is kept in a
small state file, so a restarted agent replays what it missed too, but never more than
``replay_max_seconds`` (600) back. Without a state file it starts from now.

Redis must authenticate it: the agent refuses a config without ``redis_password`` and a server
that answers a client that did not authenticate (checked on every connect), unless
``allow_unauthenticated`` is true and ``redis_host`` is a loopback address (development only).
Give each node its own ACL user (``node-<host>``, allowed ``+xadd ~steward:events`` only). The
password is never logged. Every XADD trims with ``MAXLEN ~ maxlen`` (default 100000, Steward's
one stream-length policy: the same for every producer, docs/operations.md "Stream length").

Every ``heartbeat_seconds`` (30; 0 turns it off) the agent also sends one ``agent_heartbeat``
event (its host, how many events wait in its queue, how many Redis refused as malformed), and one
right at start: ``steward status`` names an agent whose heartbeats stop. At most one heartbeat
waits in the queue: an agent cut off from Redis does not pile them up.

Usage:
  steward_node_agent.py CONFIG.json              the agent itself (the worker)
  steward_node_agent.py --supervise CONFIG.json  runs the worker as a child and restarts it
                                                 when it exits (for nodes without systemd)
  steward_node_agent.py --check CONFIG.json      log in to Redis and send one heartbeat, then exit:
                                                 0 when Redis took it, 1 with the reason (the role
                                                 runs this before it starts the agent)
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import ipaddress
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

STREAM = "steward:events"
MAXLEN = 100_000  # Steward's one stream-length policy (steward.events.DEFAULT_MAXLEN)
# Strings never to print (the Redis password): log() replaces each with ***.
SECRETS: list[str] = []
# A node may run a Python older than 3.11 (no datetime.UTC).
UTC = datetime.timezone.utc
FILTERS = {"type": ["container"], "event": ["die", "oom", "health_status", "restart"]}
# Set in the worker's environment by the supervisor: the worker exits when its parent is gone.
SUPERVISOR_ENV = "STEWARD_NODE_AGENT_SUPERVISOR"


# Error replies that say "not now" or "not you", not "never": the event is kept and retried.
RETRYABLE_ERRORS = (
    "LOADING",
    "BUSY",
    "TRYAGAIN",
    "MASTERDOWN",
    "MISCONF",
    "READONLY",
    "OOM",
    "NOAUTH",
    "WRONGPASS",
    "NOPERM",
    "DENIED",
    "ERR AUTH",
    "ERR MAX NUMBER OF CLIENTS",
    # Redis 7 answers a client that sends a command before AUTH this way (and closes the connection),
    # not with NOAUTH: an agent deployed without the password must keep its events, not drop them
    "ERR PROTOCOL ERROR: UNAUTHENTICATED",
)
# The longest wait between two tries to reach Redis: events after an outage go out within seconds.
REDIS_RETRY_MAX = 0.5  # a returning Redis gets queued events within half a second; a down one costs a connect per 0.5 s
HEARTBEAT = "agent_heartbeat"
HEARTBEAT_SECONDS = 30.0


def retryable(exc: Exception) -> bool:
    return str(exc).upper().startswith(RETRYABLE_ERRORS)


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


def read_reply(f: BinaryIO) -> Any:
    """One RESP reply read from the socket's buffered file: str, int, None or a list of those."""
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
    # Steward's event schema: `at` in whole UTC seconds; Docker's own nanoseconds in time_nano
    at = datetime.datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    name = attrs.get("name", "")
    exit_code = attrs.get("exitCode")
    event = {
        "id": new_event_id(),
        "type": etype,
        "at": at,
        "host": host,
        "key": f"{host}/docker/{name}",  # host/area/target, the prefix of Steward's drift keys
        "action": action,
        "cycle": None,
        "source": "node_agent",
        "container": name,
        "container_id": (raw.get("Actor") or {}).get("ID") or raw.get("id", ""),
        "image": attrs.get("image", raw.get("from", "")),
        "exit_code": int(exit_code) if exit_code not in (None, "") else None,
        "time_nano": int(nano) if nano else int(ts * 1e9),
    }
    return event


def heartbeat_event(host: str, status: str, queued: int = 0, dropped: int = 0) -> dict:
    """The agent's sign of life: ``status`` is ``start``, ``alive`` or ``check`` (the role's check)."""
    return {
        "id": new_event_id(),
        "type": HEARTBEAT,
        "at": datetime.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": host,
        "key": None,
        "action": None,
        "cycle": None,
        "source": "node_agent",
        "status": status,
        "queued": queued,
        "dropped": dropped,
    }


def stream_fields(event: dict) -> list:
    return ["id", event["id"], "type", event["type"], "event", json.dumps(event, sort_keys=True)]


# --- Position in Docker's event stream -------------------------------------------------------


def event_key(raw: dict) -> tuple[int, str, str]:
    """(timeNano, actor id, action): what makes a Docker event the same event when replayed."""
    nano = raw.get("timeNano")
    if not nano:
        nano = int(float(raw.get("time") or 0) * 1_000_000_000)
    actor = (raw.get("Actor") or {}).get("ID") or raw.get("id") or ""
    action = raw.get("Action") or raw.get("status") or ""
    return int(nano), str(actor), str(action)


class Cursor:
    """The newest event time seen (``timeNano``) and the (actor id, action) of each event at
    exactly that time: Docker's ``since`` is inclusive, so those come back on a reconnect."""

    def __init__(self, time_nano: int = 0, seen: Iterable[tuple[str, str]] = ()) -> None:
        self.time_nano = time_nano
        self.seen = {(str(actor), str(action)) for actor, action in seen}

    def advance(self, key: tuple[int, str, str]) -> bool:
        """Record one event; False when it is an exact duplicate of one already recorded."""
        nano, actor, action = key
        if nano < self.time_nano:  # older than the boundary: never replayed, so never a duplicate
            return True
        if nano == self.time_nano:
            if (actor, action) in self.seen:
                return False
            self.seen.add((actor, action))
            return True
        self.time_nano, self.seen = nano, {(actor, action)}
        return True

    def copy(self) -> Cursor:
        return Cursor(self.time_nano, self.seen)


def since_param(cursor: Cursor, now_ns: int, replay_max_seconds: float) -> str:
    """Docker's ``since`` (``<seconds>.<nanoseconds>``): the cursor, but never further back
    than ``replay_max_seconds`` before now (0: no replay at all)."""
    nano = max(cursor.time_nano, now_ns - int(replay_max_seconds * 1_000_000_000))
    return f"{nano // 1_000_000_000}.{nano % 1_000_000_000:09d}"


def save_state(path: str, cursor: Cursor) -> None:
    """Write the cursor atomically: a temp file in the same folder, fsync, os.replace."""
    folder = os.path.dirname(os.path.abspath(path))
    data = {
        "time_nano": cursor.time_nano,
        "at": datetime.datetime.fromtimestamp(cursor.time_nano / 1e9, UTC).isoformat(),
        "seen": sorted([actor, action] for actor, action in cursor.seen),
    }
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".state-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def load_state(path: str) -> Cursor | None:
    """The saved cursor, or None when there is none (a damaged file counts as none)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        nano = data["time_nano"]
        seen = [(actor, action) for actor, action in data.get("seen", [])]
        if not isinstance(nano, int) or nano <= 0:
            raise ValueError(f"bad time_nano {nano!r}")
        return Cursor(nano, seen)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log(f"ignoring state file {path} ({exc.__class__.__name__}: {exc})")
        return None


# --- Redis -----------------------------------------------------------------------------------


class RedisPublisher:
    """XADD over RESP; reconnects with backoff; a bounded queue holds events while Redis is down.

    Each queued event may carry a mark; ``on_sent(mark)`` runs (in the publisher's thread) once
    the event is in Redis or Redis refused it for good."""

    def __init__(
        self,
        host: str,
        port: int,
        maxlen: int,
        queue_size: int,
        timeout: float = 5.0,
        on_sent: Callable[[Any], None] | None = None,
        password: str | None = None,
        username: str | None = None,
        allow_unauthenticated: bool = False,
    ) -> None:
        self.host, self.port, self.maxlen, self.timeout = host, port, maxlen, timeout
        self.allow_unauthenticated = allow_unauthenticated
        self.password, self.username = password or None, username or None
        self.on_sent = on_sent
        self.queue: collections.deque[tuple[dict, Any]] = collections.deque(maxlen=queue_size)
        self.cond = threading.Condition()
        self.sock: socket.socket | None = None
        self.file: Any = None
        self.dropped = 0  # events Redis refused as malformed (logged, counted; the only ones ever dropped)
        self.last_beat: dict | None = None  # the last heartbeat Redis took: what the controller believes

    def connect(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.file = self.sock.makefile("rb")
        if not self.allow_unauthenticated:
            # before AUTH: a server that answers a client that did not authenticate is open to anyone
            self.sock.sendall(encode_command("PING"))
            try:
                answer = read_reply(self.file)
            except RespError:
                answer = None  # NOAUTH (or NOPERM): it wants a login, as it should
            if answer == "PONG":
                self.close()
                raise ConnectionError(
                    "refusing this Redis: it answers clients that did not authenticate "
                    "(turn its default user off; allow_unauthenticated only for a loopback dev Redis)"
                )
        if self.password:
            auth = ("AUTH", self.username, self.password) if self.username else ("AUTH", self.password)
            self.sock.sendall(encode_command(*auth))
            try:
                read_reply(self.file)
            except RespError as exc:  # a connection that cannot be used: retried, the event is kept
                self.close()
                raise ConnectionError(f"AUTH refused: {exc}") from None

    def close(self) -> None:
        for c in (self.file, self.sock):
            try:
                if c is not None:
                    c.close()
            except OSError:
                pass
        self.sock = self.file = None

    def command(self, *args: object) -> Any:
        if self.sock is None:
            self.connect()
        assert self.sock is not None
        self.sock.sendall(encode_command(*args))
        return read_reply(self.file)

    def xadd(self, event: dict) -> str:
        return self.command("XADD", STREAM, "MAXLEN", "~", self.maxlen, "*", *stream_fields(event))

    def put(self, event: dict, mark: Any = None) -> None:
        with self.cond:
            if event.get("type") == HEARTBEAT and any(e.get("type") == HEARTBEAT for e, _ in self.queue):
                return  # one heartbeat waiting says as much as many
            if len(self.queue) == self.queue.maxlen:
                log(f"queue full ({self.queue.maxlen}): dropping oldest event")
            self.queue.append((event, mark))
            self.cond.notify()

    def run(self) -> None:
        backoff = 0.5
        failing = False
        while True:
            with self.cond:
                while not self.queue:
                    self.cond.wait()
                item = self.queue[0]
            event, mark = item
            if event.get("type") == HEARTBEAT:
                self._recount(event)
            try:
                self.xadd(event)
            except RespError as exc:
                if not retryable(exc):
                    self.dropped += 1
                    log(f"redis refused event {event['id']}: {exc}; dropping it ({self.dropped} dropped so far)")
                else:  # not allowed (yet), or still loading its data: keep it and try again
                    self.close()
                    failing = True
                    log(
                        f"redis {self.host}:{self.port} cannot take events now ({exc}); "
                        f"{len(self.queue)} queued, retry in {backoff:.1f}s"
                    )
                    time.sleep(backoff)
                    backoff = min(backoff * 2, REDIS_RETRY_MAX)
                    continue
            except (OSError, ConnectionError) as exc:
                self.close()
                log(
                    f"redis {self.host}:{self.port} unavailable ({exc}); "
                    f"{len(self.queue)} queued, retry in {backoff:.1f}s"
                )
                failing = True
                time.sleep(backoff)
                backoff = min(backoff * 2, REDIS_RETRY_MAX)
                continue
            if failing:
                log(f"redis {self.host}:{self.port} reconnected; {len(self.queue) - 1} more queued")
                failing = False
            backoff = 0.5
            with self.cond:
                if self.queue and self.queue[0] is item:
                    self.queue.popleft()
            if self.on_sent is not None:
                self.on_sent(mark)
            self._report_drained(event)

    def _recount(self, beat: dict) -> None:
        """A heartbeat says what is true when it is sent, not when it was queued (during an outage)."""
        with self.cond:
            beat["queued"] = sum(1 for e, _ in self.queue if e is not beat)
        beat["dropped"] = self.dropped

    def _report_drained(self, sent: dict) -> None:
        """After an outage the last heartbeat taken may say events were waiting; once they are all
        delivered, one more heartbeat says so, rather than leaving `steward status` to report a
        backlog that is gone until the next interval."""
        if sent.get("type") == HEARTBEAT:
            self.last_beat = sent
            return
        if self.last_beat is not None and self.last_beat.get("queued") and not self.queue:
            stamp = datetime.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.put({**self.last_beat, "id": new_event_id(), "at": stamp, "status": "alive", "queued": 0})
            self.last_beat = None


# --- Docker ----------------------------------------------------------------------------------


def docker_events(socket_path: str, since: str | None = None, timeout: float | None = None) -> Iterator[Any]:
    """Yield decoded JSON objects from GET /events (chunked, one JSON per line)."""
    params = {"filters": json.dumps(FILTERS)}
    if since is not None:
        params["since"] = since
    query = urllib.parse.urlencode(params)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(socket_path)
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
    for secret in SECRETS:
        msg = msg.replace(secret, "***")
    print(f"{datetime.datetime.now(UTC).isoformat()} steward-node-agent: {msg}", file=sys.stderr, flush=True)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_config(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        cfg = json.load(fh)
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: not a JSON object")
    if float(cfg.get("replay_max_seconds", 600)) < 0:
        raise ValueError(f"{path}: replay_max_seconds must be >= 0")
    password = cfg.get("redis_password") or ""
    if password and password not in SECRETS:
        SECRETS.append(str(password))
    allow = cfg.get("allow_unauthenticated", False)
    if not isinstance(allow, bool):
        raise ValueError(f"{path}: allow_unauthenticated must be true or false")
    host = str(cfg.get("redis_host", "127.0.0.1"))
    if allow and not is_loopback(host):
        raise ValueError(f"{path}: allow_unauthenticated is only accepted for a loopback Redis, not {host}")
    try:
        heartbeat = float(cfg.get("heartbeat_seconds", HEARTBEAT_SECONDS))
    except (TypeError, ValueError):
        heartbeat = -1.0
    if heartbeat != 0 and not 1 <= heartbeat <= 3600:
        raise ValueError(f"{path}: heartbeat_seconds must be 0 (off) or between 1 and 3600")
    if not allow and not password:
        raise ValueError(
            f"{path}: no redis_password: Redis must authenticate the agent (an ACL user node-<host> "
            "allowed only +xadd ~steward:events); allow_unauthenticated only for a loopback dev Redis"
        )
    return cfg


def watch_parent(pid: int, interval: float = 1.0) -> None:
    """Exit the whole process once ``pid`` is no longer our parent (the supervisor died)."""

    def watch() -> None:
        while os.getppid() == pid:
            time.sleep(interval)
        log(f"supervisor {pid} is gone; exiting")
        os._exit(1)

    threading.Thread(target=watch, name="parent", daemon=True).start()


def make_publisher(cfg: dict, on_sent: Callable[[Any], None] | None = None) -> RedisPublisher:
    return RedisPublisher(
        cfg.get("redis_host", "127.0.0.1"),
        int(cfg.get("redis_port", 6379)),
        int(cfg.get("maxlen", MAXLEN)),
        int(cfg.get("queue_size", 1000)),
        on_sent=on_sent,
        password=cfg.get("redis_password") or None,
        username=cfg.get("redis_username") or None,
        allow_unauthenticated=bool(cfg.get("allow_unauthenticated", False)),
    )


def agent_host(cfg: dict) -> str:
    return str(cfg.get("host") or socket.gethostname())


def send_heartbeats(publisher: RedisPublisher, host: str, every: float) -> None:
    """One heartbeat at start, then one every ``every`` seconds (at most one waits in the queue)."""
    status = "start"
    while True:
        publisher.put(heartbeat_event(host, status, queued=len(publisher.queue), dropped=publisher.dropped))
        status = "alive"
        time.sleep(every)


def check_redis(cfg: dict) -> str:
    """Log in to Redis as the agent does and send one heartbeat; ConnectionError says why not."""
    publisher = make_publisher(cfg)
    user = publisher.username or "default"
    where = f"redis {publisher.host}:{publisher.port} as user {user}"
    try:
        publisher.connect()
        publisher.xadd(heartbeat_event(agent_host(cfg), "check"))
    except RespError as exc:
        raise ConnectionError(f"{where} refused a heartbeat: {exc}") from None
    except (OSError, ConnectionError) as exc:
        raise ConnectionError(f"{where}: {exc}") from None
    finally:
        publisher.close()
    return f"{where} took a heartbeat"


def run_worker(config_path: str) -> int:
    cfg = load_config(config_path)
    state_path = cfg.get("state_file") or os.path.join(os.path.dirname(os.path.abspath(config_path)), "state.json")
    replay_max = float(cfg.get("replay_max_seconds", 600))
    if os.environ.get(SUPERVISOR_ENV, "").isdigit():
        watch_parent(int(os.environ[SUPERVISOR_ENV]))
    saved = load_state(state_path)
    if saved is None:
        # First start: no history, follow from now. Saved at once, so that a worker that dies
        # before its first event still replays from here when restarted.
        cursor = Cursor(time.time_ns())
        try:
            save_state(state_path, cursor)
        except OSError as exc:
            log(f"cannot write state file {state_path}: {exc}")
    else:
        cursor = saved
    delivered = cursor.copy()  # advanced by the publisher thread only, and persisted

    def on_sent(key: Any) -> None:
        if key is None or not delivered.advance(key):
            return
        try:
            save_state(state_path, delivered)
        except OSError as exc:
            log(f"cannot write state file {state_path}: {exc}")

    publisher = make_publisher(cfg, on_sent)
    threading.Thread(target=publisher.run, name="redis", daemon=True).start()
    host = agent_host(cfg)
    heartbeat = float(cfg.get("heartbeat_seconds", HEARTBEAT_SECONDS))
    if heartbeat:
        threading.Thread(
            target=send_heartbeats, args=(publisher, host, heartbeat), name="heartbeat", daemon=True
        ).start()
    sock_path = cfg.get("docker_socket", "/var/run/docker.sock")
    if sock_path.startswith("unix://"):
        sock_path = sock_path[len("unix://") :]
    resume = "from now" if saved is None else f"after {datetime.datetime.fromtimestamp(saved.time_nano / 1e9, UTC)}"
    log(
        f"starting: docker {sock_path} -> redis {publisher.host}:{publisher.port} as host {host}; "
        f"events {resume} (at most {replay_max:g}s back)"
    )
    backoff = 0.5
    while True:
        since = since_param(cursor, time.time_ns(), replay_max)
        try:
            for raw in docker_events(sock_path, since=since):
                backoff = 0.5
                key = event_key(raw)
                if not cursor.advance(key):
                    continue  # Docker replayed the boundary event we already have
                event = map_event(raw, host)
                if event is not None:
                    publisher.put(event, key)
        except (OSError, ConnectionError, ValueError) as exc:
            log(f"docker {sock_path} unavailable ({exc}); retry in {backoff:.1f}s")
        time.sleep(backoff)
        backoff = min(backoff * 2, 30.0)


# --- Supervisor (nodes without systemd) ------------------------------------------------------


class Backoff:
    """Restart delays: ``initial`` doubling up to ``maximum``; back to ``initial`` once the
    child ran for ``reset_after`` seconds."""

    def __init__(self, initial: float = 1.0, maximum: float = 30.0, reset_after: float = 60.0) -> None:
        self.initial, self.maximum, self.reset_after = initial, maximum, reset_after
        self.delay = initial

    def after_exit(self, ran_for: float) -> float:
        """The delay before the next start, given how long the child that just exited ran."""
        if ran_for >= self.reset_after:
            self.delay = self.initial
        delay = self.delay
        self.delay = min(self.delay * 2, self.maximum)
        return delay


def describe_status(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


class Supervisor:
    """Runs ``argv`` as a child and restarts it when it exits, with backoff. SIGTERM or SIGINT:
    stop the child (TERM, then KILL after ``stop_timeout`` seconds) and return 0."""

    def __init__(
        self, argv: list[str], backoff: Backoff | None = None, stop_timeout: float = 5.0, poll: float = 0.2
    ) -> None:
        self.argv = argv
        self.backoff = backoff or Backoff()
        self.stop_timeout, self.poll = stop_timeout, poll
        self.stopping = False
        self.child: subprocess.Popen | None = None

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stopping = True  # everything else happens in the main loop

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(self.poll, max(deadline - time.monotonic(), 0)))

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        env = dict(os.environ, **{SUPERVISOR_ENV: str(os.getpid())})
        log(f"supervisor {os.getpid()}: running {' '.join(self.argv)}")
        restarts = 0
        while not self.stopping:
            started = time.monotonic()
            try:
                self.child = subprocess.Popen(self.argv, env=env, stdin=subprocess.DEVNULL)
            except OSError as exc:
                self.child, status = None, f"could not start ({exc})"
            else:
                log(f"supervisor: worker {self.child.pid} started")
                while not self.stopping and self.child.poll() is None:
                    time.sleep(self.poll)
                if self.stopping:
                    break
                status = f"{self.child.pid} exited with {describe_status(self.child.returncode)}"
            ran_for = time.monotonic() - started
            delay = self.backoff.after_exit(ran_for)
            restarts += 1
            log(f"supervisor: worker {status} after {ran_for:.1f}s; restart {restarts} in {delay:g}s")
            self._sleep(delay)
        self._stop_child()
        log("supervisor: stopped")
        return 0

    def _stop_child(self) -> None:
        child = self.child
        if child is None or child.poll() is not None:
            return
        child.terminate()
        try:
            child.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            log(f"supervisor: worker {child.pid} ignored SIGTERM for {self.stop_timeout:g}s; killing it")
            child.kill()
            child.wait()
        log(f"supervisor: worker {child.pid} stopped ({describe_status(child.returncode)})")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    mode = argv[0] if argv[:1] in (["--supervise"], ["--check"]) else None
    args = argv[1:] if mode else argv
    if len(args) != 1 or args[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    config_path = os.path.abspath(args[0])
    try:
        cfg = load_config(config_path)
    except (OSError, ValueError) as exc:
        log(f"bad config: {exc}")
        return 2
    if mode == "--check":
        try:
            log(f"check: {check_redis(cfg)}")
        except ConnectionError as exc:
            log(f"check failed: {exc}")
            return 1
        return 0
    supervise = mode == "--supervise"
    if supervise:
        return Supervisor([sys.executable, os.path.abspath(__file__), config_path]).run()
    return run_worker(config_path)


if __name__ == "__main__":
    sys.exit(main())
