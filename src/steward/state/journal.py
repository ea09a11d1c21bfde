"""journal.jsonl: the append-only audit log. One JSON object per line, one line per transition.

Beside it, journal.index/<action id>: the types of the events that name that action, one a line.
`has` ("was this action's approval / start / end journaled?", asked on every claim) reads that
one small file instead of the whole, never-rotated journal. Every append writes the index line
after the journal line is on disk (so the index never names an event the journal lacks); a
state folder from before the index gets it built once from the journal (journal.index/.built);
an index write that fails withdraws that marker, so the next question rebuilds it.

The journal is rotated by size, never trimmed: past SEGMENT_BYTES (64 MiB;
STEWARD_JOURNAL_SEGMENT_BYTES) journal.jsonl becomes the next numbered segment in journal.d/ and a
new journal.jsonl starts (steward.core.segmented: whole lines only, concurrent writers safe).
`events()` reads the segments, then journal.jsonl, as one stream; lookups go to the index, so a
long history costs the executor and the engine nothing.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from steward.core import segmented
from steward.core.atomic import atomic_write_text, fsync_dir, make_dir, open_append, open_read
from steward.core.inert import terminal
from steward.core.model import NAME_RE
from steward.events import bus_from_env, new_event_id
from steward.events.bus import EventBus

log = logging.getLogger("steward")

WARNING_EVENTS = {
    "cycle_skipped",
    "executor_skipped",
    "action_quarantined",
    "action_failed",
    "action_interrupted",
    "action_not_fixed",
}
INDEX_BUILT = ".built"  # journal.index/.built: every event journaled before the index existed is in it
SEGMENT_BYTES = 64 << 20  # journal.jsonl is rotated into journal.d/ past this size


def segment_bytes() -> int:
    """SEGMENT_BYTES, or STEWARD_JOURNAL_SEGMENT_BYTES when set (at least 4 KiB)."""
    raw = os.environ.get("STEWARD_JOURNAL_SEGMENT_BYTES", "").strip()
    try:
        return max(int(raw), 4096) if raw else SEGMENT_BYTES
    except ValueError:
        log.warning("STEWARD_JOURNAL_SEGMENT_BYTES=%s is not a number of bytes: using %d", terminal(raw), SEGMENT_BYTES)
        return SEGMENT_BYTES


def utcnow() -> datetime:
    return datetime.now(UTC)


def isotime(when: datetime | None = None) -> str:
    return (when or utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ")


class Journal:
    def __init__(self, path: Path, bus: EventBus | None | Literal["env"] = "env", rotate_at: int | None = None) -> None:
        self.path = path
        self.rotate_at = rotate_at or segment_bytes()
        self._buffer: list[bytes] | None = None
        # Event bus: also XADD each event to Redis (never blocks, never fails). By default it is the one
        # STEWARD_REDIS_URL configures; a caller with its own settings (the callback plugin) passes its own.
        self._bus = bus_from_env(path.parent) if bus == "env" else bus
        self._unpublished: list[dict[str, Any]] = []
        self.index = path.with_suffix(".index")
        self._unindexed: list[tuple[str, str]] = []  # (action, type) of the buffered lines

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
            pairs, self._unindexed = self._unindexed, []
            self._index(pairs)
        if self._bus is not None and self._unpublished:
            events, self._unpublished = self._unpublished, []
            self._bus.publish(events)

    def _write(self, data: bytes) -> None:
        # O_APPEND + a single write(): concurrent writers never interleave within a line; never through a
        # symlink; rotated into journal.d/ past rotate_at
        segmented.append(self.path, data, self.rotate_at)

    def append(self, type_: str, *, reported: bool = False, **fields: Any) -> dict[str, Any]:
        """Journal (and publish) one event. `reported`: the caller tells the user itself (the CLI's
        one error line), so the event is logged at DEBUG instead of a second line on stderr."""
        event = {"id": new_event_id(), "type": type_, "at": isotime(), **fields}
        line = (json.dumps(event, sort_keys=True, default=str) + "\n").encode()
        action = fields.get("action")
        pairs = [(action, type_)] if isinstance(action, str) and _indexable(action) else []
        if self._buffer is not None:
            self._buffer.append(line)
            self._unindexed.extend(pairs)
            if self._bus is not None:
                self._unpublished.append(event)
        else:
            self._write(line)
            self._index(pairs)
            if self._bus is not None:
                self._bus.publish([event])
        level = logging.DEBUG if reported else logging.WARNING if type_ in WARNING_EVENTS else logging.INFO
        log.log(level, "%s %s", type_, _describe(fields))
        return event

    def events(self) -> Iterator[dict[str, Any]]:
        """Every complete event, the segments' first; a torn line (crash mid-write) is skipped."""
        for _, raw in segmented.lines_from(self.path):
            try:
                yield json.loads(raw)
            except ValueError:
                continue

    def has(self, type_: str, action: str) -> bool:
        return self.has_any((type_,), action)

    def has_any(self, types: tuple[str, ...], action: str) -> bool:
        """Whether an event of one of `types` names this action (from the index: one small file)."""
        try:
            indexed = self._indexed(action)
        except OSError as exc:  # an index that cannot be read or built: the journal itself answers
            log.warning("journal index unusable (%s): reading the whole journal", terminal(str(exc)))
            indexed = None
        if indexed is not None:
            return not indexed.isdisjoint(types)
        return self._scan(types, action)

    def _scan(self, types: tuple[str, ...], action: str) -> bool:
        needle = action.encode()
        for _, raw in segmented.lines_from(self.path):
            if needle in raw:
                try:
                    ev = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(ev, dict) and ev.get("type") in types and ev.get("action") == action:
                    return True
        return False

    # -- the action index -----------------------------------------------------------
    def _indexed(self, action: str) -> set[str] | None:
        """The types of the events journaled for this action; None for an id that is no file name."""
        if not _indexable(action):
            return None
        if not (self.index / INDEX_BUILT).exists():
            self._build_index()
        return self._read_index(action)

    def _read_index(self, action: str) -> set[str]:
        try:
            with open_read(self.index / action) as fh:
                data = fh.read()
        except FileNotFoundError:
            return set()
        # every write is framed "\ntype...\n": a torn one (a crash mid-write) is a line of its own, and the
        # last, unterminated piece names nothing (its journal line came first anyway)
        return {line.decode(errors="replace") for line in data.split(b"\n")[:-1] if line}

    def _build_index(self) -> None:
        """Once per state folder: every event the journal held before the index existed."""
        seen: dict[str, set[str]] = {}
        for ev in self.events():
            if not isinstance(ev, dict):
                continue
            action, type_ = ev.get("action"), ev.get("type")
            if isinstance(action, str) and isinstance(type_, str) and _indexable(action):
                seen.setdefault(action, set()).add(type_)
        for action, types in seen.items():
            self._add(action, sorted(types - self._read_index(action)))
        atomic_write_text(self.index / INDEX_BUILT, "the journal's events up to here are in this index\n")

    def _index(self, pairs: list[tuple[str, str]]) -> None:
        """After the journal lines are on disk: their (action, type) pairs into the index."""
        by_action: dict[str, list[str]] = {}
        for action, type_ in pairs:
            by_action.setdefault(action, []).append(type_)
        try:
            for action, types in by_action.items():
                self._add(action, types)
        except OSError as exc:
            # the journal has the line, the index does not: withdraw the marker, the next question rebuilds
            log.warning("journal index not updated (%s): it is rebuilt from the journal", terminal(str(exc)))
            try:
                (self.index / INDEX_BUILT).unlink(missing_ok=True)
            except OSError:
                raise exc from None

    def _add(self, action: str, types: list[str]) -> None:
        if not types:
            return
        make_dir(self.index)
        path = self.index / action
        new = not os.path.lexists(path)
        fd = open_append(path)
        try:
            os.write(fd, ("\n" + "\n".join(types) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:
            fsync_dir(self.index)


def _indexable(action: str) -> bool:
    """An action id that is safe as a file name in journal.index/ (every id check_id accepts is)."""
    return len(action) <= 200 and ".." not in action and NAME_RE.fullmatch(action) is not None


def _describe(fields: dict[str, Any]) -> str:
    keys = ("action", "key", "host", "reason", "via", "errors")
    return " ".join(f"{k}={terminal(fields[k])}" for k in keys if k in fields)
