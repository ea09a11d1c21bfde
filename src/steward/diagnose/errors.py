"""The two ways a diagnosis does not happen, and the action id check every path goes through."""

from __future__ import annotations

from steward.core.model import NAME_RE

MAX_ID_LENGTH = 151  # as the action queue's ids (steward.state.actions.ID_RE)


class NotDiagnosable(ValueError):
    """Nothing to diagnose (no such pending action, diagnosis off, already being diagnosed): nothing stored."""


class DiagnosisBusy(NotDiagnosable):
    """Another process is diagnosing this action right now: try again in a moment."""


class Unavailable(Exception):
    """No diagnosis for this action: stored as "diagnosis unavailable: <the message>"."""


def checked_id(action_id: str) -> str:
    """`action_id` when it can name a file in a queue folder, else NotDiagnosable (never a path elsewhere)."""
    ok = isinstance(action_id, str) and NAME_RE.fullmatch(action_id) and ".." not in action_id
    if not ok or len(action_id) > MAX_ID_LENGTH:
        raise NotDiagnosable(f"{action_id!r} is not an action id")
    return action_id
