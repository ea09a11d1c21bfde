"""Use cases on the action queue: list, show, approve, reject.

Every interface decides through these functions, so a decision made from the CLI, the web
page, the bot or a file moved by hand is the same move under the same lock (`ActionQueue`),
journaled with how (`via`) and by whom (`by`). A decision on an action that is no longer
where it must be (approved a second earlier elsewhere, expired, quarantined) raises
`QueueError` naming where it is: never a double move.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from steward.app.diagnose import diagnosis_for
from steward.app.preview import preview_for
from steward.core.atomic import read_regular_file
from steward.state.actions import ActionInfo, ActionQueue
from steward.state.journal import Journal
from steward.state.paths import QUEUE_FOLDERS
from steward.state.settings import Settings

OPEN_BY_DEFAULT = ("pending", "approved", "running")  # what `list` shows without --all

__all__ = ["QUEUE_FOLDERS", "ActionDetail", "ActionInfo", "Decision", "approve", "list_actions", "reject", "show"]


@dataclass(frozen=True)
class ActionDetail:
    """One action as `show` presents it: where it is, its playbook, its result once it ended, its diagnosis."""

    info: ActionInfo
    playbook: str | None  # the file's text (None for a symlink or a folder: never followed)
    result: Any  # the result file's JSON, {"unreadable": why}, or None while there is none
    diagnosis: dict[str, Any] | None = None  # a model's reading (app/diagnose.diagnosis_for), None when off
    preview: dict[str, Any] | None = None  # a Compose remedy's dry run (app/preview.preview_for), None: none

    @property
    def folder(self) -> str:
        return self.info.folder

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.info.as_dict(),
            "result": self.result,
            "playbook": self.playbook,
            "diagnosis": self.diagnosis,
            "preview": self.preview,
        }


@dataclass(frozen=True)
class Decision:
    """An approval or rejection as it was made: the action's new place and who made it how."""

    action: str
    folder: str  # approved | rejected
    path: Path
    via: str
    by: str | None
    reason: str | None


def _queue(settings: Settings) -> ActionQueue:
    return ActionQueue(settings.paths, Journal(settings.paths.journal))


def list_actions(settings: Settings, every_folder: bool = False) -> list[ActionInfo]:
    """Actions in pending/, approved/ and running/ (the open ones); `every_folder`: ended ones too."""
    return _queue(settings).list(QUEUE_FOLDERS if every_folder else OPEN_BY_DEFAULT)


def show(settings: Settings, action_id: str) -> ActionDetail:
    """One action wherever it is (ActionNotFound when it is nowhere)."""
    actions = _queue(settings)
    folder, path = actions.find(action_id)
    result_path = actions.result(folder, action_id)
    result: Any = None
    if os.path.lexists(result_path):  # a queue folder is writable by approvers: never follow, never trace back
        try:
            result = json.loads(read_regular_file(result_path))
        except (OSError, ValueError) as exc:
            result = {"unreadable": f"{result_path.name}: {exc}"}
    playbook = None
    if path.is_file() and not path.is_symlink():
        playbook = read_regular_file(path).decode("utf-8", errors="replace")
    return ActionDetail(
        info=actions.info(folder, action_id),
        playbook=playbook,
        result=result,
        diagnosis=diagnosis_for(settings, action_id, folder),
        preview=preview_for(settings, action_id, folder),
    )


def approve(settings: Settings, action_id: str, *, via: str, by: str | None, reason: str | None = None) -> Decision:
    """pending/ -> approved/: the same move as `mv`; the executor runs it on its next pass."""
    path = _queue(settings).approve(action_id, via=via, by=by, reason=reason)
    return Decision(action=action_id, folder="approved", path=path, via=via, by=by, reason=reason)


def reject(settings: Settings, action_id: str, reason: str, *, via: str, by: str | None) -> Decision:
    """pending/ or approved/ -> rejected/, with a reason (required): it never runs."""
    path = _queue(settings).reject(action_id, reason, via=via, by=by)
    return Decision(action=action_id, folder="rejected", path=path, via=via, by=by, reason=reason)
