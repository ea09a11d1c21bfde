"""The storm breaker: when many actions would be written at once, write none until a human looks.

A storm is more than storm_max_actions distinct targets with an action within storm_window (the
ones written in that window count with this cycle's: event-triggered runs plan one host at a
time, so a fleet-wide outage arrives as many small cycles), or, on one host, at least two targets
and more than storm_host_fraction of its services. While it lasts every new action is held. It
ends with a calm cycle (nothing confirmed) or with `steward ack-storm`, whose acknowledgement
(engine/storm_ack.json) names the storm it is for: one left over is retired, kept under another
name, and never waves the next storm through.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from steward.core.atomic import atomic_write_json
from steward.desired.inventory import DesiredState
from steward.plan.drift import Drift
from steward.plan.keys import target_of
from steward.state.journal import Journal, isotime
from steward.state.memory import EngineMemory, StormState
from steward.state.paths import StatePaths
from steward.state.world import parse_time


@dataclass(frozen=True)
class StormVerdict:
    holding: bool  # hold every candidate of this cycle
    acknowledged: bool  # released by an acknowledgement: what this cycle writes starts no new count


class StormBreaker:
    def __init__(self, paths: StatePaths, journal: Journal) -> None:
        self.ack_path: Path = paths.engine / "storm_ack.json"
        self.journal = journal

    def judge(
        self, candidates: list[Drift], desired: DesiredState, memory: EngineMemory, now: datetime
    ) -> StormVerdict:
        """The verdict on this cycle's candidates (the drifts every gate let through); updates memory."""
        policy = desired.policy
        recent = [w for w in memory.written if (now - parse_time(w.at)).total_seconds() < policy.storm_window]
        memory.written = recent
        # distinct targets: a second action for the same container (a new episode) is not a storm
        targets = {(w.host, target_of(w.key)) for w in recent} | {(d.host, target_of(d.key)) for d in candidates}
        per_host: dict[str, int] = {}
        for host, _target in targets:
            per_host[host] = per_host.get(host, 0) + 1
        hosts_now = {d.host for d in candidates}
        crowded = [
            h
            for h, n in per_host.items()
            if h in hosts_now and n >= 2 and n > policy.storm_host_fraction * max(desired.hosts[h].service_count(), 1)
        ]
        total = len(targets)
        stormy = bool(candidates) and (total > policy.storm_max_actions or bool(crowded))
        if memory.storm and not stormy and not candidates:
            self.journal.append("storm_over", reason="the cycle is calm again")
            memory.storm = None
            self._retire_ack("unused")  # an acknowledgement is for one storm, never the next
        if not memory.storm and not stormy:
            return StormVerdict(holding=False, acknowledged=False)
        if self._ack_matches(memory.storm):
            self.ack_path.rename(self.ack_path.with_suffix(f".used-{memory.cycle}"))
            self.journal.append("storm_acknowledged", actions=len(candidates))
            memory.storm = None
            memory.written = []  # acknowledged: what was written so far no longer counts ...
            return StormVerdict(holding=False, acknowledged=True)  # ... nor what this cycle writes
        self._retire_ack("stale")
        if not memory.storm:
            why = (
                f"{total} new actions within {policy.storm_window} s (limit {policy.storm_max_actions})"
                if total > policy.storm_max_actions
                else f"more than {int(policy.storm_host_fraction * 100)} % of the services of "
                f"{', '.join(sorted(crowded))} at once"
            )
            memory.storm = StormState(since_cycle=memory.cycle, reason=why)
            self.journal.append(
                "storm",
                reason=why,
                keys=sorted(d.key for d in candidates),
                summary="storm breaker: no action written until `steward ack-storm` or a calm cycle",
            )
        return StormVerdict(holding=True, acknowledged=False)

    def request_ack(self, storm: StormState | None) -> bool:
        """Acknowledge this storm (the next cycle writes what it holds); False when there is none.

        The caller holds the engine lock: the storm cannot end or change between the read and the write."""
        if storm is None:
            return False
        # for this storm only: an ack left over when it ends must not wave the next one through
        atomic_write_json(self.ack_path, {"at": isotime(), "storm_since_cycle": storm.since_cycle})
        return True

    def _ack_matches(self, storm: StormState | None) -> bool:
        if storm is None or not self.ack_path.exists():
            return False
        try:
            ack = json.loads(self.ack_path.read_text())
        except (OSError, ValueError):
            return False
        return isinstance(ack, dict) and ack.get("storm_since_cycle") == storm.since_cycle

    def _retire_ack(self, why: str) -> None:
        """Move an acknowledgement that does not belong to the current storm out of the way (kept)."""
        if self.ack_path.exists():
            self.ack_path.rename(self.ack_path.with_suffix(f".{why}-{time.time_ns()}"))
