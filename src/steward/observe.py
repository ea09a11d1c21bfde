"""Run observe.yml (all hosts or one) and journal that it happened."""

from __future__ import annotations

from steward.config import Settings
from steward.journal import Journal, utcnow
from steward.runner import RunOutcome, run_playbook


def new_cycle_id() -> str:
    return f"{utcnow():%Y%m%dT%H%M%S%fZ}"


def observe(settings: Settings, journal: Journal, limit: str | None = None) -> RunOutcome:
    paths = settings.paths.ensure()
    cycle = new_cycle_id()
    outcome = run_playbook(
        settings,
        settings.project_dir / "observe.yml",
        paths.runs / "observe",
        limit=limit,
        extravars={"steward_cycle": cycle},
        rotate_artifacts=20,
    )
    outcome.cycle = cycle
    journal.append(
        "observe_completed", cycle=cycle, limit=limit, status=outcome.status, rc=outcome.rc, hosts=sorted(outcome.hosts)
    )
    return outcome
