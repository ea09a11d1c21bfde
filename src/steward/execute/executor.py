"""The executor: runs approved actions, one claim at a time, and verifies the result.

For each file in approved/ it
1. claims it: takes the host's and the action's locks, then atomically renames
   approved/ID.yml -> running/; two executors never run one action twice;
2. refuses what it must not run: unsigned/edited files, any id that ever ended (done, failed,
   rejected, expired, quarantined: at most once, ever) and playbooks not of a remedy's one shape
   (one play, the action's host, the area's modules, no delegate_to/include) -> quarantine/; past
   their TTL or whose drift no longer holds on a look taken now -> expired/;
3. runs the exact bytes it verified (a copy in runs/ID/) through ansible_runner
   -> done/ or failed/ + a result file;
4. re-observes the host and journals action_verified or action_not_fixed (outcomes feed backoff).
On start, anything left in running/ without a live owner was interrupted: -> failed/, never re-run.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from steward.ansible.observe import observe
from steward.ansible.runner import run_playbook
from steward.areas import AREAS
from steward.core.atomic import atomic_write_bytes, atomic_write_json
from steward.core.locks import exclusive, try_exclusive
from steward.desired.inventory import DesiredState, DesiredStateError, load_desired_cached
from steward.plan.drift import Drift, blind_spot, compute_drift
from steward.plan.engine import Engine
from steward.plan.playbook import PlaybookShapeError, load_playbook, shape_problem
from steward.state.actions import ActionQueue, BadActionId, QueueError, check_id
from steward.state.journal import Journal, isotime, utcnow
from steward.state.outcomes import Outcomes
from steward.state.paths import recheck
from steward.state.settings import Settings
from steward.state.world import WorldFileError, parse_time, validate_world

# journal events that end an action (mirrors the ended folders; checked beside the ledger's end record)
END_EVENTS = (
    "action_succeeded",
    "action_failed",
    "action_rejected",
    "action_expired",
    "action_quarantined",
    "action_interrupted",
)


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
        self.journal = journal or Journal(self.paths.journal)
        self.queue = ActionQueue(self.paths, self.journal)
        self.engine = Engine(settings, self.journal)
        self.outcomes = Outcomes(self.paths)
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
            load_desired_cached(self.settings.inventory)
        except DesiredStateError as exc:
            report.skipped_reason = f"inventory invalid: {exc}"
            self.journal.append("executor_skipped", reason=report.skipped_reason)
            return report
        if self.engine.load_world() is None:
            report.skipped_reason = "world state unusable: not running anything on unverified evidence"
            return report
        for entry in approved:
            try:
                self._process_entry(entry, report)
            except QueueError as exc:  # one bad file never stops the others
                report.errors.append(f"{entry.name}: {exc}")
                self.journal.append("executor_error", file=entry.name, reason=str(exc))
        return report

    def _quarantine_foreign(self, entry: Path, reason: str, report: PassReport) -> None:
        """A file in approved/ that is not an action file at all (bad name, symlink, folder)."""
        target = self.paths.folder("quarantine") / f"{entry.name}.{int(time.time() * 1000)}"
        try:
            os.rename(entry, target)  # renames a symlink itself, never its target
        except FileNotFoundError:
            return
        atomic_write_json(
            target.with_name(target.name + ".reason.json"), {"file": entry.name, "reason": reason, "at": isotime()}
        )
        self.journal.append("action_quarantined", file=entry.name, reason=reason, dst=str(target))
        report.quarantined.append(entry.name)

    def _process_entry(self, entry: Path, report: PassReport) -> None:
        if entry.name.endswith(".result.json"):
            return
        if entry.is_symlink() or not entry.is_file():
            return self._quarantine_foreign(entry, "not a regular file (symlink or folder)", report)
        try:
            action_id = check_id(entry.stem) if entry.suffix == ".yml" else None
        except BadActionId:
            action_id = None
        if action_id is None:
            return self._quarantine_foreign(entry, "not an action file name (<id>.yml)", report)
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
        refusal, play = self._refusal(action_id, content)
        meta = play.get("vars", {}).get("steward_action", {})
        if refusal:
            self._settle(action_id, "quarantine", "action_quarantined", "quarantined", refusal)
            report.quarantined.append(action_id)
            return
        try:
            desired = load_desired_cached(self.settings.inventory)
        except DesiredStateError as exc:
            return self._release(action_id, f"inventory invalid: {exc}", report)
        # checks that need no look first: an expired plan never costs a look, nor does a full budget
        stale: str | None = None
        if parse_time(meta["expires_at"]) <= utcnow():
            stale = f"expired: TTL passed at {meta['expires_at']}"
        elif meta["host"] not in desired.hosts:
            stale = f"stale plan: {meta['host']} is no longer in the inventory"
        elif not self._is_the_remedy(meta, play, desired):
            stale = (
                f"not run: its tasks are not the remedy the inventory gives for {meta['key']} now "
                "(the inventory changed since it was written, or the engine did not write these tasks)"
            )
        elif not self._run_slot_free(desired.policy.max_runs_per_hour):
            return self._release(
                action_id, f"rate limit: {desired.policy.max_runs_per_hour} runs in the last hour", report
            )
        else:
            # judge on a look taken now, not on the last world file: the container may have
            # recovered (restart policy, a human) since the plan was written or approved
            world, why = self._look_now(meta["host"])
            if world is None:
                self._back_off_looking(action_id)
                return self._release(action_id, why, report)
            self._look_backoff.pop(action_id, None)
            stale = self._stale_reason(meta, desired, world, utcnow())
        if stale:
            self._settle(action_id, "expired", "action_expired", "expired", stale)
            report.expired.append(action_id)
            return
        if not self._reserve_run_slot(desired.policy.max_runs_per_hour):
            return self._release(
                action_id, f"rate limit: {desired.policy.max_runs_per_hour} runs in the last hour", report
            )
        copy = atomic_write_bytes(self.paths.runs / action_id / "playbook.yml", content)
        self._execute(action_id, meta, copy, report)

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

    def _runs_last_hour(self) -> list[str]:
        """Start times of the runs of the last hour (engine/runs_last_hour.json, older ones dropped)."""
        try:
            stamps = [str(t) for t in yaml.safe_load((self.paths.engine / "runs_last_hour.json").read_text()) or []]
        except (OSError, yaml.YAMLError):
            return []
        now = utcnow()
        return [t for t in stamps if (now - parse_time(t)).total_seconds() < 3600]

    def _run_slot_free(self, per_hour: int) -> bool:
        """Whether a run could start now (read only; _reserve_run_slot takes the slot)."""
        return len(self._runs_last_hour()) < per_hour

    def _reserve_run_slot(self, per_hour: int) -> bool:
        """Rate limit: at most `per_hour` runs started in any hour, across executors."""
        with exclusive(self.paths.locks / "rate.lock"):
            stamps = self._runs_last_hour()
            if len(stamps) >= per_hour:
                return False
            atomic_write_json(self.paths.engine / "runs_last_hour.json", [*stamps, isotime()])
            return True

    def _is_the_remedy(self, meta: dict[str, Any], play: dict[str, Any], desired: DesiredState) -> bool:
        """The play's tasks are exactly what the area's remedy gives, from the inventory, for this drift key.

        The shape check bounds what a signed file may do; this pins every argument (argv, image,
        container parameters) to what the inventory says right now."""
        host, area, target, kind = str(meta["key"]).split("/", 3)
        module = AREAS.get(area)
        if module is None or host != meta["host"] or host not in desired.hosts:
            return False
        remedy = module.remediation(Drift(host, area, target, kind, ""), desired.hosts[host])
        if remedy is None:
            return False
        return json.loads(json.dumps(remedy.tasks)) == json.loads(json.dumps(play.get("tasks")))

    def _refusal(self, action_id: str, content: bytes) -> tuple[str | None, dict[str, Any]]:
        """Why this file must not run (or None), and its one play from the verified bytes.

        In order: the engine's signature; the id never ended before (an action runs at most once,
        ever: its end is in the signed ledger, and in the journal); the playbook's shape (one play,
        the action's host, the area's remedy modules, nothing that runs elsewhere)."""
        reason = self.queue.ledger.verify(action_id, content)
        if reason:
            return reason, {}
        ended = self.queue.ended(action_id)
        if ended or self.journal.has_any(END_EVENTS, action_id):
            how = f"{ended['state']} at {ended['at']}" if ended else "its end is in the journal"
            why = f": {ended['reason']}" if ended and ended.get("reason") else ""
            return (
                f"action {action_id} has already ended ({how}{why}); an action runs at most once - "
                "the engine writes a new action while the drift holds"
            ), {}
        entry = self.queue.ledger.entry(action_id) or {}
        try:
            documents = load_playbook(content)
        except PlaybookShapeError as exc:
            return f"signed, but {exc}", {}
        area = str(entry.get("key", "")).split("/")[1:2]
        modules = getattr(AREAS.get(area[0]) if area else None, "REMEDY_MODULES", ())
        problem = shape_problem(documents, str(entry.get("host")), action_id, modules)
        if problem:
            return f"signed, but not the shape of a Steward remedy: {problem}", {}
        play = documents[0][0]
        meta = play["vars"]["steward_action"]
        if meta.get("key") != entry.get("key") or len(str(meta.get("key", "")).split("/")) != 4:
            return f"signed metadata names drift {meta.get('key')!r}, the ledger {entry.get('key')!r}", {}
        return None, play

    def _look_now(self, host: str) -> tuple[dict[str, Any] | None, str]:
        """The host as a look right now sees it (node_observe's result), or None and why not."""
        try:
            outcome = observe(self.settings, self.journal, limit=host, wait=False)
        except Exception as exc:  # noqa: BLE001 - no look means no run, never a crashed executor
            return None, f"could not look at {host} before running: {exc!r}"
        seen = outcome.worlds.get(host)
        if seen is None:
            return None, f"could not look at {host} before running (observe {outcome.status}, rc {outcome.rc})"
        try:
            return validate_world(seen, host), ""
        except WorldFileError as exc:
            return None, f"the look at {host} before running returned an unusable world ({exc})"

    def _stale_reason(
        self, meta: dict[str, Any], desired: DesiredState, world: dict[str, Any], now: datetime
    ) -> str | None:
        """Why the plan must not run on what `world` (a look taken just now) shows, or None.

        The TTL and the host's place in the inventory are checked before the look (_run_claimed).
        """
        host = meta["host"]
        if parse_time(world["observed_at"]) < parse_time(meta["evidence"]["observed_at"]):
            return "stale plan: the look is older than the plan's evidence"
        blind = blind_spot(world, meta["key"].split("/")[1], now, desired.policy.stale_after)
        if blind:
            return f"stale plan: cannot confirm the drift on a look taken now: {blind}"
        match = [
            d
            for d in compute_drift(desired.hosts[host], world, now, desired.policy.stale_after)
            if d.key == meta["key"]
        ]
        if not match:
            return (
                f"stale plan: drift {meta['key']} no longer holds on a look taken now (observed {world['observed_at']})"
            )
        if match[0].fingerprint != meta["evidence"]["fingerprint"]:
            return f"stale plan: the evidence for {meta['key']} changed since the plan was written"
        return None

    def _execute(self, action_id: str, meta: dict[str, Any], playbook: Path, report: PassReport) -> None:
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
        except Exception as exc:  # noqa: BLE001 - a runner crash is a failed action, never a lost one
            result = {"status": "failed", "rc": None, "runner_status": "error", "error": repr(exc)}
        result |= {"key": meta["key"], "host": host, "started_at": started, "finished_at": isotime()}
        folder = "done" if result["status"] == "succeeded" else "failed"
        self.queue.move(action_id, "running", folder, f"action_{result['status']}", result=result, rc=result["rc"])
        (report.succeeded if folder == "done" else report.failed).append(action_id)
        result["verification"] = self._verify(action_id, meta)
        atomic_write_json(self.queue.result(folder, action_id), {"id": action_id, "folder": folder, **result})

    def _verify(self, action_id: str, meta: dict[str, Any]) -> dict[str, Any]:
        """Re-observe the host; judge the drift key on that observation only."""
        host = meta["host"]
        try:
            outcome = observe(self.settings, self.journal, limit=host)
        except Exception as exc:  # noqa: BLE001 - the run happened; only its verdict is unknown
            reason = f"could not verify: the re-observation failed ({exc!r})"
            self.journal.append("action_unverified", action=action_id, key=meta["key"], host=host, reason=reason)
            return {"verified": None, "reason": reason}
        verdict: dict[str, Any] = {"verified": None, "observe_rc": outcome.rc}
        try:
            desired = load_desired_cached(self.settings.inventory)
        except DesiredStateError as exc:
            desired, verdict["reason"] = None, f"could not verify: inventory invalid: {exc}"
        # Judge on what this re-observation saw (node_observe's result in the run's events), not on
        # world/<host>.json: an event-triggered observe may have rewritten that file meanwhile.
        world = None
        if desired:
            seen = outcome.worlds.get(host)
            try:
                world = validate_world(seen, host) if seen is not None else None
            except WorldFileError as exc:
                verdict["reason"] = f"could not verify: the re-observation returned an unusable world ({exc})"
            else:
                if world is None:
                    verdict["reason"] = "could not verify: the re-observation did not observe the host"
        if desired and world:
            blind = blind_spot(world, meta["key"].split("/")[1], utcnow(), desired.policy.stale_after)
            keys = {d.key for d in compute_drift(desired.hosts[host], world, utcnow(), desired.policy.stale_after)}
            verdict["observed_at"] = world["observed_at"]
            if blind:
                verdict["reason"] = f"could not verify: {blind}"
            else:
                verdict["verified"] = meta["key"] not in keys
                verdict["reason"] = "drift gone" if verdict["verified"] else "drift still present after the run"
        if verdict["verified"] is None:  # undetermined: journaled, but no failure is counted
            self.journal.append(
                "action_unverified", action=action_id, key=meta["key"], host=host, reason=verdict["reason"]
            )
            return verdict
        escalate_after = desired.policy.escalate_after if desired else 3
        record = self.outcomes.record(meta["key"], action_id, bool(verdict["verified"]), escalate_after)
        verdict["failures_in_a_row"] = record["failures"]
        self.journal.append(
            "action_verified" if verdict["verified"] else "action_not_fixed",
            action=action_id,
            key=meta["key"],
            host=host,
            reason=verdict["reason"],
        )
        if not verdict["verified"] and record["failures"] == escalate_after:
            self.journal.append(
                "escalated",
                key=meta["key"],
                host=host,
                failures=record["failures"],
                summary=f"{record['failures']} remediations did not fix {meta['key']}: no more "
                f"actions for it until `steward clear {meta['key']}`",
            )
        return verdict

    def watch(self, interval: float = 5.0, max_passes: int | None = None) -> None:
        passes = 0
        while max_passes is None or passes < max_passes:
            # a long-running executor checks the state folder before every pass, as a start does:
            # unsafe now (a folder swapped for a symlink, modes changed) -> stop (UnsafeStateDir, exit 2)
            recheck()
            self.paths.ensure()
            try:
                self.run_once()
            except Exception as exc:  # noqa: BLE001 - a service keeps going; what it held is recovered
                self.journal.append("executor_error", reason=f"pass failed: {exc!r}")
            passes += 1
            time.sleep(interval)
