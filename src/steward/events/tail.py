"""`steward events tail`: the last events, from the Redis stream when configured, else from the journal."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from steward.core import segmented
from steward.core.inert import terminal
from steward.events.bus import EventBus


def _decode(fields: dict[Any, Any]) -> dict[str, Any]:
    raw = {
        (k.decode(errors="backslashreplace") if isinstance(k, bytes) else k): (
            v.decode(errors="backslashreplace") if isinstance(v, bytes) else v
        )
        for k, v in fields.items()
    }
    try:
        event = json.loads(raw["event"])
    except (KeyError, ValueError):
        event = dict(raw)  # an entry someone else (e.g. a node agent) wrote in another shape
    return event if isinstance(event, dict) else {"event": event}


def stream_events(
    bus: EventBus, count: int, follow: bool, block_ms: int = 1000, stop: Callable[[], bool] | None = None
) -> Iterator[dict[str, Any]]:
    """The last `count` stream entries, oldest first; with follow, then every new one (XREAD BLOCK)."""
    client = bus.client()
    entries = client.xrevrange(bus.stream, count=count) if count > 0 else []
    last = entries[0][0] if entries else b"$"
    for entry_id, fields in reversed(entries):
        yield {**_decode(fields), "stream_id": entry_id.decode() if isinstance(entry_id, bytes) else entry_id}
    if not follow:
        return
    import redis

    # A blocking read needs a read timeout longer than the block.
    reader: Any = redis.Redis.from_url(bus.url, socket_connect_timeout=bus.timeout, socket_timeout=block_ms / 1000 + 5)
    while not (stop and stop()):
        for _stream, items in reader.xread({bus.stream: last}, block=block_ms, count=100) or []:
            for entry_id, fields in items:
                last = entry_id
                yield {**_decode(fields), "stream_id": entry_id.decode() if isinstance(entry_id, bytes) else entry_id}


def journal_events(
    path: Path, count: int, follow: bool, interval: float = 0.5, stop: Callable[[], bool] | None = None
) -> Iterator[dict[str, Any]]:
    """The last `count` journal events, oldest first; with follow, then every new complete line (across
    rotations: the offset counts bytes over the segments and the current file)."""
    offset = 0
    tail: deque[bytes] = deque(maxlen=max(count, 0))
    for end, raw in segmented.lines_from(path):
        offset = end
        tail.append(raw)
    for raw in tail:
        event = _load(raw)
        if event is not None:
            yield event
    while follow and not (stop and stop()):
        for end, raw in segmented.lines_from(path, offset):
            offset = end
            event = _load(raw)
            if event is not None:
                yield event
        time.sleep(interval)


def _load(raw: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(raw)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def describe(event: dict[str, Any]) -> str:
    """One inert line: time, type, then the fields a human needs - for a skipped cycle the unusable
    files (world or inventory, with line and column) and why, for hosts that left the inventory their names."""
    reason = str(event.get("reason") or "")
    parts = []
    for k in ("host", "hosts", "key", "action", "cycle", "play", "task", "reason", "file", "via", "msg"):
        value = event.get(k)
        if value is None:
            continue
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        if k == "file":
            if event.get("line") is not None:
                value = f"{value}:{event['line']}:{event.get('column') or 0}"
            if str(event[k]) in reason:
                continue  # the reason names it already
        parts.append(f"{k}={value}")
    errors = event.get("errors")
    if isinstance(errors, dict) and not all(str(name) in reason for name in errors):
        parts.append("errors=" + "; ".join(f"{name}: {why}" for name, why in sorted(errors.items(), key=str)))
    return terminal(f"{event.get('at') or '-'} {event.get('type') or '-':<22} {' '.join(parts)}".rstrip())
