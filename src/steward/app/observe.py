"""Use case: look at the hosts (observe.yml), then plan on what was seen (`steward observe`).

The look itself, and the wait that lets it count as a new observation (confirm_interval),
are in steward.ansible.observe: the executor's verification look uses the same wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from steward.ansible.observe import observe as run_observe
from steward.ansible.runner import RunOutcome
from steward.app.plan import CycleReport, plan
from steward.app.preview import preview_new
from steward.state.journal import Journal
from steward.state.settings import Settings

SOME_HOST_UNREACHABLE = 4  # ansible-playbook's rc: the others were observed, the world files say who was not

__all__ = ["ObserveResult", "observe"]


@dataclass(frozen=True)
class ObserveResult:
    look: RunOutcome
    plan: CycleReport | None  # None with plan_after=False

    @property
    def looked(self) -> bool:
        """The look worked: every host observed, or some unreachable (that is an observation too)."""
        return self.look.status == "successful" or self.look.rc == SOME_HOST_UNREACHABLE

    @property
    def ok(self) -> bool:
        """The look worked and the cycle after it (if any) was not skipped."""
        return self.looked and not (self.plan is not None and self.plan.skipped)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"observe": self.look.as_dict()}
        if self.plan is not None:
            data["plan"] = self.plan.as_dict()
        return data


def observe(settings: Settings, limit: str | None = None, plan_after: bool = True) -> ObserveResult:
    """One observe.yml run (all hosts, or `limit`), then one plan cycle unless `plan_after` is False.

    DesiredStateError (journaled, nothing run) when the inventory or the limit cannot be used."""
    journal = Journal(settings.paths.journal)
    look = run_observe(settings, journal, limit=limit)
    report = plan(settings, journal) if plan_after else None
    if report is not None and report.new_actions:
        preview_new(settings, report.new_actions)  # the dry run beside each new Compose action
    return ObserveResult(look=look, plan=report)
