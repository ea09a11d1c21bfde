"""Use cases: the dry run beside a Compose action (`steward preview ID`, and after each plan cycle).

The dry run is of the remedy the *inventory* gives for the action's drift key (never of the tasks
in the file: a file in a queue folder is writable by approvers, and a dry run still copies a folder
to the node). It is stored as ``ID.preview.json`` beside the action, written atomically, journaled
``preview_taken``, carried along when the action moves, and shown by `steward show`. The executor
takes it again right before the run (execute/executor.py).
"""

from __future__ import annotations

from typing import Any

from steward.ansible.preview import previewable, read_preview, summary, take_preview
from steward.core.atomic import atomic_write_json
from steward.desired.cached import PersistedDesired, load_desired_cached
from steward.state.actions import ActionQueue, QueueError
from steward.state.journal import Journal
from steward.state.paths import PREVIEW_SUFFIX
from steward.state.settings import Settings

__all__ = ["NotPreviewable", "preview", "preview_for", "preview_new", "remedy_tasks", "summary"]

OPEN = ("pending", "approved")


class NotPreviewable(QueueError):
    """The action has no dry run: not a Compose remedy, or no longer open."""


def remedy_tasks(settings: Settings, key: str) -> list[dict[str, Any]] | None:
    """The tasks the inventory's remedy has for `key` now (None: no remedy, or the host left)."""
    remedy = load_desired_cached(settings.inventory, PersistedDesired(settings.paths)).remedy_for(key)
    return None if remedy is None else remedy.tasks


def preview(settings: Settings, action_id: str) -> dict[str, Any]:
    """Take the dry run of an open Compose action now and store it beside the action."""
    journal = Journal(settings.paths.journal)
    queue = ActionQueue(settings.paths, journal)
    folder, _ = queue.find(action_id)
    if folder not in OPEN:
        raise NotPreviewable(f"{action_id} is in {folder}/: only a pending or approved action gets a dry run")
    info = queue.info(folder, action_id)
    tasks = remedy_tasks(settings, str(info.key)) if info.key else None
    if not tasks or not previewable(tasks):
        raise NotPreviewable(f"{action_id} is not a Compose remedy: it has no dry run")
    taken = take_preview(settings, str(info.host), action_id, tasks)
    folder, _ = queue.find(action_id)  # it may have moved while the dry run ran: store it where it is now
    if folder not in OPEN:  # claimed or decided meanwhile: the executor takes its own before the run
        return taken
    atomic_write_json(queue.path(folder, action_id).with_name(action_id + PREVIEW_SUFFIX), taken)
    journal.append("preview_taken", action=action_id, key=info.key, host=info.host, summary=summary(taken))
    return taken


def preview_new(settings: Settings, action_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The dry run of each new action that is a Compose remedy (after a plan cycle); never raises for one."""
    taken = {}
    for action_id in action_ids:
        try:
            taken[action_id] = preview(settings, action_id)
        except QueueError:  # not a Compose remedy (NotPreviewable), or it moved on meanwhile
            continue
        except Exception as exc:  # a dry run that cannot be had never fails the cycle that wrote the action
            taken[action_id] = {"actions": [], "error": f"the dry run could not be taken: {exc!r}"}
    return taken


def preview_for(settings: Settings, action_id: str, folder: str) -> dict[str, Any] | None:
    """The stored dry run beside an action in `folder` (None when it has none)."""
    return read_preview(settings.paths.folder(folder) / f"{action_id}{PREVIEW_SUFFIX}")
