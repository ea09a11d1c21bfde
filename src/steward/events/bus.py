"""Publish journal events to the Redis stream; spool to the outbox when Redis is unavailable.

Stream length, one policy for every producer (this bus, the callback, every node agent): each
XADD trims with ``MAXLEN ~ 100000`` (:data:`DEFAULT_MAXLEN`). That is sized for the worst outage
the docs promise to ride out (docs/operations.md, "Stream length"): a consumer down for 24 h
while the fleet produces about 1 event/s on average (or 10 events/s for 2.7 h), at roughly
0.5 KiB per entry (~50 MB of Redis memory). A producer trimming shorter would silently throw
away what a lagging consumer has not read; the EDA source reports when that happened.

Redis must authenticate its clients: a URL without a password, or a server that answers a client
that did not authenticate, is refused (events stay in the outbox, one warning) unless
``STEWARD_REDIS_ALLOW_UNAUTHENTICATED`` is set and the URL is loopback or a unix socket.
Passwords never appear in a message (``steward.core.inert.redact_url``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import re
import secrets
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from steward.core.inert import redact_text, redact_url
from steward.events.outbox import Outbox

log = logging.getLogger("steward")

STREAM = "steward:events"
DEFAULT_MAXLEN = 100_000  # the one stream-length policy (module docstring)
DEFAULT_TIMEOUT = 0.5  # seconds, connect and read/write
DEFAULT_RETRY_AFTER = 1.0  # seconds without a connection attempt after a failure
BATCH = 200  # events per pipeline; a crash re-sends at most one batch
DRAIN_BUDGET = 0.5  # seconds of outbox delivery per publish, so an append never waits long
SCHEMA_KEYS = ("id", "type", "at", "host", "key", "action", "cycle")


def new_event_id() -> str:
    """Unique and time-ordered: 16 hex digits of nanoseconds since the epoch, 12 random ones."""
    return f"{time.time_ns():016x}-{secrets.token_hex(6)}"


def normalize(event: dict[str, Any]) -> dict[str, Any]:
    """The stable schema: every key of SCHEMA_KEYS present (None when it does not apply)."""
    return {**{k: None for k in SCHEMA_KEYS}, **event}


def stream_fields(event: dict[str, Any]) -> dict[str, str]:
    """One stream entry: the whole event as JSON in `event`, plus `id` and `type` for cheap filtering."""
    event = normalize(event)
    return {"id": str(event["id"]), "type": str(event["type"]), "event": json.dumps(event, sort_keys=True, default=str)}


class RedisRefused(RuntimeError):
    """This Redis is not one Steward sends to (no authentication); the message says why."""


def _password(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.password:
        return unquote(parts.password)
    found = re.search(r"(?i)(?:^|&)password=([^&#]*)", parts.query)
    return unquote(found.group(1)) if found and found.group(1) else None


def is_local(url: str) -> bool:
    """A unix socket or a loopback address (the only places an unauthenticated Redis is accepted)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allow_unauthenticated_from_env() -> bool:
    return os.environ.get("STEWARD_REDIS_ALLOW_UNAUTHENTICATED", "").strip().lower() in ("1", "true", "yes", "on")


def check_auth_policy(url: str, allow_unauthenticated: bool) -> None:
    """Raise RedisRefused when the URL itself breaks the policy (no password; dev flag off loopback)."""
    if allow_unauthenticated:
        if not is_local(url):
            raise RedisRefused(
                f"STEWARD_REDIS_ALLOW_UNAUTHENTICATED is only accepted for a loopback or unix:// Redis, "
                f"not {redact_url(url)}"
            )
        return
    if _password(url) is None:
        raise RedisRefused(
            f"{redact_url(url)} has no password: Redis must authenticate its clients (an ACL user, "
            "docs/operations.md); STEWARD_REDIS_ALLOW_UNAUTHENTICATED=1 only for a loopback development Redis"
        )


