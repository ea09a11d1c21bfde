"""One plan cycle: load world + desired, track drift across observations, write pending actions.

Safety floor: an unusable world (any file empty/truncated/not JSON/wrong schema) skips the
cycle with a WARNING and a journal entry, keeps the last-known-good snapshot, and writes
no action. A drift becomes an action only after `confirm_after` consecutive observations,
and there is at most one open action per drift key.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from steward.areas import AREAS
from steward.config import Settings
from steward.desired import DesiredState, load_desired
from steward.drift import Drift, compute_drift, observed_areas
from steward.journal import Journal, isotime, utcnow
from steward.planner import render_action
from steward.queue import ActionQueue
from steward.store.atomic import atomic_write_json
from steward.store.world import LastKnownGood, WorldSnapshot, load_world, parse_time


@dataclass
class CycleReport:
    skipped: bool = False
    reason: str | None = None
    new_actions: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    drifts: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _area(key: str) -> str:
    return key.split("/")[1]


class Memory:
    """engine/observations.json: per host, the last observation counted and the drift streaks."""

    def __init__(self, settings: Settings) -> None:
        self.path = settings.paths.memory
        try:
            self.doc: dict[str, Any] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.doc = {}
        self.doc.setdefault("hosts", {})

    def host(self, name: str) -> dict[str, Any]:
        return self.doc["hosts"].setdefault(name, {"observed_at": None, "keys": {}, "resolved": {}})

    def save(self) -> None:
        atomic_write_json(self.path, self.doc)


class Engine:
    def __init__(self, settings: Settings, journal: Journal | None = None) -> None:
        self.settings = settings
        self.journal = journal or Journal(settings.paths.journal)
        self.queue = ActionQueue(settings.paths, self.journal)

    def load_world(self) -> WorldSnapshot | None:
        """The current world, or None (journaled as cycle_skipped) when any file is unusable."""
        snapshot = load_world(self.settings.paths.world)
        if not snapshot.usable:
            self.journal.append(
                "cycle_skipped", reason="world state unusable; keeping last-known-good", errors=snapshot.errors
            )
            return None
        LastKnownGood(self.settings.paths.last_good).save(snapshot)
        return snapshot

    def drift_for(self, desired: DesiredState, snapshot: WorldSnapshot, host: str, now: datetime) -> list[Drift]:
        return compute_drift(desired.hosts[host], snapshot.hosts.get(host), now, self.settings.stale_after)

    def plan(self, now: datetime | None = None) -> CycleReport:
        now = now or utcnow()
        desired = load_desired(self.settings.inventory)  # DesiredStateError: no actions at all
        snapshot = self.load_world()
        if snapshot is None:
            return CycleReport(skipped=True, reason="world state unusable")
        memory = Memory(self.settings)
        report = CycleReport()
        open_keys = self.queue.open_keys()
        confirmed: list[tuple[Drift, dict[str, Any]]] = []
        for host in sorted(desired.hosts):
            world = snapshot.hosts.get(host)
            if world is None:
                continue
            mem = memory.host(host)
            fresh = world["observed_at"] != mem["observed_at"]
            drifts = self.drift_for(desired, snapshot, host, now)
            if fresh:
                self._count(mem, world, drifts, open_keys, report)
            for d in drifts:
                streak = mem["keys"].get(d.key, {})
                report.drifts.append(
                    {
                        "key": d.key,
                        "summary": d.summary,
                        "observations": streak.get("count", 0),
                        "notice_only": d.notice_only,
                    }
                )
                if d.notice_only or streak.get("count", 0) < self.settings.confirm_after or d.key in open_keys:
                    continue
                confirmed.append((d, {**streak, "world": world}))
        for drift, streak in confirmed:
            action_id = self._write_action(desired, drift, streak, now)
            if action_id:
                report.new_actions.append(action_id)
        memory.save()
        report.expired.extend(self._expire_by_ttl(now))
        return report

    def _count(
        self, mem: dict[str, Any], world: dict[str, Any], drifts: list[Drift], open_keys: set[str], report: CycleReport
    ) -> None:
        """A new observation of this host: extend or start streaks, resolve what is gone."""
        mem["observed_at"] = world["observed_at"]
        previous = mem["keys"]
        # An unreachable/stale host, or a check that did not run, says nothing about the other
        # areas: their streaks are carried over untouched, neither extended nor resolved.
        spoken = {"host"} if any(d.area == "host" for d in drifts) else observed_areas(world)
        current: dict[str, Any] = {k: v for k, v in previous.items() if _area(k) not in spoken}
        for d in drifts:
            streak = previous.get(d.key)
            if streak is None:
                streak = {"count": 0, "since": world["observed_at"]}
                self.journal.append(
                    "drift_detected",
                    key=d.key,
                    host=d.host,
                    summary=d.summary,
                    notice_only=d.notice_only,
                    cycle=world["cycle"],
                )
            streak = {
                **streak,
                "count": streak["count"] + 1,
                "fingerprint": d.fingerprint,
                "last_seen": world["observed_at"],
                "cycle": world["cycle"],
            }
            if streak["count"] == self.settings.confirm_after and d.notice_only:
                self.journal.append("notice", key=d.key, host=d.host, summary=d.summary)
            current[d.key] = streak
        for key in sorted(set(previous) - set(current)):
            self.journal.append("drift_resolved", key=key, host=world["host"], cycle=world["cycle"])
        # a pending action whose drift stayed away for confirm_after observations expires
        resolved = mem["resolved"]
        for key in sorted(k for k in open_keys if k.startswith(world["host"] + "/") and _area(k) in spoken):
            if key in current:
                resolved.pop(key, None)
                continue
            resolved[key] = resolved.get(key, 0) + 1
            if resolved[key] >= self.settings.confirm_after:
                why = f"drift resolved: not seen in {resolved.pop(key)} consecutive observations"
                report.expired.extend(self._expire_key(key, why))
        for key in [k for k in resolved if k not in open_keys]:
            resolved.pop(key)
        mem["keys"] = current

    def _write_action(self, desired: DesiredState, drift: Drift, streak: dict[str, Any], now: datetime) -> str | None:
        remedy = AREAS[drift.area].remediation(drift, desired.hosts[drift.host]) if drift.area in AREAS else None
        if remedy is None:
            return None
        world = streak["world"]
        action_id = f"{now:%Y%m%dT%H%M%SZ}-{drift.host}-{drift.target}-{drift.kind}-{secrets.token_hex(2)}"
        meta = {
            "id": action_id,
            "key": drift.key,
            "host": drift.host,
            "summary": drift.summary,
            "created_at": isotime(now),
            "expires_at": isotime(now + timedelta(seconds=self.settings.action_ttl)),
            "evidence": {
                "fingerprint": drift.fingerprint,
                "observed_at": world["observed_at"],
                "cycle": world["cycle"],
                "observations": streak["count"],
                "since": streak["since"],
                "desired": drift.desired,
                "observed": drift.observed,
            },
        }
        rel = self.settings.paths.actions
        hint = {
            "approve": f"mv {rel}/pending/{action_id}.yml {rel}/approved/",
            "approve_cli": f"steward approve {action_id}",
            "reject_cli": f"steward reject {action_id} --reason '...'",
        }
        self.queue.write_pending(action_id, render_action(drift, remedy, meta, hint), meta)
        return action_id

    def _expire_key(self, key: str, reason: str) -> list[str]:
        out = []
        for info in self.queue.list(("pending",)):
            if info.key == key:
                self.queue.move(
                    info.id,
                    "pending",
                    "expired",
                    "action_expired",
                    result={"status": "expired", "reason": reason},
                    reason=reason,
                )
                out.append(info.id)
        return out

    def _expire_by_ttl(self, now: datetime) -> list[str]:
        out = []
        for info in self.queue.list(("pending",)):
            if info.expires_at and parse_time(info.expires_at) <= now:
                reason = f"expired: not approved before {info.expires_at} (TTL)"
                self.queue.move(
                    info.id,
                    "pending",
                    "expired",
                    "action_expired",
                    result={"status": "expired", "reason": reason},
                    reason=reason,
                )
                out.append(info.id)
        return out
