"""The run budget: at most max_runs_per_hour playbook runs started in any hour, across executors.

engine/runs_last_hour.json holds the start times of the last hour's runs (older ones dropped on
each write). Checking costs nothing (no look is spent on an action the budget would refuse);
reserving takes the slot under engine/locks/rate.lock, right before the run.
"""

from __future__ import annotations

import yaml

from steward.core.atomic import atomic_write_json
from steward.core.locks import exclusive
from steward.state.journal import isotime, utcnow
from steward.state.paths import StatePaths
from steward.state.world import parse_time


class RunBudget:
    def __init__(self, paths: StatePaths) -> None:
        self.path = paths.engine / "runs_last_hour.json"
        self.lock = paths.locks / "rate.lock"

    def runs_last_hour(self) -> list[str]:
        """Start times of the runs of the last hour."""
        try:
            stamps = [str(t) for t in yaml.safe_load(self.path.read_text()) or []]
        except (OSError, yaml.YAMLError):
            return []
        now = utcnow()
        return [t for t in stamps if (now - parse_time(t)).total_seconds() < 3600]

    def has_room(self, per_hour: int) -> bool:
        """Whether a run could start now (read only: `reserve` takes the slot)."""
        return len(self.runs_last_hour()) < per_hour

    def reserve(self, per_hour: int) -> bool:
        """Take a slot for a run starting now; False when the hour's budget is used up."""
        with exclusive(self.lock):
            stamps = self.runs_last_hour()
            if len(stamps) >= per_hour:
                return False
            atomic_write_json(self.path, [*stamps, isotime()])
            return True