def answers_anyone(url: str, timeout: float) -> bool:
    """True when the server answers PING on a connection that did not authenticate."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(parts.path)
    else:
        sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=timeout)
        if parts.scheme == "rediss":
            import ssl

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
    with sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")


def redacted(exc: object, url: str) -> str:
    """An exception's text with the URL's password hidden (plain and URL-encoded)."""
    raw = urlsplit(url).password
    return redact_text(str(exc), [s for s in {_password(url), raw} if s])


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


class EventBus:
    def __init__(
        self,
        url: str,
        outbox: Path,
        *,
        stream: str = STREAM,
        maxlen: int = DEFAULT_MAXLEN,
        timeout: float = DEFAULT_TIMEOUT,
        retry_after: float = DEFAULT_RETRY_AFTER,
        allow_unauthenticated: bool | None = None,
    ) -> None:
        self.url = url
        self.allow_unauthenticated = (
            allow_unauthenticated_from_env() if allow_unauthenticated is None else allow_unauthenticated
        )
        self.outbox = Outbox(outbox)
        self.stream = stream
        self.maxlen = maxlen
        self.timeout = timeout
        self.retry_after = retry_after
        self._client: Any = None
        self._down_until = 0.0
        self._refused: str | None = None

    @property
    def shown_url(self) -> str:
        """The URL as it may be shown: password replaced by ***."""
        return redact_url(self.url)

    def client(self) -> Any:
        """The Redis client, once Redis passed the authentication policy (else RedisRefused)."""
        if self._client is None:
            check_auth_policy(self.url, self.allow_unauthenticated)
            if not self.allow_unauthenticated and answers_anyone(self.url, self.timeout):
                raise RedisRefused(
                    f"Redis at {self.shown_url} answers clients that did not authenticate: refusing to publish "
                    "to it (turn its default user off, docs/operations.md)"
                )
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            self._client = redis.Redis.from_url(
                self.url,
                socket_connect_timeout=self.timeout,
                socket_timeout=self.timeout,
                retry=Retry(NoBackoff(), 0),
                retry_on_timeout=False,
                health_check_interval=0,
            )
        return self._client

    def publish(self, events: list[dict[str, Any]]) -> None:
        """Deliver `events` after anything still in the outbox; never raises, never waits long."""
        if not events:
            return
        try:
            with self.outbox.locked():
                if self.outbox.pending() or time.monotonic() < self._down_until:
                    self.outbox.append(events)
                    self._drain()
                else:
                    for start in range(0, len(events), BATCH):  # a failed batch is re-sent at most once more
                        if not self._send(events[start : start + BATCH]):
                            self.outbox.append(events[start:])
                            break
        except Exception as exc:  # the bus must never fail the caller; the journal already has the event
            log.warning("event bus: %s", redacted(exc, self.url))

    def drain(self) -> bool:
        """Deliver the outbox; True when it is empty afterwards."""
        try:
            with self.outbox.locked():
                self._drain(budget=None)
                return not self.outbox.pending()
        except Exception as exc:
            log.warning("event bus: %s", redacted(exc, self.url))
            return False

    def _drain(self, budget: float | None = DRAIN_BUDGET) -> None:
        if time.monotonic() < self._down_until:
            return
        deadline = None if budget is None else time.monotonic() + budget
        while self.outbox.pending():
            batch, end = self.outbox.read(BATCH)
            if not batch and end == self.outbox.position():
                return
            if batch and not self._send(batch):
                return
            self.outbox.delivered(end)
            if deadline is not None and time.monotonic() > deadline:
                return

    def _send(self, events: list[dict[str, Any]]) -> bool:
        try:
            pipe = self.client().pipeline(transaction=False)
            for event in events:
                pipe.xadd(self.stream, stream_fields(event), maxlen=self.maxlen, approximate=True)
            pipe.execute()
        except RedisRefused as exc:
            level = logging.WARNING if self._refused != str(exc) else logging.DEBUG  # once per reason
            self._refused = str(exc)
            self._down_until = time.monotonic() + max(self.retry_after, 30.0)
            log.log(level, "event bus: %s; events kept in %s", exc, self.outbox.path)
            return False
        except Exception as exc:
            level = logging.WARNING if self._down_until == 0.0 else logging.DEBUG  # once per outage
            self._down_until = time.monotonic() + self.retry_after
            log.log(
                level,
                "event bus: redis at %s unavailable (%s); events kept in %s",
                self.shown_url,
                redacted(exc, self.url),
                self.outbox.path,
            )
            if self._client is not None:
                with contextlib.suppress(Exception):
                    self._client.connection_pool.disconnect()
            self._client = None  # the next connection is checked against the policy again
            return False
        self._down_until = 0.0
        return True


def bus_from_env(state_dir: Path) -> EventBus | None:
    """The bus configured by STEWARD_REDIS_URL (None when unset), spooling to <state>/engine/outbox.jsonl."""
    url = os.environ.get("STEWARD_REDIS_URL", "").strip()
    if not url:
        return None
    return EventBus(
        url,
        state_dir / "engine" / "outbox.jsonl",
        stream=os.environ.get("STEWARD_REDIS_STREAM", STREAM),
        maxlen=_env_int("STEWARD_REDIS_MAXLEN", DEFAULT_MAXLEN),
        timeout=_env_float("STEWARD_REDIS_TIMEOUT", DEFAULT_TIMEOUT),
        retry_after=_env_float("STEWARD_REDIS_RETRY_AFTER", DEFAULT_RETRY_AFTER),
    )
