"""The executor: runs approved actions, one claim at a time, and verifies the result.

For each file in approved/ it
1. claims it: takes the host's and the action's locks, then atomically renames
   approved/ID.yml -> running/; two executors never run one action twice;
2. refuses what it must not run (execute/claim.py): unsigned/edited files, any id that ever ended
   (done, failed, rejected, expired, quarantined: at most once, ever) and playbooks not of a
   remedy's one shape (one play, the action's host, the area's modules, no delegate_to/include)
   -> quarantine/; past their TTL, not the inventory's remedy, or whose drift no longer holds on a
   look taken now (execute/look.py, execute/judge.py) -> expired/; no run slot left this hour
   (execute/budget.py) -> back to approved/;
3. runs the exact bytes it verified (a copy in runs/ID/) through ansible_runner
   -> done/ or failed/ + a result file;
4. re-observes the host and journals action_verified or action_not_fixed (execute/verify.py;
   outcomes feed backoff).
On start, anything left in running/ without a live owner was interrupted: -> failed/, never re-run.
The executor only reads the world to refuse to run on an unusable one: it journals no plan cycle
and leaves the last-known-good state to the engine.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steward.ansible.preview import changed_kind, previewable, read_preview, take_preview
from steward.ansible.runner import run_playbook
from steward.areas import check_problem
from steward.areas.docker.compose import own_container_names
from steward.areas.docker.compose_hash import HASHES
from steward.core.atomic import atomic_write_bytes, atomic_write_json
from steward.core.locks import try_exclusive
from steward.desired.cached import PersistedDesired, load_desired_cached
from steward.desired.host import DesiredState
from steward.desired.inventory import DesiredStateError
from steward.execute.budget import RunBudget
from steward.execute.claim import action_id_of, is_the_remedy, quarantine_foreign, refusal
from steward.execute.judge import stale_reason
from steward.execute.look import look_now
from steward.execute.verify import verify
from steward.plan.report import world_unusable
from steward.state.actions import ActionQueue, QueueError
from steward.state.journal import Journal, isotime, utcnow
from steward.state.outcomes import Outcomes
from steward.state.paths import PREVIEW_SUFFIX, SIDECAR_SUFFIXES, recheck
from steward.state.settings import Settings
from steward.state.world import load_world, parse_time


@dataclass
class PassReport:
    ran: list[str] = field(default_factory=list)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class Executor:
    def __init__(self, settings: Settings, journal: Journal | None = None) -> None:
        self.settings = settings
        self.paths = settings.paths.ensure()
        HASHES.use_file(settings.paths.compose_cache)  # Compose answers survive the process
        self.journal = journal or Journal(self.paths.journal)
        self.queue = ActionQueue(self.paths, self.journal)
        self.outcomes = Outcomes(self.paths)
        self.budget = RunBudget(self.paths)
        # action id -> (failed looks in a row, monotonic time before which it is not tried again)
        self._look_backoff: dict[str, tuple[int, float]] = {}

    def _lock(self, name: str) -> Any:
        return try_exclusive(self.paths.locks / f"{name}.lock")

    # -- start-up recovery ----------------------------------------------------------
    def recover(self) -> list[str]:
        """running/ files whose owner is gone were interrupted: move them to failed/, never re-run."""
        out = []
        for action_id in self.queue.ids("running"):
            with self._lock(action_id) as mine:
                if not mine or not self.queue.path("running", action_id).exists():
                    continue  # a live executor holds it, or it just moved on
                started = self.journal.has("action_running", action_id)
                why = (
                    (
                        "the executor stopped while this action was running; not re-run automatically: "
                        "check the host, then decide"
                    )
                    if started
                    else ("the executor stopped after claiming this action, before running it; it did not run")
                )
                try:
                    self.queue.move(
                        action_id,
                        "running",
                        "failed",
                        "action_interrupted",
                        result={"status": "interrupted", "started": started, "reason": why},
                        reason="interrupted",
                    )
                except QueueError as exc:
                    self.journal.append("executor_error", action=action_id, reason=str(exc))
                    continue
                out.append(action_id)
        return out

    # -- one pass -------------------------------------------------------------------
    def run_once(self) -> PassReport:
        report = PassReport(interrupted=self.recover())
        approved = sorted(p for p in self.paths.folder("approved").iterdir() if not p.name.startswith("."))
        if not approved:
            return report
        try:
            load_desired_cached(self.settings.inventory, PersistedDesired(self.paths))
        except DesiredStateError as exc:
            report.skipped_reason = f"inventory invalid: {exc}"
            self.journal.append("executor_skipped", reason=report.skipped_reason)
            return report
        world = load_world(
            self.paths.world, check_problem
        )  # a look at the files only: no plan cycle, no last-known-good
        if not world.usable:
            report.skipped_reason = "world state unusable: not running anything on unverified evidence"
            self.journal.append(
                "executor_skipped",
                reason=f"{world_unusable(world.errors)}; not running anything on unverified evidence",
                files=sorted(world.errors),
            )
            return report
        for entry in approved:
            try:
                self._process_entry(entry, report)
            except QueueError as exc:  # one bad file never stops the others
                report.errors.append(f"{entry.name}: {exc}")
                self.journal.append("executor_error", file=entry.name, reason=str(exc))
        return report

    def _process_entry(self, entry: Path, report: PassReport) -> None:
        if entry.name.endswith((".result.json", *SIDECAR_SUFFIXES)):
            return  # beside an action (its result, its diagnosis): text, never an action to claim
        if entry.is_symlink() or not entry.is_file():
            if quarantine_foreign(self.paths, self.journal, entry, "not a regular file (symlink or folder)"):
                report.quarantined.append(entry.name)
            return
        action_id = action_id_of(entry)
        if action_id is None:
            if quarantine_foreign(self.paths, self.journal, entry, "not an action file name (<id>.yml)"):
                report.quarantined.append(entry.name)
            return
        host = (self.queue.ledger.entry(action_id) or {}).get("host", "-unsigned-")
        with self._lock(f"host-{host}") as host_free, self._lock(action_id) as mine:
            if not mine:
                return
            if not host_free:  # one run at a time per host; it stays in approved/ for the next pass
                report.deferred.append(action_id)
                return
            if self._look_backoff.get(action_id, (0, 0.0))[1] > time.monotonic():
                report.deferred.append(action_id)  # its host could not be looked at: later
                return
            try:
                self.queue.move(action_id, "approved", "running", None)
            except QueueError:
                return  # another executor claimed it first
            self.queue.journal_file_approval(action_id)  # a file moved into approved/ by hand
            self.queue.gather_sidecars(action_id, "running")  # ...left its diagnosis, its dry run in pending/
            self.journal.append("action_claimed", action=action_id, src="approved", dst="running", pid=os.getpid())
            self._run_claimed(action_id, report)

    def _settle(self, action_id: str, dst: str, event: str, status: str, reason: str) -> None:
        """running/ -> dst/ with a result; a name clash in quarantine/ gets a unique name, never an overwrite."""
        self.queue.move(
            action_id,
            "running",
            dst,
            event,
            result={"status": status, "reason": reason},
            reason=reason,
            unique=dst == "quarantine",
        )

    def _run_claimed(self, action_id: str, report: PassReport) -> None:
        running = self.queue.path("running", action_id)
        content = running.read_bytes()  # these exact bytes are verified, checked and run
        refused, play = refusal(self.queue, self.journal, action_id, content)
        meta = play.get("vars", {}).get("steward_action", {})
        if refused:
            self._settle(action_id, "quarantine", "action_quarantined", "quarantined", refused)
            report.quarantined.append(action_id)
            return
        try:
            desired = load_desired_cached(self.settings.inventory, PersistedDesired(self.paths))
        except DesiredStateError as exc:
            return self._release(action_id, f"inventory invalid: {exc}", report)
        per_hour = desired.policy.max_runs_per_hour
        # checks that need no look first: an expired plan never costs a look, nor does a full budget
        stale: str | None = None
        world: dict[str, Any] | None = None
        if parse_time(meta["expires_at"]) <= utcnow():
            stale = f"expired: TTL passed at {meta['expires_at']}"
        elif meta["host"] not in desired.hosts:
            stale = f"stale plan: {meta['host']} is no longer in the inventory"
        elif not is_the_remedy(meta, play, desired):
            stale = (
                f"not run: its tasks are not the remedy the inventory gives for {meta['key']} now "
                "(the inventory changed since it was written, or the engine did not write these tasks)"
            )
        elif not self.budget.has_room(per_hour):
            return self._release(action_id, f"rate limit: {per_hour} runs in the last hour", report)
        else:
            # judge on a look taken now, not on the last world file: the container may have
            # recovered (restart policy, a human) since the plan was written or approved
            world, why = look_now(self.settings, self.journal, meta["host"])
            if world is None:
                self._back_off_looking(action_id)
                return self._release(action_id, why, report)
            self._look_backoff.pop(action_id, None)
            stale = stale_reason(meta, desired, world, utcnow()) or self._dry_run_changed(
                action_id, meta, play, desired
            )
        if stale:
            self._settle(action_id, "expired", "action_expired", "expired", stale)
            report.expired.append(action_id)
            return
        if not self.budget.reserve(per_hour):
            return self._release(action_id, f"rate limit: {per_hour} runs in the last hour", report)
        copy = atomic_write_bytes(self.paths.runs / action_id / "playbook.yml", content)
        self._execute(action_id, meta, copy, report, world)

    def _dry_run_changed(
        self, action_id: str, meta: dict[str, Any], play: dict[str, Any], desired: DesiredState
    ) -> str | None:
        """A Compose remedy: its dry run again, right before the run; of another kind than the stored one -> stale."""
        tasks = play.get("tasks") or []
        if not previewable(tasks):
            return None
        stored = self.queue.path("running", action_id).with_name(action_id + PREVIEW_SUFFIX)
        now = take_preview(self.settings, meta["host"], action_id, tasks)  # is_the_remedy: the inventory's tasks
        _host, area, target, _kind = str(meta["key"]).split("/", 3)
        own = own_container_names(desired.hosts[meta["host"]].want(area), target)
        why = changed_kind(read_preview(stored), now, own)
        atomic_write_json(self.paths.runs / action_id / "preview-before-run.json", now)
        return why

    def _release(self, action_id: str, reason: str, report: PassReport) -> None:
        """Not now (no usable evidence, no run slot): back to approved/ for a later pass."""
        self.queue.move(action_id, "running", "approved", None)
        if not self.journal.has("action_deferred", action_id):
            self.journal.append("action_deferred", action=action_id, reason=reason)
        report.deferred.append(action_id)

    def _back_off_looking(self, action_id: str) -> None:
        """Failed looks at an action's host: retry after 30 s, 60 s, ... at most 15 min (this process)."""
        failures = self._look_backoff.get(action_id, (0, 0.0))[0] + 1
        self._look_backoff[action_id] = (failures, time.monotonic() + min(30 * 2 ** (failures - 1), 900))

    def _execute(
        self, action_id: str, meta: dict[str, Any], playbook: Path, report: PassReport, before: dict[str, Any] | None
    ) -> None:
        host = meta["host"]
        started = isotime()
        self.journal.append("action_running", action=action_id, key=meta["key"], host=host, pid=os.getpid())
        report.ran.append(action_id)
        try:
            outcome = run_playbook(self.settings, playbook, self.paths.runs / action_id, limit=host)
            result: dict[str, Any] = {
                "status": "succeeded" if outcome.ok else "failed",
                "rc": outcome.rc,
                "runner_status": outcome.status,
                "tasks": outcome.tasks,
                "stats": outcome.hosts,
                "artifacts": outcome.private_data_dir,
            }
        except Exception as exc:  # a runner crash is a failed action, never a lost one
            result = {"status": "failed", "rc": None, "runner_status": "error", "error": repr(exc)}
        result |= {"key": meta["key"], "host": host, "started_at": started, "finished_at": isotime()}
        folder = "done" if result["status"] == "succeeded" else "failed"
        self.queue.move(action_id, "running", folder, f"action_{result['status']}", result=result, rc=result["rc"])
        (report.succeeded if folder == "done" else report.failed).append(action_id)
        result["verification"] = verify(self.settings, self.journal, self.outcomes, action_id, meta, before)
        atomic_write_json(self.queue.result(folder, action_id), {"id": action_id, "folder": folder, **result})

    def watch(self, interval: float = 5.0, max_passes: int | None = None) -> None:
        passes = 0
        while max_passes is None or passes < max_passes:
            # a long-running executor checks the state folder before every pass, as a start does:
            # unsafe now (a folder swapped for a symlink, modes changed) -> stop (UnsafeStateDir, exit 2)
            recheck()
            self.paths.ensure()
            try:
                self.run_once()
            except Exception as exc:  # a service keeps going; what it held is recovered
                self.journal.append("executor_error", reason=f"pass failed: {exc!r}")
            passes += 1
            time.sleep(interval)
