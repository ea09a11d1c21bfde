"""Use cases on the event stream: read it (`steward events tail`), and publish a playbook's events
(the homelab.steward.events callback).

The stream is Redis when STEWARD_REDIS_URL is set and reachable, else the journal, which is
always written first and always complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from steward.events import bus_from_env
from steward.events.bus import EventBus, redacted
from steward.events.tail import describe, journal_events, stream_events
from steward.state.journal import Journal
from steward.state.settings import Settings

__all__ = ["describe", "playbook_journal", "tail"]


def tail(settings: Settings, lines: int, follow: bool, notice: Callable[[str], None]) -> Iterator[dict[str, Any]]:
    """The last `lines` events, oldest first; `follow`: then every new one until interrupted.

    From the stream when Redis is configured; when it is unreachable or refuses, `notice` is told
    why (the URL with `***` for its password) and the journal is read instead."""
    bus = bus_from_env(settings.state_dir)
    if bus is not None:
        try:
            yield from stream_events(bus, lines, follow)
            return
        except Exception as exc:  # redis unreachable or refused: say so, then read the journal
            notice(
                f"event stream {bus.stream} at {bus.shown_url} unavailable ({redacted(exc, bus.url)}); "
                f"reading {settings.paths.journal} instead"
            )
    yield from journal_events(settings.paths.journal, lines, follow)


def playbook_journal(journal: Path, redis_url: str | None, stream: str) -> Journal:
    """The journal a playbook's events go to, published to `stream` at `redis_url` (when given).

    The callback's own options win over the process environment a Journal would otherwise read."""
    bus = EventBus(redis_url, journal.parent / "engine" / "outbox.jsonl", stream=stream) if redis_url else None
    return Journal(journal, bus=bus)
