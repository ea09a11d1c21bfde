"""Use case: clear an escalation (`steward clear KEY`).

After `escalate_after` remediations in a row that did not fix a drift key, the engine writes
no more actions for it; clearing the key's failures lets it write them again.
"""

from __future__ import annotations

from steward.app.errors import NothingToClear
from steward.state.journal import Journal
from steward.state.outcomes import Outcomes
from steward.state.settings import Settings


def clear(settings: Settings, key: str, *, via: str, by: str | None) -> None:
    """Forget the key's failed remediations (journaled with how and by whom); NothingToClear if none."""
    outcomes = Outcomes(settings.paths.ensure())
    before = outcomes.get(key)
    if not before.get("failures") and not before.get("escalated"):
        raise NothingToClear(f"{key} has no failed remediations to clear")
    outcomes.clear(key)
    Journal(settings.paths.journal).append("escalation_cleared", key=key, via=via, by=by)
