"""The executor: runs approved actions, one claim at a time, and verifies the result.

For each file in approved/ it
1. claims it: takes a per-action lock, then atomically renames approved/ID.yml -> running/;
   two executors never run one action twice;
2. refuses what it must not run: unsigned/edited files and replays -> quarantine/,
   past their TTL or whose drift no longer holds on the newest world -> expired/;
3. runs it through ansible_runner (artifacts in runs/ID/) -> done/ or failed/ + a result file;
4. re-observes the host and journals action_verified or action_not_fixed.
On start, anything left in running/ without a live owner was interrupted: -> failed/, never re-run.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from steward.config import Settings
from steward.desired import DesiredStateError, load_desired
from steward.drift import blind_spot, compute_drift
from steward.engine import Engine
from steward.journal import Journal, isotime, utcnow
from steward.observe import observe
from steward.outcomes import Outcomes
from steward.paths import ENDED_FOLDERS
from steward.queue import ID_RE, ActionQueue, QueueError
from steward.runner import run_playbook
from steward.store.atomic import atomic_write_json
from steward.store.world import parse_time


@dataclass
class PassReport:
    ran: list[str] = field(default_factory=list)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
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

    # -- locking -----------------------------------------------------------------
    @contextmanager
    def _lock(self, name: str) -> Iterator[bool]:
        """Non-blocking lock (per action, per host); released by the kernel if this process dies."""
        fd = os.open(self.paths.locks / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    # -- start-up recovery ----------------------------------------------------------
    def recover(self) -> list[str]:
        """running/ files whose owner is gone were interrupted: move them to failed/, never re-run."""
        out = []
        for action_id in self.queue.ids("running"):
            with self._lock(action_id) as mine:
                if not mine:
                    continue  # a live executor holds it
                if not self.queue.path("running", action_id).exists():
                    continue
                self.queue.move(
                    action_id,
                    "running",
                    "failed",
                    "action_interrupted",
                    result={
                        "status": "interrupted",
                        "reason": "the executor stopped while this action was running; "
                        "not re-run automatically: check the host, then decide",
                    },
                    reason="interrupted",
                )
                out.append(action_id)
        return out

    # -- one pass -------------------------------------------------------------------
    def run_once(self) -> PassReport:
        report = PassReport(interrupted=self.recover())
        approved = sorted(self.paths.folder("approved").iterdir())
        if not approved:
            return report
        try:
            desired = load_desired(self.settings.inventory)
        except DesiredStateError as exc:
            report.skipped_reason = f"inventory invalid: {exc}"
            self.journal.append("executor_skipped", reason=report.skipped_reason)
            return report
        snapshot = self.engine.load_world()
        if snapshot is None:
            report.skipped_reason = "world state unusable: not running anything on unverified evidence"
            return report
        for entry in approved:
            if entry.name.startswith("."):
                continue
            self._process_entry(entry, desired, snapshot, report)
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

    def _process_entry(self, entry: Path, desired: Any, snapshot: Any, report: PassReport) -> None:
        name = entry.name
        if name.endswith(".result.json"):
            return
        if entry.is_symlink() or not entry.is_file():
            return self._quarantine_foreign(entry, "not a regular file (symlink or folder)", report)
        if entry.suffix != ".yml" or not ID_RE.match(entry.stem) or ".." in entry.stem:
            return self._quarantine_foreign(entry, "not an action file name (<id>.yml)", report)
        action_id = entry.stem
        host = (self.queue.ledger.entry(action_id) or {}).get("host", "-unsigned-")
        with self._lock(f"host-{host}") as host_free, self._lock(action_id) as mine:
            if not mine:
                return
            if not host_free:  # one run at a time per host; it stays in approved/ for the next pass
                report.deferred.append(action_id)
                return
            if not self._reserve_run_slot(desired.policy.max_runs_per_hour, action_id):
                report.deferred.append(action_id)
                return
            try:
                self.queue.move(action_id, "approved", "running", None)
            except QueueError:
                return  # another executor claimed it first
            if not self.journal.has("action_approved", action_id):
                self.journal.append("action_approved", action=action_id, via="file move (seen by the executor)")
            self.journal.append("action_claimed", action=action_id, src="approved", dst="running", pid=os.getpid())
            self._run_claimed(action_id, desired, snapshot, report)

    def _reserve_run_slot(self, per_hour: int, action_id: str) -> bool:
        """Rate limit: at most `per_hour` claimed runs in any hour, across executors."""
        path = self.paths.engine / "runs_last_hour.json"
        fd = os.open(self.paths.locks / "rate.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                stamps = [str(t) for t in json.loads(path.read_text())]
            except (OSError, ValueError):
                stamps = []
            now = utcnow()
            stamps = [t for t in stamps if (now - parse_time(t)).total_seconds() < 3600]
            if len(stamps) >= per_hour:
                if not self.journal.has("action_deferred", action_id):
                    self.journal.append(
                        "action_deferred", action=action_id, reason=f"rate limit: {per_hour} runs in the last hour"
                    )
                return False
            atomic_write_json(path, [*stamps, isotime(now)])
            return True
        finally:
            os.close(fd)

    def _refusal(self, action_id: str, content: bytes) -> str | None:
        reason = self.queue.ledger.verify(action_id, content)
        if reason:
            return reason
        ended = [f for f in ENDED_FOLDERS if self.queue.path(f, action_id).exists()]
        if ended:
            return f"replay: action {action_id} already ended in {ended[0]}/"
        return None

    def _run_claimed(self, action_id: str, desired: Any, snapshot: Any, report: PassReport) -> None:
        running = self.queue.path("running", action_id)
        content = running.read_bytes()
        refusal = self._refusal(action_id, content)
        if refusal:
            self.queue.move(
                action_id,
                "running",
                "quarantine",
                "action_quarantined",
                result={"status": "quarantined", "reason": refusal},
                reason=refusal,
            )
            report.quarantined.append(action_id)
            return
        meta = self.queue.ledger.entry(action_id) or {}
        stale = self._stale_reason(meta, desired, snapshot, utcnow())
        if stale:
            self.queue.move(
                action_id,
                "running",
                "expired",
                "action_expired",
                result={"status": "expired", "reason": stale},
                reason=stale,
            )
            report.expired.append(action_id)
            return
        self._execute(action_id, meta, running, report)

    def _stale_reason(self, meta: dict[str, Any], desired: Any, snapshot: Any, now: datetime) -> str | None:
        if parse_time(meta["expires_at"]) <= now:
            return f"expired: TTL passed at {meta['expires_at']}"
        host = meta["host"]
        if host not in desired.hosts:
            return f"stale plan: {host} is no longer in the inventory"
        world = snapshot.hosts.get(host)
        if world is None:
            return f"stale plan: no world state for {host}"
        if parse_time(world["observed_at"]) < parse_time(meta["evidence"]["observed_at"]):
            return "stale plan: the world state is older than the plan's evidence"
        blind = blind_spot(world, meta["key"].split("/")[1], now, desired.policy.stale_after)
        if blind:
            return f"stale plan: cannot confirm the drift on the newest world state: {blind}"
        current = compute_drift(desired.hosts[host], world, now, desired.policy.stale_after)
        match = [d for d in current if d.key == meta["key"]]
        if not match:
            return (
                f"stale plan: drift {meta['key']} no longer holds on the newest world state "
                f"(observed {world['observed_at']})"
            )
        if match[0].fingerprint != meta["evidence"]["fingerprint"]:
            return f"stale plan: the evidence for {meta['key']} changed since the plan was written"
        return None

    def _execute(self, action_id: str, meta: dict[str, Any], running: Path, report: PassReport) -> None:
        host = meta["host"]
        started = isotime()
        self.journal.append("action_running", action=action_id, key=meta["key"], host=host, pid=os.getpid())
        report.ran.append(action_id)
        try:
            outcome = run_playbook(self.settings, running, self.paths.runs / action_id, limit=host)
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
        """Re-observe the host and check the drift key on the fresh world state."""
        host = meta["host"]
        outcome = observe(self.settings, self.journal, limit=host)
        try:
            desired = load_desired(self.settings.inventory)
        except DesiredStateError as exc:
            return {"verified": False, "reason": f"inventory invalid: {exc}"}
        escalate_after = desired.policy.escalate_after
        snapshot = self.engine.load_world()
        if snapshot is None or host not in snapshot.hosts:
            verdict = {"verified": False, "reason": "world state unusable after the run"}
        else:
            world = snapshot.hosts[host]
            stale_after = desired.policy.stale_after
            blind = blind_spot(world, meta["key"].split("/")[1], utcnow(), stale_after)
            keys = {d.key for d in compute_drift(desired.hosts[host], world, utcnow(), stale_after)}
            gone = blind is None and meta["key"] not in keys
            verdict = {
                "verified": gone,
                "observed_at": world["observed_at"],
                "observe_rc": outcome.rc,
                "reason": "drift gone"
                if gone
                else (f"could not verify: {blind}" if blind else "drift still present after the run"),
            }
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
            self.run_once()
            passes += 1
            time.sleep(interval)
