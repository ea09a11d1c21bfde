"""engine/outbox.jsonl: events not yet delivered to Redis, append-only, fsynced.

The delivered position (a byte offset into the outbox) lives in `outbox.pos`, replaced
atomically after each delivered batch, so a crash re-sends at most the last batch. Once
everything is delivered the outbox is emptied (outbox first, then the position: a position
beyond the end of the file means "emptied", and reads as 0).
Callers serialise access with :meth:`Outbox.locked` (flock, shared with other processes).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from steward.core.atomic import atomic_write_text, make_dir, open_append, open_read, read_regular_file
from steward.core.locks import exclusive


class Outbox:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.pos_path = path.with_name(path.name + ".pos")
        self.lock_path = path.with_name(path.name + ".lock")

    @contextmanager
    def locked(self) -> Iterator[None]:
        with exclusive(self.lock_path):
            self._recover()
            yield

    def _recover(self) -> None:
        """A crash between emptying the outbox and removing the position leaves a stale position."""
        try:
            pos = int(read_regular_file(self.pos_path).strip() or 0)
        except FileNotFoundError:
            return
        except (ValueError, OSError):
            pos = -1
        if not 0 <= pos <= self._size():
            self.pos_path.unlink(missing_ok=True)

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def position(self) -> int:
        try:
            pos = int(read_regular_file(self.pos_path).strip() or 0)
        except (OSError, ValueError):
            return 0
        return pos if 0 <= pos <= self._size() else 0

    def _set_position(self, pos: int) -> None:
        # temp file with an unpredictable name (mkstemp, O_EXCL|O_NOFOLLOW) -> fsync -> os.replace
        atomic_write_text(self.pos_path, str(pos))

    def pending(self) -> bool:
        return self._size() > self.position()

    def append(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        data = b"".join((json.dumps(e, sort_keys=True, default=str) + "\n").encode() for e in events)
        make_dir(self.path.parent)
        fd = open_append(self.path)  # never through a symlink
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # a torn line (crash mid-write) must not swallow the next event
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Up to `limit` undelivered events and the offset just after them (complete lines only)."""
        pos = self.position()
        events: list[dict[str, Any]] = []
        try:
            fh = open_read(self.path)
        except FileNotFoundError:
            return events, pos
        with fh:
            fh.seek(pos)
            while len(events) < limit:
                raw = fh.readline()
                if not raw.endswith(b"\n"):
                    # End of file, or a torn tail: appends hold the lock we hold, so it is crash debris.
                    pos += len(raw)
                    break
                pos += len(raw)
                try:
                    events.append(json.loads(raw))
                except ValueError:
                    continue  # a torn line from a crash: never fully written, skip it
        return events, pos

    def delivered(self, pos: int) -> None:
        """Record that everything before `pos` reached Redis; empty the outbox when all did."""
        if pos >= self._size():
            self.path.unlink(missing_ok=True)
            self.pos_path.unlink(missing_ok=True)
        else:
            self._set_position(pos)
