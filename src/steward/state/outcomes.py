"""Remediation outcomes per drift key: what backoff and escalation are decided from.

The executor records each verified / not-fixed run; the engine reads them. One small file
per key under engine/outcomes/, updated under a lock, written atomically.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from steward.core.atomic import atomic_write_json
from steward.core.locks import exclusive
from steward.state.journal import isotime
from steward.state.paths import StatePaths


class Outcomes:
    def __init__(self, paths: StatePaths) -> None:
        self.dir = paths.engine / "outcomes"
        self.locks = paths.locks

    def _file(self, key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()[:24]

    def get(self, key: str) -> dict[str, Any]:
        try:
            return dict(json.loads((self.dir / f"{self._file(key)}.json").read_text()))
        except (OSError, ValueError):
            return {"key": key, "failures": 0, "escalated": False}

    def all(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        if not self.dir.is_dir():
            return out
        for path in self.dir.glob("*.json"):
            try:
                doc = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            out[doc["key"]] = doc
        return out

    def _update(self, key: str, change: Any) -> dict[str, Any]:
        with exclusive(self.locks / f"outcome-{self._file(key)}.lock"):
            doc = self.get(key)
            change(doc)
            atomic_write_json(self.dir / f"{self._file(key)}.json", doc)
            return doc

    def record(self, key: str, action_id: str, fixed: bool, escalate_after: int) -> dict[str, Any]:
        def change(doc: dict[str, Any]) -> None:
            doc["failures"] = 0 if fixed else doc.get("failures", 0) + 1
            doc["last_action"] = action_id
            doc["last_outcome"] = "fixed" if fixed else "not_fixed"
            doc["last_outcome_at"] = isotime()
            if doc["failures"] >= escalate_after:
                doc["escalated"] = True

        return self._update(key, change)

    def clear(self, key: str) -> dict[str, Any]:
        def change(doc: dict[str, Any]) -> None:
            doc.update(failures=0, escalated=False, cleared_at=isotime())

        return self._update(key, change)
