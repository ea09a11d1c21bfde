"""Silences: time-bounded "do not act on this" matchers. Drift is still recorded while silenced.

Stored in engine/silences.json (atomic writes, under a lock); expired silences stay in the
file, so `steward silence list --all` shows the history.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from steward.core.atomic import atomic_write_json
from steward.core.locks import exclusive
from steward.core.model import Drift
from steward.state.journal import Journal, isotime
from steward.state.paths import StatePaths
from steward.state.world import parse_time


class SilenceError(ValueError):
    pass


class Silences:
    def __init__(self, paths: StatePaths, journal: Journal) -> None:
        self.path = paths.engine / "silences.json"
        self.lock = paths.locks / "silences.lock"
        self.journal = journal

    def all(self) -> list[dict[str, Any]]:
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except ValueError as exc:
            raise SilenceError(f"{self.path} is not valid JSON ({exc}); fix or move it aside") from None
        return list(doc.get("silences", []))

    def active(self, now: datetime) -> list[dict[str, Any]]:
        return [s for s in self.all() if parse_time(s["expires_at"]) > now]

    @contextmanager
    def _locked(self) -> Iterator[list[dict[str, Any]]]:
        with exclusive(self.lock):
            items = self.all()
            yield items
            atomic_write_json(self.path, {"silences": items})

    def add(
        self, host: str, target: str | None, duration: int, reason: str, now: datetime, by: str = "cli"
    ) -> dict[str, Any]:
        if not reason.strip():
            raise SilenceError("a silence needs a reason")
        if not host:
            raise SilenceError("a silence needs a host (a name or a glob like 'pi*')")
        item = {
            "id": secrets.token_hex(4),
            "host": host,
            "target": target,
            "reason": reason,
            "by": by,
            "created_at": isotime(now),
            "expires_at": isotime(now + timedelta(seconds=duration)),
        }
        with self._locked() as items:
            items.append(item)
        self.journal.append(
            "silence_added", host=host, target=target, reason=reason, silence=item["id"], expires_at=item["expires_at"]
        )
        return item

    def remove(self, silence_id: str, now: datetime) -> dict[str, Any]:
        with self._locked() as items:
            for item in items:
                if item["id"] == silence_id and parse_time(item["expires_at"]) > now:
                    item["expires_at"] = isotime(now)
                    item["removed"] = True
                    break
            else:
                raise SilenceError(f"no active silence {silence_id!r}")
        self.journal.append("silence_removed", silence=silence_id, host=item["host"], target=item["target"])
        return item


def target_names(drift: Drift) -> set[str]:
    """What an operator may call the target: its name (container, peer, broker, mount slug), area/name,
    and whatever else the drift's area says it is called (a mount's path)."""
    return {drift.target, f"{drift.area}/{drift.target}", *drift.also_called}


def matches(silence: dict[str, Any], drift: Drift) -> bool:
    if not fnmatchcase(drift.host, silence["host"]):
        return False
    target = silence.get("target")
    return target is None or any(fnmatchcase(name, target) for name in target_names(drift))
