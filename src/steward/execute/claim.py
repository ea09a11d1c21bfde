"""What the executor checks around a claim: which files in approved/ are actions at all, and the
refusals judged on the claimed bytes before anything else is looked at.

The claim itself (the host's and the action's locks, then the atomic rename approved/ -> running/,
so two executors never run one action twice) is the executor's; these are its pure checks.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from steward.areas import AREAS
from steward.core.atomic import atomic_write_json
from steward.desired.inventory import DesiredState
from steward.plan.playbook import PlaybookShapeError, load_playbook, shape_problem
from steward.state.actions import ActionQueue, BadActionId, check_id
from steward.state.journal import Journal, isotime
from steward.state.paths import StatePaths

# journal events that end an action (mirrors the ended folders; checked beside the ledger's end record)
END_EVENTS = (
    "action_succeeded",
    "action_failed",
    "action_rejected",
    "action_expired",
    "action_quarantined",
    "action_interrupted",
)


def action_id_of(entry: Path) -> str | None:
    """The action id an approved/ file name carries (<id>.yml), or None when it is no action file."""
    try:
        return check_id(entry.stem) if entry.suffix == ".yml" else None
    except BadActionId:
        return None


def quarantine_foreign(paths: StatePaths, journal: Journal, entry: Path, reason: str) -> bool:
    """Move a file in approved/ that is not an action file at all (bad name, symlink, folder) to
    quarantine/ under a unique name, with the reason beside it; False when it vanished first."""
    target = paths.folder("quarantine") / f"{entry.name}.{int(time.time() * 1000)}"
    try:
        os.rename(entry, target)  # renames a symlink itself, never its target
    except FileNotFoundError:
        return False
    atomic_write_json(
        target.with_name(target.name + ".reason.json"), {"file": entry.name, "reason": reason, "at": isotime()}
    )
    journal.append("action_quarantined", file=entry.name, reason=reason, dst=str(target))
    return True


def refusal(queue: ActionQueue, journal: Journal, action_id: str, content: bytes) -> tuple[str | None, dict[str, Any]]:
    """Why this file must not run (or None), and its one play from the verified bytes.

    In order: the engine's signature; the id never ended before (an action runs at most once,
    ever: its end is in the signed ledger, and in the journal); the playbook's shape (one play,
    the action's host, the area's remedy modules, nothing that runs elsewhere)."""
    reason = queue.ledger.verify(action_id, content)
    if reason:
        return reason, {}
    ended = queue.ended(action_id)
    if ended or journal.has_any(END_EVENTS, action_id):
        how = f"{ended['state']} at {ended['at']}" if ended else "its end is in the journal"
        why = f": {ended['reason']}" if ended and ended.get("reason") else ""
        return (
            f"action {action_id} has already ended ({how}{why}); an action runs at most once - "
            "the engine writes a new action while the drift holds"
        ), {}
    entry = queue.ledger.entry(action_id) or {}
    try:
        documents = load_playbook(content)
    except PlaybookShapeError as exc:
        return f"signed, but {exc}", {}
    area = str(entry.get("key", "")).split("/")[1:2]
    modules = getattr(AREAS.get(area[0]) if area else None, "remedy_modules", ())
    problem = shape_problem(documents, str(entry.get("host")), action_id, modules)
    if problem:
        return f"signed, but not the shape of a Steward remedy: {problem}", {}
    play = documents[0][0]
    meta = play["vars"]["steward_action"]
    if meta.get("key") != entry.get("key") or len(str(meta.get("key", "")).split("/")) != 4:
        return f"signed metadata names drift {meta.get('key')!r}, the ledger {entry.get('key')!r}", {}
    return None, play


def is_the_remedy(meta: dict[str, Any], play: dict[str, Any], desired: DesiredState) -> bool:
    """The play's tasks are exactly what the area's remedy gives, from the inventory, for this drift key.

    The shape check bounds what a signed file may do; this pins every argument (argv, image,
    container parameters) to what the inventory says right now."""
    host, area = str(meta["key"]).split("/", 3)[:2]
    if AREAS.get(area) is None or host != meta["host"]:
        return False
    remedy = desired.remedy_for(str(meta["key"]))
    if remedy is None:
        return False
    return json.loads(json.dumps(remedy.tasks)) == json.loads(json.dumps(play.get("tasks")))
