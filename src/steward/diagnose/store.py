"""Where a diagnosis goes: `actions/pending/ID.diagnosis.json`, written atomically, and one journal event.

The file is beside the action, never inside it: the signed playbook is not touched, its
signature stays valid, and the engine and executor read only `ID.yml` (the queue lists `*.yml`;
the state folder check does not judge files in queue folders). `diagnosis_added` or
`diagnosis_unavailable` is journaled (and so published on the event stream).

A diagnosis is written only while the action is still in pending/: an action approved,
rejected or expired while the model was thinking is decided already, and its diagnosis is
journaled with `stored: false` instead of left behind in a folder it no longer is in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from steward.core.atomic import atomic_write_json, read_regular_file
from steward.diagnose.answer import Answer
from steward.diagnose.errors import checked_id
from steward.state.journal import Journal
from steward.state.paths import DIAGNOSIS_SUFFIX, QUEUE_FOLDERS, StatePaths

SUFFIX = DIAGNOSIS_SUFFIX
SCHEMA_VERSION = 1
NOTE = "A language model's reading of the evidence. It cannot approve, reject, run or change this action."


@dataclass(frozen=True)
class Diagnosis:
    action_id: str
    key: str | None
    host: str | None
    at: str
    model: str
    answer: Answer | None
    reason: str | None = None  # why it is unavailable
    seconds: float | None = None
    stored: Path | None = None  # the file written, None when the action had left pending/

    @property
    def ok(self) -> bool:
        return self.answer is not None

    @property
    def text(self) -> str:
        """One line: the summary, or "diagnosis unavailable: <reason>"."""
        return self.answer.summary if self.answer else f"diagnosis unavailable: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "id": self.action_id,
            "key": self.key,
            "host": self.host,
            "at": self.at,
            "model": self.model,
            "status": "ok" if self.ok else "unavailable",
            "answer": self.answer.as_dict() if self.answer else None,
            "reason": self.reason,
            "text": self.text,
            "seconds": self.seconds,
            "note": NOTE,
        }


def diagnosis_path(paths: StatePaths, folder: str, action_id: str) -> Path:
    return paths.folder(folder) / f"{checked_id(action_id)}{SUFFIX}"


def has_diagnosis(paths: StatePaths, action_id: str) -> bool:
    path = diagnosis_path(paths, "pending", action_id)
    return path.exists() or path.is_symlink()


def save(paths: StatePaths, journal: Journal, diagnosis: Diagnosis) -> Diagnosis:
    """Write it beside the pending action (if the action is still pending) and journal it."""
    action = paths.folder("pending") / f"{checked_id(diagnosis.action_id)}.yml"
    stored: Path | None = None
    if action.is_file() and not action.is_symlink():
        stored = atomic_write_json(diagnosis_path(paths, "pending", diagnosis.action_id), diagnosis.as_dict())
    fields: dict[str, Any] = {"action": diagnosis.action_id, "key": diagnosis.key, "host": diagnosis.host}
    fields |= {"model": diagnosis.model, "stored": stored is not None}
    if diagnosis.answer:
        journal.append(
            "diagnosis_added", **fields, confidence=diagnosis.answer.confidence, fix_fits=diagnosis.answer.fix_fits
        )
    else:
        journal.append("diagnosis_unavailable", **fields, reason=diagnosis.reason)
    return replace(diagnosis, stored=stored)


def read_diagnosis(paths: StatePaths, action_id: str, folder: str | None = None) -> dict[str, Any] | None:
    """The stored diagnosis of an action: beside it in `folder` (or any queue folder), else in pending/.

    Read without following a symlink (pending/ is writable by approvers); an unreadable file is
    reported as such, never raised."""
    folders = ([folder] if folder else list(QUEUE_FOLDERS)) + ["pending"]
    for name in dict.fromkeys(folders):
        path = diagnosis_path(paths, name, action_id)
        if not (path.exists() or path.is_symlink()):
            continue
        try:
            doc = json.loads(read_regular_file(path))
        except (OSError, ValueError) as exc:
            return {"status": "unreadable", "text": f"diagnosis unreadable: {path.name}: {exc}", "reason": str(exc)}
        return doc if isinstance(doc, dict) else {"status": "unreadable", "text": "diagnosis unreadable: not an object"}
    return None
