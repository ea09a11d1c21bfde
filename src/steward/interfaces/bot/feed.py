"""New journal events, read from a byte offset: how the bot learns of new and decided actions.

The journal is append-only, rotated by size into numbered segments (steward.core.segmented); the
offset counts bytes across the segments and the current file, so it stays valid across a rotation.
The engine, the executor and every decision append one JSON line per transition (the events the
rulebooks and the Redis stream also see). Only
complete lines are read: a line still being written (no newline yet) is left for the next pass,
so the offset always stands at a line's end.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from steward.core import segmented

log = logging.getLogger("steward.bot")
CHUNK = 1 << 20  # bytes read per pass at most; the rest waits for the next pass


def journal_end(path: Path) -> int:
    """The offset just past the journal's last complete line (0 when there is no journal)."""
    return segmented.end(path)


def journal_size(path: Path) -> int:
    """Bytes in the journal, its segments included (an offset past this: the journal was replaced)."""
    return segmented.total_size(path)


def new_events(path: Path, offset: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """(offset after the line, event) for each complete line from `offset` on, up to about CHUNK bytes."""
    for at, raw in segmented.lines_from(path, offset, CHUNK):
        if len(raw) > CHUNK:  # no event is that big; it is read past
            log.warning("journal: a line of more than %d bytes before offset %d skipped", CHUNK, at)
            yield at, {}
            continue
        try:
            event = json.loads(raw)
        except ValueError:
            event = None
        yield at, event if isinstance(event, dict) else {}
