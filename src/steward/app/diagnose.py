"""Use cases: a model's second opinion on a pending action (`steward diagnose ID | --once | --watch`),
the diagnosis `steward show` prints beside an action, and the diagnosis server's health for `status`.

The asking is steward.diagnose's (read, look, redact, ask, store; never act). What this adds is
what an interface needs around it: a clear refusal for an id that is not pending (naming where
it is), and the diagnosis of any action wherever it is now - the stored one, or a line saying
why there is none. The stored text is a model's answer to untrusted logs: an interface prints
it only through `diagnosis_lines` (every value through inert.terminal) or as JSON.

One place asks for new pending actions: the `steward diagnose --watch` service, so the engine
and the executor never wait on a model (docs/diagnosis.md, docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from steward.desired.inventory import DesiredStateError
from steward.diagnose.action import diagnose_action, diagnose_new_pending, watch_pending
from steward.diagnose.client import server_status
from steward.diagnose.config import DiagnosisConfigError, load_config
from steward.diagnose.errors import DiagnosisBusy, NotDiagnosable
from steward.diagnose.show import diagnosis_lines
from steward.diagnose.store import Diagnosis, read_diagnosis
from steward.state.actions import ActionQueue, QueueError
from steward.state.journal import Journal
from steward.state.settings import Settings

__all__ = [
    "Diagnosis",
    "DiagnosisBusy",
    "NotDiagnosable",
    "NotPending",
    "diagnose",
    "diagnose_new",
    "diagnosis_for",
    "diagnosis_is_on",
    "diagnosis_lines",
    "health",
    "watch",
]


class NotPending(QueueError):
    """`steward diagnose ID` for an action that is not in pending/: it is decided already."""


def _folder_of(settings: Settings, action_id: str) -> str:
    """The queue folder the action is in (ActionNotFound, BadActionId: QueueErrors the CLI maps to exit 2)."""
    folder, _ = ActionQueue(settings.paths, Journal(settings.paths.journal)).find(action_id)
    return folder


def diagnose(settings: Settings, action_id: str) -> Diagnosis:
    """Ask now (again, if it has one) for pending action `action_id`; the Diagnosis, ok or unavailable, stored.

    NotPending when the action is in another folder; ActionNotFound when it is nowhere;
    NotDiagnosable when diagnosis is off (DiagnosisBusy while another process asks for it);
    DiagnosisConfigError (a ConfigError) for a malformed steward_diagnosis."""
    folder = _folder_of(settings, action_id)
    if folder != "pending":
        raise NotPending(f"{action_id} is in {folder}/: only a pending action is diagnosed")
    return diagnose_action(settings, action_id)


def diagnose_new(settings: Settings) -> list[Diagnosis]:
    """One pass: a diagnosis for every pending action that has none yet ([] when diagnosis is off)."""
    return diagnose_new_pending(settings)


def watch(settings: Settings, interval: float, on_pass: Callable[[list[Diagnosis]], None] | None = None) -> None:
    """Pass after pass until interrupted (KeyboardInterrupt); the configuration is read anew each pass."""
    watch_pending(settings, interval, on_pass=on_pass)


def diagnosis_is_on(settings: Settings) -> bool:
    """Whether steward_diagnosis / STEWARD_OLLAMA_URL switch it on (DiagnosisConfigError when malformed)."""
    return load_config(settings).enabled


def diagnosis_for(settings: Settings, action_id: str, folder: str) -> dict[str, Any] | None:
    """What `show` prints about the diagnosis of the action in `folder`/.

    The stored diagnosis wherever it is (beside the action, or left in pending/ by a hand move),
    whether diagnosis is on now or not: it is the record made when the action waited. With none
    stored: None when diagnosis is off (nothing to say), a note for a pending action still
    waiting for the service, None for an action decided before it got one. A configuration or
    inventory that cannot be read never makes `show` fail: it becomes the reason."""
    stored = read_diagnosis(settings.paths, action_id, folder)
    if stored is not None:
        return stored
    try:
        on = load_config(settings).enabled
    except (DiagnosisConfigError, DesiredStateError) as exc:
        return {"status": "unavailable", "reason": str(exc), "text": f"diagnosis unavailable: {exc}"}
    if not on or folder != "pending":
        return None
    why = "not diagnosed yet (the steward diagnose --watch service writes one; steward diagnose ID asks now)"
    return {"status": "none", "reason": why, "text": f"diagnosis: {why}"}


def health(settings: Settings) -> str | None:
    """One line on the diagnosis server (version, model there or missing), None when diagnosis is off."""
    try:
        config = load_config(settings)
    except (DiagnosisConfigError, DesiredStateError) as exc:
        return f"diagnosis: not usable: {exc}"
    return server_status(config) if config.enabled else None
