"""One plan cycle: load world + desired, track drift across observations, write pending actions.

Safety floor: an unusable world (any file empty/truncated/not JSON/wrong schema) skips the
cycle with a WARNING and a journal entry naming the files, keeps the last-known-good state, and
writes no action. So does an unusable desired state: an inventory that does not parse (raised
after the journal entry: a human must fix it), or one that changed while it was read (a skipped
cycle: the next one reads it again).

A cycle that runs, in order:
1. hosts that left the inventory are journaled once; their pending actions expire (plan/expiry.py);
2. each host's look, if it counts as a new observation, extends or resolves the drift streaks and
   feeds flap detection (plan/streaks.py, plan/flaps.py);
3. a drift seen confirm_after observations in a row, with no open action for its key, is confirmed;
4. the gates (plan/gates.py `GATES`, eight, in one documented order) hold or pass each one;
5. the storm breaker judges what passed as a whole (plan/storm.py);
6. what is left becomes signed pending actions (plan/propose.py); the memory is saved
   (state/memory.py) and pending actions past their TTL expire.

The world folder is read through plan/looks.py: each file is hashed on every cycle, and one whose
bytes (and whose host's desired value) are those of the last load is not parsed, validated or compared
again; what the cycle keeps of a document is its look (envelope and check statuses) and its area
comparison, never the document. The host-level verdict (unreachable, stale: it depends on the clock)
and step 2 onwards run on every host as written above, so reuse never changes a decision
(tests/unit/test_engine_reuse.py). Python's cyclic garbage collector is paused for the cycle (time spent
finding nothing: the cycle's data is trees, not cycles) and resumed however the cycle ends.
"""

from __future__ import annotations

import gc
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from steward.areas import check_problem
from steward.areas.docker.compose_hash import HASHES
from steward.core.locks import exclusive, try_exclusive
from steward.desired.cached import PersistedDesired, load_desired_cached
from steward.desired.inventory import (
    DesiredState,
    DesiredStateError,
    InventoryChanged,
    error_fields,
)
from steward.plan.drift import host_level_drift
from steward.plan.expiry import Expiry
from steward.plan.gates import Confirmed, GateContext, apply_gates
from steward.plan.keys import keys_by_host, target_of
from steward.plan.looks import LookedWorld, WorldLooks
from steward.plan.propose import propose_action
from steward.plan.report import CycleReport, world_unusable
from steward.plan.storm import StormBreaker
from steward.plan.streaks import count_observation, is_new_observation
from steward.state.actions import ActionInfo, ActionQueue
from steward.state.journal import Journal, isotime, utcnow
from steward.state.memory import BackoffMark, EngineMemory, WrittenAction, read_memory, write_memory
from steward.state.outcomes import Outcomes
from steward.state.paths import OPEN_FOLDERS
from steward.state.settings import Settings
from steward.state.signed_pickle import SignedPickle
from steward.state.silences import Silences
from steward.state.world import LastKnownGood

__all__ = ["CycleReport", "Engine"]


