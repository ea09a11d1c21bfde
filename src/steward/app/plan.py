"""Use case: one plan cycle (`steward plan`, `steward observe` after its look, the plan action).

A skipped cycle (unusable world state, an inventory that changed while it was read) is a
report with `skipped` set, not an error: nothing was written and the last-known-good is kept.
An inventory with errors raises DesiredStateError (journaled first).
"""

from __future__ import annotations

from steward.plan.engine import CycleReport, Engine
from steward.state.journal import Journal
from steward.state.settings import Settings

__all__ = ["CycleReport", "NoWorldState", "confirming_hosts", "plan", "plan_after_a_look"]


class NoWorldState(ValueError):
    """A plan asked for on a state folder with nothing observed in it."""


def plan(settings: Settings, journal: Journal | None = None) -> CycleReport:
    """One drift cycle over the current world state (concurrent callers take turns)."""
    return Engine(settings, journal).plan()


def plan_after_a_look(settings: Settings) -> CycleReport:
    """The cycle an observe run asks for right after its look (the homelab.steward.plan action).

    Never on a state folder without world/: a fresh, empty folder has no memory of open
    actions, rejections or storms, so planning there would act as if none existed."""
    if not settings.paths.world.is_dir():
        raise NoWorldState(f"no world state in {settings.paths.world}: nothing observed there to plan on")
    settings.paths.ensure()
    return plan(settings)


def confirming_hosts(report: CycleReport) -> list[str]:
    """The hosts to look at again: one more look may confirm a drift seen there (sorted, once each)."""
    return sorted({key.split("/", 1)[0] for key in report.confirming})
