"""journal.jsonl: the append-only audit log. One JSON object per line, one line per transition."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from steward.core.atomic import make_dir, open_append, open_read
from steward.core.inert import terminal
from steward.events import bus_from_env, new_event_id
from steward.events.bus import EventBus

log = logging.getLogger("steward")

WARNING_EVENTS = {"cycle_skipped", "action_quarantined", "action_failed", "action_interrupted", "action_not_fixed"}


def utcnow() -> datetime:
    return datetime.now(UTC)


def isotime(when: datetime | None = None) -> str:
    return (when or utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ")


class Journal:
    def __init__(self, path: Path, bus: EventBus | None | Literal["env"] = "env") -> None:
        self.path = path
        self._buffer: list[bytes] | None = None
        # Event bus: also XADD each event to Redis (never blocks, never fails). By default it is the one
        # STEWARD_REDIS_URL configures; a caller with its own settings (the callback plugin) passes its own.
        self._bus = bus_from_env(path.parent) if bus == "env" else bus
        self._unpublished: list[dict[str, Any]] = []

    @contextmanager
    def batched(self) -> Iterator[None]:
        """Collect the events of one plan cycle and write them with one write + fsync at the end."""
        if self._buffer is not None:
            yield
            return
        self._buffer = []
        try:
            yield
        finally:
            self.flush()
            self._buffer = None

    def flush(self) -> None:
        if self._buffer:
            self._write(b"".join(self._buffer))
            self._buffer.clear()
        if self._bus is not None and self._unpublished:
            events, self._unpublished = self._unpublished, []
            self._bus.publish(events)

    def _write(self, data: bytes) -> None:
        make_dir(self.path.parent)
        # O_APPEND + a single write(): concurrent writers never interleave within a line.
        fd = open_append(self.path)  # never through a symlink
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def append(self, type_: str, *, reported: bool = False, **fields: Any) -> dict[str, Any]:
        """Journal (and publish) one event. `reported`: the caller tells the user itself (the CLI's
        one error line), so the event is logged at DEBUG instead of a second line on stderr."""
        event = {"id": new_event_id(), "type": type_, "at": isotime(), **fields}
        line = (json.dumps(event, sort_keys=True, default=str) + "\n").encode()
        if self._buffer is not None:
            self._buffer.append(line)
            if self._bus is not None:
                self._unpublished.append(event)
        else:
            self._write(line)
            if self._bus is not None:
                self._bus.publish([event])
        level = logging.DEBUG if reported else logging.WARNING if type_ in WARNING_EVENTS else logging.INFO
        log.log(level, "%s %s", type_, _describe(fields))
        return event

    def events(self) -> Iterator[dict[str, Any]]:
        """Every complete event; a torn last line (crash mid-write) is skipped."""
        try:
            fh = open_read(self.path)
        except FileNotFoundError:
            return
        with fh:
            for raw in fh:
                try:
                    yield json.loads(raw)
                except ValueError:
                    continue

    def has(self, type_: str, action: str) -> bool:
        return self.has_any((type_,), action)

    def has_any(self, types: tuple[str, ...], action: str) -> bool:
        """Whether an event of one of `types` names this action."""
        needle = action.encode()
        try:
            with open_read(self.path) as fh:
                for raw in fh:
                    if needle in raw:
                        try:
                            ev = json.loads(raw)
                        except ValueError:
                            continue
                        if ev.get("type") in types and ev.get("action") == action:
                            return True
        except FileNotFoundError:
            pass
        return False


def _describe(fields: dict[str, Any]) -> str:
    keys = ("action", "key", "host", "reason", "via", "errors")
    return " ".join(f"{k}={terminal(fields[k])}" for k in keys if k in fields)