class Engine:
    def __init__(self, settings: Settings, journal: Journal | None = None) -> None:
        self.settings = settings
        self.journal = journal or Journal(settings.paths.journal)
        HASHES.use_file(settings.paths.compose_cache)  # Compose answers survive the process
        self.queue = ActionQueue(settings.paths, self.journal)
        self.silences = Silences(settings.paths, self.journal)
        self.outcomes = Outcomes(settings.paths)
        self.expiry = Expiry(self.queue, self.journal)
        self.storm = StormBreaker(settings.paths, self.journal)
        self.world_errors: dict[str, str] = {}  # the last load_world's unusable files -> why
        # each host's look and comparison, while its file's bytes are the same; a copy for the next process
        self.looks = WorldLooks(
            check_problem, SignedPickle(settings.paths.world_looks, settings.paths, b"world looks", True)
        )
        self.persisted = PersistedDesired(settings.paths, create_key=True)  # the desired state for the next process

    @property
    def storm_ack_path(self) -> Path:
        return self.storm.ack_path

    def load_world(self, desired: DesiredState) -> LookedWorld | None:
        """The current world, or None (journaled as cycle_skipped) when any file is unusable.

        A usable world becomes the last-known-good one: this is the plan cycle's look, not a peek."""
        snapshot = self.looks.load(self.settings.paths.world, desired)
        self.world_errors = snapshot.errors
        if not snapshot.usable:
            self.journal.append(
                "cycle_skipped",
                reason=f"{world_unusable(snapshot.errors)}; keeping last-known-good",
                files=sorted(snapshot.errors),
                errors=snapshot.errors,
            )
            return None
        LastKnownGood(self.settings.paths.last_good).save(snapshot.raw)
        snapshot.raw.clear()  # written: not held for the rest of the cycle
        return snapshot

    def plan(self, now: datetime | None = None) -> CycleReport:
        """One cycle; concurrent callers (cron, a rulebook-triggered observe) take turns."""
        with exclusive(self.settings.paths.locks / "engine.lock"), self.journal.batched():
            collecting = gc.isenabled()
            gc.disable()
            try:
                return self._plan(now or utcnow())
            finally:
                if collecting:
                    gc.enable()

    def ack_storm(self, via: str = "cli", by: str | None = None) -> bool:
        """Let the next cycle write what the storm breaker holds; False when there is no storm."""
        with exclusive(self.settings.paths.locks / "engine.lock"):
            if not self.storm.request_ack(read_memory(self.settings.paths).storm):
                return False
        self.journal.append("storm_ack_requested", via=via, by=by)
        return True

    def _plan(self, now: datetime) -> CycleReport:
        try:
            desired = load_desired_cached(self.settings.inventory, self.persisted)
        except InventoryChanged as exc:  # a read that raced a writer: skip, like a torn world file
            self.journal.append("cycle_skipped", **error_fields(exc))
            return CycleReport(skipped=True, reason=str(exc))
        except DesiredStateError as exc:  # a human must fix it: journaled, then raised (exit 2)
            self.journal.append("cycle_skipped", reported=True, **error_fields(exc))
            raise
        policy = desired.policy
        snapshot = self.load_world(desired)
        if snapshot is None:
            return CycleReport(
                skipped=True,
                reason=world_unusable(self.world_errors),
                confirm_after=policy.confirm_after,
                confirm_interval=policy.confirm_interval,
            )
        memory = read_memory(self.settings.paths)
        memory.cycle += 1
        report = CycleReport(
            cycle=memory.cycle, confirm_after=policy.confirm_after, confirm_interval=policy.confirm_interval
        )
        report.expired.extend(self.expiry.hosts_left_inventory(memory, desired, now))
        open_actions = self.queue.list(OPEN_FOLDERS)  # read once per cycle
        open_keys = {i.key for i in open_actions if i.key}
        busy = self._hosts_being_remediated(open_actions)
        confirmed = self._look_at_hosts(snapshot, desired, memory, open_keys, busy, report, now)
        gates = GateContext(
            desired=desired,
            memory=memory,
            now=now,
            queue=self.queue,
            busy_hosts=busy,
            open_targets={target_of(k) for k in open_keys},
            silences=self.silences.active(now),
            outcomes=self.outcomes.all(),
        )
        candidates, report.held = apply_gates(confirmed, gates, self.journal)
        verdict = self.storm.judge([c.drift for c in candidates], desired, memory, now)
        if verdict.holding:
            report.storm = True
            for item in candidates:
                report.held[item.drift.key] = "storm"
            candidates = []
        memory.held = dict(report.held)  # the storm's holds are remembered with the gates'
        for item in candidates:
            action_id = propose_action(self.queue, self.journal, desired, item, now)
            if action_id:
                report.new_actions.append(action_id)
                # a further action for this key needs fresh confirmation, not the same evidence again
                host = memory.host(item.drift.host)
                host.keys[item.drift.key].count = 0
                memory.backoff[item.drift.key] = BackoffMark(observation=host.observations, action=action_id)
                if not verdict.acknowledged:
                    memory.written.append(WrittenAction(at=isotime(now), host=item.drift.host, key=item.drift.key))
        write_memory(self.settings.paths, memory)
        self.looks.save()
        report.expired.extend(self.expiry.expire_past_ttl(now))
        return report

    def _look_at_hosts(
        self,
        snapshot: LookedWorld,
        desired: DesiredState,
        memory: EngineMemory,
        open_keys: set[str],
        busy: set[str],
        report: CycleReport,
        now: datetime,
    ) -> list[Confirmed]:
        """Every host's drift on this look: counted (if it is a new observation), reported, and the confirmed ones."""
        policy = desired.policy
        confirmed: list[Confirmed] = []
        open_of, flaps_of = keys_by_host(open_keys), keys_by_host(memory.flap)
        for name in sorted(desired.hosts):
            world: dict[str, Any] | None = snapshot.looks.get(name)  # its look (plan/looks.py)
            if world is None:
                continue
            host = memory.host(name)
            blocked = host_level_drift(name, world, now, policy.stale_after)
            drifts = [blocked] if blocked is not None else list(snapshot.areas[name])
            # while an executor runs or verifies an action on the host, its looks see the remediation
            # half-done: they are not counted (no streak extended or resolved, no flap sample)
            if name not in busy and is_new_observation(
                world["observed_at"], host.observed_at, policy.confirm_interval, now
            ):
                report.expired.extend(
                    count_observation(
                        memory,
                        host,
                        world,
                        drifts,
                        open_of.get(name, set()),
                        flaps_of.get(name, set()),
                        policy,
                        self.journal,
                        self.expiry,
                    )
                )
            for d in drifts:
                streak = host.keys.get(d.key)
                count = streak.count if streak else 0
                report.drifts.append(
                    {"key": d.key, "summary": d.summary, "observations": count, "notice_only": d.notice_only}
                )
                if d.notice_only or d.key in open_keys:
                    continue
                if streak and count >= policy.confirm_after:
                    confirmed.append(Confirmed(drift=d, streak=replace(streak), world=world))
                elif name not in busy:  # another look now would not count
                    report.confirming.append(d.key)
        return confirmed

    def _hosts_being_remediated(self, open_actions: list[ActionInfo]) -> set[str]:
        """Hosts whose executor lock is held right now (an action being checked, run or verified)."""
        busy = set()
        for info in open_actions:
            if info.folder != "pending" and info.host and info.host not in busy:
                with try_exclusive(self.settings.paths.locks / f"host-{info.host}.lock") as free:
                    if not free:
                        busy.add(info.host)
        return busy
