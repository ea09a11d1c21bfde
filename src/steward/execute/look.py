"""The look the executor takes at a host right before running an action on it.

The plan is judged on this look, not on the last world file: the container may have recovered
(restart policy, a human) since the plan was written or approved. No look means no run.
"""

from __future__ import annotations

from typing import Any

from steward.ansible.observe import observe
from steward.areas import check_problem
from steward.state.journal import Journal
from steward.state.settings import Settings
from steward.state.world import WorldFileError, validate_world


def look_now(settings: Settings, journal: Journal, host: str) -> tuple[dict[str, Any] | None, str]:
    """The host as a look right now sees it (node_observe's result), or None and why not."""
    try:
        outcome = observe(settings, journal, limit=host, wait=False)
    except Exception as exc:
        return None, f"could not look at {host} before running: {exc!r}"
    seen = outcome.worlds.get(host)
    if seen is None:
        return None, f"could not look at {host} before running (observe {outcome.status}, rc {outcome.rc})"
    try:
        return validate_world(seen, host, check_problem), ""
    except WorldFileError as exc:
        return None, f"the look at {host} before running returned an unusable world ({exc})"
