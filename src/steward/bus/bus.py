"""Publish journal events to the Redis stream; spool to the outbox when Redis is unavailable."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

from steward.bus.outbox import Outbox

log = logging.getLogger("steward")

STREAM = "steward:events"
DEFAULT_MAXLEN = 100_000
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
    ) -> None:
        self.url = url
        self.outbox = Outbox(outbox)
        self.stream = stream
        self.maxlen = maxlen
        self.timeout = timeout
        self.retry_after = retry_after
        self._client: Any = None
        self._down_until = 0.0

    def client(self) -> Any:
        if self._client is None:
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
            log.warning("event bus: %s", exc)

    def drain(self) -> bool:
        """Deliver the outbox; True when it is empty afterwards."""
        try:
            with self.outbox.locked():
                self._drain(budget=None)
                return not self.outbox.pending()
        except Exception as exc:
            log.warning("event bus: %s", exc)
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
        except Exception as exc:
            level = logging.WARNING if self._down_until == 0.0 else logging.DEBUG  # once per outage
            self._down_until = time.monotonic() + self.retry_after
            log.log(level, "event bus: redis unavailable (%s); events kept in %s", exc, self.outbox.path)
            with contextlib.suppress(Exception):
                self.client().connection_pool.disconnect()
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
