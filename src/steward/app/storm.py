"""Use case: acknowledge a storm (`steward ack-storm`).

The storm breaker holds back every action of a cycle that would write too many at once; an
acknowledgement lets the next cycle write them, for this storm only.
"""

from __future__ import annotations

from steward.app.errors import NoStorm
from steward.plan.engine import Engine
from steward.state.settings import Settings


def acknowledge(settings: Settings, via: str = "cli", by: str | None = None) -> None:
    """Let the next plan cycle write the held-back actions; NoStorm when nothing is held back.

    Journaled as `storm_ack_requested` with how (`via`) and who (`by`)."""
    if not Engine(settings).ack_storm(via, by):
        raise NoStorm("there is no storm to acknowledge")
