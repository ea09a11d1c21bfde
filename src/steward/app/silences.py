"""Use cases on silences (`steward silence add | list | remove`).

A silence keeps a host (glob) or one of its targets from getting actions for a while; its
drift is still recorded. SilenceError, or ValueError for a duration that does not parse.
"""

from __future__ import annotations

from typing import Any

from steward.desired.policy import parse_duration
from steward.state.journal import Journal, utcnow
from steward.state.settings import Settings
from steward.state.silences import Silences


def _silences(settings: Settings) -> Silences:
    return Silences(settings.paths.ensure(), Journal(settings.paths.journal))


def add(
    settings: Settings, host: str, target: str | None, duration: str, reason: str, via: str = "cli"
) -> dict[str, Any]:
    """A new silence for `duration` ("90s", "30m", "2h", "1d"); `via` is kept in it as `by`."""
    silences, now = _silences(settings), utcnow()
    return silences.add(host, target, parse_duration(duration), reason, now, by=via)


def remove(settings: Settings, silence_id: str) -> dict[str, Any]:
    """End an active silence now (SilenceError when there is no active one of that id)."""
    return _silences(settings).remove(silence_id, utcnow())


def listed(settings: Settings, every_one: bool = False) -> list[dict[str, Any]]:
    """The active silences; `every_one`: expired and removed ones too."""
    silences = _silences(settings)
    return silences.all() if every_one else silences.active(utcnow())
