"""New journal events, read from a byte offset: how the bot learns of new and decided actions.

The journal is append-only and never rotated; the engine, the executor and every decision append
one JSON line per transition (the events the rulebooks and the Redis stream also see). Only
complete lines are read: a line still being written (no newline yet) is left for the next pass,
so the offset always stands at a line's end.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from steward.core.atomic import open_read

log = logging.getLogger("steward.bot")
CHUNK = 1 << 20  # bytes read per pass at most; the rest waits for the next pass


def journal_end(path: Path) -> int:
    """The offset just past the journal's last complete line (0 when there is no journal)."""
    try:
        with open_read(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            at = size
            while at > 0:
                start = max(0, at - 65536)
                fh.seek(start)
                block = fh.read(at - start)
                newline = block.rfind(b"\n")
                if newline >= 0:
                    return start + newline + 1
                at = start
            return 0
    except FileNotFoundError:
        return 0


def journal_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def new_events(path: Path, offset: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """(offset after the line, event) for each complete line from `offset` on, up to CHUNK bytes."""
    try:
        fh = open_read(path)
    except FileNotFoundError:
        return
    with fh:
        fh.seek(offset)
        data = fh.read(CHUNK)
    end = data.rfind(b"\n")
    if end < 0:
        if len(data) == CHUNK:  # one line longer than a chunk: no event is that big; skip it
            log.warning("journal: a line of more than %d bytes at offset %d skipped", CHUNK, offset)
            yield offset + len(data), {}
        return
    at = offset
    for raw in data[:end].split(b"\n"):
        at += len(raw) + 1
        try:
            event = json.loads(raw)
        except ValueError:
            event = None
        yield at, event if isinstance(event, dict) else {}
