"""One plan cycle: load world + desired, track drift across observations, write pending actions.

Safety floor: an unusable world (any file empty/truncated/not JSON/wrong schema) skips the
cycle with a WARNING and a journal entry naming the files, keeps the last-known-good state, and
writes no action. So does an unusable desired state: an inventory that does not parse (raised
after the journal entry: a human must fix it), or one that changed while it was read (a skipped
cycle: the next one reads it again). Hosts that left the inventory are journaled once and their
pending actions expire. Before a confirmed drift becomes an action it must pass, in order: dedup (one open
action per key), flap detection, silences and maintenance windows, backoff/escalation, and
the storm breaker for the cycle as a whole.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from steward.areas import AREAS, check_problem
from steward.core.atomic import atomic_write_json
from steward.core.locks import exclusive, try_exclusive
from steward.desired.inventory import (
    DesiredState,
    DesiredStateError,
    InventoryChanged,
    error_fields,
    load_desired_cached,
)
from steward.desired.policy import Policy, flap_percent
from steward.plan.drift import Drift, compute_drift, observed_areas
from steward.plan.playbook import load_playbook, shape_problem
from steward.plan.render import render_action
from steward.state.actions import ActionInfo, ActionQueue, QueueError
from steward.state.journal import Journal, isotime, utcnow
from steward.state.outcomes import Outcomes
from steward.state.paths import OPEN_FOLDERS
from steward.state.settings import Settings
from steward.state.silences import Silences, matches, target_names
from steward.state.world import LastKnownGood, WorldSnapshot, load_world, parse_time


@dataclass
class CycleReport:
    skipped: bool = False
    reason: str | None = None
    cycle: int = 0
    new_actions: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    drifts: list[dict[str, Any]] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)  # key -> why no action was written
    storm: bool = False
    # drifts seen but not yet confirmed (fewer observations than confirm_after, no open action):
    # one more look at their host may turn them into actions
    confirming: list[str] = field(default_factory=list)
    confirm_after: int = Policy.confirm_after
    confirm_interval: int = Policy.confirm_interval  # seconds between event-triggered looks

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def action_id_for(drift: Drift, now: datetime) -> str:
    """Readable and always a valid id: time, host, target (shortened), kind, random suffix."""
    target = re.sub(r"[^A-Za-z0-9_.-]", "_", drift.target)[:40].strip("._-") or "x"
    host = drift.host[:40]
    return f"{now:%Y%m%dT%H%M%SZ}-{host}-{target}-{drift.kind}-{secrets.token_hex(2)}"


def _area(key: str) -> str:
    return key.split("/")[1]


def _target(key: str) -> str:
    """host/area/target of a drift key host/area/target/kind."""
    return key.rsplit("/", 1)[0]


def _new_observation(observed_at: str, last_counted: str | None, spacing: int, now: datetime) -> bool:
    """Counts as a new observation: at least `spacing` seconds after the last one counted.

    Two looks closer than that (a cron observe right after an event-triggered one, the executor's
    check) are one observation, so they cannot confirm a drift together; an older file (written
    out of order) is not new at all - unless the last counted one lies in the future (the clock
    was stepped back): then counting must not stop until the clock catches up.
    """
    if last_counted is None:
        return True
    last = parse_time(last_counted)
    if last > now + timedelta(seconds=60):
        return observed_at != last_counted
    return (parse_time(observed_at) - last).total_seconds() >= spacing


def world_unusable(errors: dict[str, str]) -> str:
    """One line naming every unusable world file and why."""
    return "world state unusable: " + "; ".join(f"{name}: {why}" for name, why in sorted(errors.items()))


class Memory:
    """engine/observations.json: cycle counter, per-host streaks, flap histories, storm state."""

    def __init__(self, settings: Settings) -> None:
        self.path = settings.paths.memory
        try:
            self.doc: dict[str, Any] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.doc = {}
        for k, v in (
            ("hosts", {}),
            ("cycle", 0),
            ("flap", {}),
            ("storm", None),
            ("backoff", {}),
            ("held", {}),
            ("written", []),  # [{at, host, key}] of the actions written within the storm window
            ("inventory_hosts", None),  # the desired state's hosts in the last cycle that ran
            ("left_inventory", {}),  # host -> when it left the inventory (until it comes back)
            ("absent_cycles", {}),  # host -> cycles in a row it was not in the inventory
        ):
            self.doc.setdefault(k, v)

    def host(self, name: str) -> dict[str, Any]:
        return self.doc["hosts"].setdefault(name, {"observed_at": None, "keys": {}, "resolved": {}})

    def save(self) -> None:
        atomic_write_json(self.path, self.doc, compact=True)


class Engine:
    def __init__(self, settings: Settings, journal: Journal | None = None) -> None:
        self.settings = settings
        self.journal = journal or Journal(settings.paths.journal)
        self.queue = ActionQueue(settings.paths, self.journal)
        self.silences = Silences(settings.paths, self.journal)
        self.outcomes = Outcomes(settings.paths)
        self._open_targets: set[str] = set()  # host/area/target with an open action (this cycle)
        self._busy_hosts: set[str] = set()  # hosts an executor holds (running or verifying an action)
        self._acked = False  # this cycle used a storm acknowledgement
        self.world_errors: dict[str, str] = {}  # the last load_world's unusable files -> why

    @property
    def storm_ack_path(self):  # noqa: ANN201 - Path
        return self.settings.paths.engine / "storm_ack.json"

    def load_world(self) -> WorldSnapshot | None:
        """The current world, or None (journaled as cycle_skipped) when any file is unusable."""
        snapshot = load_world(self.settings.paths.world, check_problem)
        self.world_errors = snapshot.errors
        if not snapshot.usable:
            self.journal.append(
                "cycle_skipped",
                reason=f"{world_unusable(snapshot.errors)}; keeping last-known-good",
                files=sorted(snapshot.errors),
                errors=snapshot.errors,
            )
            return None
        LastKnownGood(self.settings.paths.last_good).save(snapshot)
        return snapshot

    def plan(self, now: datetime | None = None) -> CycleReport:
        """One cycle; concurrent callers (cron, a rulebook-triggered observe) take turns."""
        with exclusive(self.settings.paths.locks / "engine.lock"), self.journal.batched():
            return self._plan(now or utcnow())

    def _plan(self, now: datetime) -> CycleReport:
        try:
            desired = load_desired_cached(self.settings.inventory)
        except InventoryChanged as exc:  # a read that raced a writer: skip, like a torn world file
            self.journal.append("cycle_skipped", **error_fields(exc))
            return CycleReport(skipped=True, reason=str(exc))
        except DesiredStateError as exc:  # a human must fix it: journaled, then raised (exit 2)
            self.journal.append("cycle_skipped", reported=True, **error_fields(exc))
            raise
        policy = desired.policy
        snapshot = self.load_world()
        if snapshot is None:
            report = CycleReport(skipped=True, reason=world_unusable(self.world_errors))
        else:
            memory = Memory(self.settings)
            memory.doc["cycle"] += 1
            report = CycleReport(cycle=memory.doc["cycle"])
        report.confirm_after, report.confirm_interval = policy.confirm_after, policy.confirm_interval
        if snapshot is None:
            return report
        report.expired.extend(self._hosts_left_inventory(memory, desired, now))
        open_actions = self.queue.list(OPEN_FOLDERS)  # read once per cycle
        open_keys = {i.key for i in open_actions if i.key}
        self._open_targets = {_target(k) for k in open_keys}
        self._busy_hosts = self._hosts_being_remediated(open_actions)
        self._acked = False
        confirmed: list[tuple[Drift, dict[str, Any]]] = []
        for host in sorted(desired.hosts):
            world = snapshot.hosts.get(host)
            if world is None:
                continue
            mem = memory.host(host)
            drifts = compute_drift(desired.hosts[host], world, now, policy.stale_after)
            # while an executor runs or verifies an action on the host, its looks see the remediation
            # half-done: they are not counted (no streak extended or resolved, no flap sample)
            if host not in self._busy_hosts and _new_observation(
                world["observed_at"], mem["observed_at"], policy.confirm_interval, now
            ):
                self._count(memory, mem, world, drifts, open_keys, report, policy)
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
                if d.notice_only or d.key in open_keys:
                    continue
                if streak.get("count", 0) >= policy.confirm_after:
                    confirmed.append((d, {**streak, "world": world}))
                elif host not in self._busy_hosts:  # another look now would not count
                    report.confirming.append(d.key)
        candidates = self._gate(confirmed, desired, memory, now, report)
        if self._storm(candidates, desired, memory, report, policy, now):
            candidates = []
        for drift, streak in candidates:
            action_id = self._write_action(desired, drift, streak, now)
            if action_id:
                report.new_actions.append(action_id)
                # a further action for this key needs fresh confirmation, not the same evidence again
                mem = memory.host(drift.host)
                mem["keys"][drift.key]["count"] = 0
                memory.doc["backoff"][drift.key] = {"observation": mem.get("observations", 0), "action": action_id}
                if not self._acked:
                    memory.doc["written"].append({"at": isotime(now), "host": drift.host, "key": drift.key})
        memory.save()
        report.expired.extend(self._expire_by_ttl(now))
        return report

    def _hosts_left_inventory(self, memory: Memory, desired: DesiredState, now: datetime) -> list[str]:
        """Hosts the desired state no longer names: journaled once, their memory dropped (a host that
        comes back starts afresh), and - once they stayed away for confirm_after cycles in a row, so
        one shorter read of a valid inventory (another branch checked out for a moment) ends
        nothing - their pending actions expired: never run against an inventory that does not
        name the host. Pending actions of hosts this state folder never saw in the inventory are
        left to their TTL (the executor refuses to run them meanwhile)."""
        known = memory.doc["inventory_hosts"]
        left = sorted(set(known or ()) - set(desired.hosts))
        wait = desired.policy.confirm_after
        if left:
            self.journal.append(
                "host_left_inventory",
                hosts=left,
                summary=f"left the inventory: {', '.join(left)}; their pending actions expire "
                f"if they stay away for {wait} cycles",
            )
            for host in left:
                memory.doc["hosts"].pop(host, None)
                memory.doc["left_inventory"][host] = isotime(now)
        absent = memory.doc["absent_cycles"]
        for host in [h for h in memory.doc["left_inventory"] if h in desired.hosts]:
            memory.doc["left_inventory"].pop(host)  # back in the inventory
        for host in list(absent):
            if host not in memory.doc["left_inventory"]:
                absent.pop(host)
        for host in memory.doc["left_inventory"]:
            absent[host] = absent.get(host, 0) + 1
        memory.doc["inventory_hosts"] = sorted(desired.hosts)
        expired = []
        for info in self.queue.list(("pending",)):
            if info.host and info.host not in desired.hosts and absent.get(info.host, 0) >= wait:
                reason = f"host {info.host} left the inventory ({absent[info.host]} cycles in a row)"
                expired.extend(self._expire(info.id, reason))
        return expired

    # -- observation bookkeeping ----------------------------------------------------------
    def _count(
        self,
        memory: Memory,
        mem: dict[str, Any],
        world: dict[str, Any],
        drifts: list[Drift],
        open_keys: set[str],
        report: CycleReport,
        policy: Policy,
    ) -> None:
        """A new observation of this host: extend or start streaks, resolve what is gone, flap history."""
        mem["observed_at"] = world["observed_at"]
        previous = mem["keys"]
        # An unreachable/stale host, or a check that did not run, says nothing about the other
        # areas: their streaks are carried over untouched, neither extended nor resolved.
        spoken = {"host"} if any(d.area == "host" for d in drifts) else observed_areas(world)
        # a check that ran but could not look (engine unreachable, ...) speaks only for its own
        # area-level notice, not for the containers/mounts/peers it could not see
        blind = {
            a for a, c in (world.get("checks") or {}).items() if not isinstance(c, dict) or c.get("status") != "ok"
        }
        present = {d.key for d in drifts}

        def says_nothing(key: str) -> bool:
            return _area(key) not in spoken or (_area(key) in blind and key not in present)

        current: dict[str, Any] = {k: v for k, v in previous.items() if says_nothing(k)}
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
            if streak["count"] == policy.confirm_after and d.notice_only:
                self.journal.append("notice", key=d.key, host=d.host, summary=d.summary)
            current[d.key] = streak
        for key in sorted(set(previous) - set(current)):
            self.journal.append("drift_resolved", key=key, host=world["host"], cycle=world["cycle"])
        mem["observations"] = mem.get("observations", 0) + 1
        self._flap_samples(memory, world["host"], spoken - blind, present, policy, report)
        # a pending action whose drift stayed away for confirm_after observations expires
        resolved = mem["resolved"]
        for key in sorted(k for k in open_keys if k.startswith(world["host"] + "/") and not says_nothing(k)):
            if key in current:
                resolved.pop(key, None)
                continue
            resolved[key] = resolved.get(key, 0) + 1
            if resolved[key] >= policy.confirm_after:
                why = f"drift resolved: not seen in {resolved.pop(key)} consecutive observations"
                report.expired.extend(self._expire_key(key, why))
        for key in [k for k in resolved if k not in open_keys]:
            resolved.pop(key)
        mem["keys"] = current

    def _flap_samples(
        self, memory: Memory, host: str, spoken: set[str], present: set[str], policy: Policy, report: CycleReport
    ) -> None:
        flap = memory.doc["flap"]
        tracked = {k for k in flap if k.startswith(host + "/") and _area(k) in spoken} | {
            k for k in present if _area(k) != "host"
        }
        for key in sorted(tracked):
            entry = flap.setdefault(key, {"samples": [False], "flapping": False})
            entry["samples"] = (entry["samples"] + [key in present])[-policy.flap_window :]
            pct = flap_percent(entry["samples"], policy.flap_window)
            entry["pct"] = round(pct, 1)
            if not entry["flapping"] and pct > policy.flap_start_pct:
                entry["flapping"] = True
                self.journal.append(
                    "flapping",
                    key=key,
                    host=host,
                    percent=entry["pct"],
                    summary=f"{key} changes state too often ({entry['pct']} %): no action until it settles",
                )
                # a plan written from a flapping target acts on noise: withdraw it
                report.expired.extend(self._expire_key(key, f"target is flapping ({entry['pct']} % state change)"))
            elif entry["flapping"] and pct < policy.flap_stop_pct:
                entry["flapping"] = False
                self.journal.append("flapping_stopped", key=key, host=host, percent=entry["pct"])
            if not entry["flapping"] and not any(entry["samples"]):
                flap.pop(key)  # quiet for a whole window: forget it

    def _hosts_being_remediated(self, open_actions: list[ActionInfo]) -> set[str]:
        """Hosts whose executor lock is held right now (an action being checked, run or verified)."""
        busy = set()
        for info in open_actions:
            if info.folder != "pending" and info.host and info.host not in busy:
                with try_exclusive(self.settings.paths.locks / f"host-{info.host}.lock") as free:
                    if not free:
                        busy.add(info.host)
        return busy

    # -- gates between a confirmed drift and an action ---------------------------------------
    def _gate(
        self,
        confirmed: list[tuple[Drift, dict[str, Any]]],
        desired: DesiredState,
        memory: Memory,
        now: datetime,
        report: CycleReport,
    ) -> list[tuple[Drift, dict[str, Any]]]:
        policy = desired.policy
        silences = self.silences.active(now)
        outcomes = self.outcomes.all()
        held_before = memory.doc["held"]
        held_now: dict[str, str] = {}
        passed = []
        for drift, streak in confirmed:
            why = self._hold_reason(drift, desired, memory, silences, outcomes.get(drift.key), now, policy)
            if why is None:
                passed.append((drift, streak))
                continue
            held_now[drift.key] = why
            if held_before.get(drift.key) != why:  # journal each reason once, not every cycle
                self.journal.append("action_held", key=drift.key, host=drift.host, reason=why)
        memory.doc["held"] = held_now
        report.held = held_now
        return passed

    def _hold_reason(
        self,
        drift: Drift,
        desired: DesiredState,
        memory: Memory,
        silences: list[dict[str, Any]],
        outcome: dict[str, Any] | None,
        now: datetime,
        policy: Policy,
    ) -> str | None:
        if drift.host in self._busy_hosts:
            return f"a remediation is in progress on {drift.host} (run or verification): it speaks first"
        if _target(drift.key) in self._open_targets:
            return f"another action for {_target(drift.key)} is open: one at a time per target"
        if memory.doc["flap"].get(drift.key, {}).get("flapping"):
            return "flapping"
        rejected = self._rejected_this_episode(
            drift, memory.host(drift.host)["keys"].get(drift.key, {}).get("since", "")
        )
        if rejected:
            return rejected
        for silence in silences:
            if matches(silence, drift):
                return f"silenced until {silence['expires_at']} ({silence['reason']})"
        for window in desired.hosts[drift.host].windows:
            if window.active(now) and (not window.targets or target_names(drift) & set(window.targets)):
                return f"maintenance window {window.name}"
        if outcome and outcome.get("escalated"):
            return (
                f"escalated after {outcome.get('failures')} failed remediations: "
                f"run `steward clear {drift.key}` once a human has looked"
            )
        if outcome and outcome.get("failures", 0) > 0:
            # counted in observations of the host since the failed action was written, not in plan runs
            observed = memory.host(drift.host).get("observations", 0)
            written = memory.doc["backoff"].get(drift.key, {}).get("observation", observed)
            wait = min(policy.backoff_base ** (outcome["failures"] - 1), policy.backoff_cap_cycles)
            if observed - written <= wait:
                return (
                    f"backoff: the last remediation did not fix it; waiting {wait - (observed - written) + 1} "
                    "more observation(s)"
                )
        return None

    def _storm(
        self,
        candidates: list[tuple[Drift, dict[str, Any]]],
        desired: DesiredState,
        memory: Memory,
        report: CycleReport,
        policy: Policy,
        now: datetime,
    ) -> bool:
        # actions written within storm_window count too: event-triggered runs plan one host at a
        # time, so a fleet-wide outage arrives as many small cycles, not one big one
        recent = [w for w in memory.doc["written"] if (now - parse_time(w["at"])).total_seconds() < policy.storm_window]
        memory.doc["written"] = recent
        # distinct targets: a second action for the same container (a new episode) is not a storm
        targets = {(w["host"], _target(w["key"])) for w in recent} | {(d.host, _target(d.key)) for d, _ in candidates}
        per_host: dict[str, int] = {}
        for host, _t in targets:
            per_host[host] = per_host.get(host, 0) + 1
        hosts_now = {d.host for d, _ in candidates}
        crowded = [
            h
            for h, n in per_host.items()
            if h in hosts_now and n >= 2 and n > policy.storm_host_fraction * max(desired.hosts[h].service_count(), 1)
        ]
        total = len(targets)
        stormy = bool(candidates) and (total > policy.storm_max_actions or bool(crowded))
        if memory.doc["storm"] and not stormy and not candidates:
            self.journal.append("storm_over", reason="the cycle is calm again")
            memory.doc["storm"] = None
            self._retire_ack("unused")  # an acknowledgement is for one storm, never the next
        if not memory.doc["storm"] and not stormy:
            return False
        if self._ack_matches(memory.doc["storm"]):
            self.storm_ack_path.rename(self.storm_ack_path.with_suffix(f".used-{memory.doc['cycle']}"))
            self.journal.append("storm_acknowledged", actions=len(candidates))
            memory.doc["storm"] = None
            memory.doc["written"] = []  # acknowledged: what was written so far no longer counts
            self._acked = True  # ... nor what this cycle writes on the strength of the ack
            return False
        self._retire_ack("stale")
        if not memory.doc["storm"]:
            why = (
                f"{total} new actions within {policy.storm_window} s (limit {policy.storm_max_actions})"
                if total > policy.storm_max_actions
                else f"more than {int(policy.storm_host_fraction * 100)} % of the services of "
                f"{', '.join(sorted(crowded))} at once"
            )
            memory.doc["storm"] = {"since_cycle": memory.doc["cycle"], "reason": why}
            self.journal.append(
                "storm",
                reason=why,
                keys=sorted(d.key for d, _ in candidates),
                summary="storm breaker: no action written until `steward ack-storm` or a calm cycle",
            )
        report.storm = True
        for drift, _ in candidates:
            report.held[drift.key] = "storm"
        return True

    # -- writing and expiring actions ---------------------------------------------------------
    def _write_action(self, desired: DesiredState, drift: Drift, streak: dict[str, Any], now: datetime) -> str | None:
        remedy = desired.hosts[drift.host].remedy(drift)
        if remedy is None:
            return None
        world = streak["world"]
        action_id = action_id_for(drift, now)
        meta = {
            "id": action_id,
            "key": drift.key,
            "host": drift.host,
            "summary": drift.summary,
            "created_at": isotime(now),
            "expires_at": isotime(now + timedelta(seconds=desired.policy.action_ttl)),
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
        text = render_action(drift, remedy, meta, hint)
        # the engine signs only what the executor would run: the same shape check, before signing
        problem = shape_problem(load_playbook(text.encode()), drift.host, action_id, AREAS[drift.area].remedy_modules)
        if problem:
            self.journal.append(
                "notice",
                key=drift.key,
                host=drift.host,
                summary=f"no action written for {drift.key}: its remedy is not a shape Steward runs ({problem})",
            )
            return None
        self.queue.write_pending(action_id, text, meta)
        return action_id

    def _rejected_this_episode(self, drift: Drift, since: str) -> str | None:
        """A human rejected an action for this key after the drift started: do not ask again until it resolves."""
        for info in self.queue.list(("rejected",)):
            evidence = (self.queue.ledger.entry(info.id) or {}).get("evidence", {})
            if info.key == drift.key and evidence.get("since") == since:  # same episode of this drift
                return f"rejected by a human ({info.id}); not proposed again until the drift resolves"
        return None

    def _expire(self, action_id: str, reason: str) -> list[str]:
        """pending/ -> expired/ under the action's lock; [] when a human moved it first (not an error)."""
        try:
            self.queue.expire_pending(action_id, reason)
        except QueueError as exc:
            self.journal.append("action_not_expired", action=action_id, reason=f"{reason}; not expired: {exc}")
            return []
        return [action_id]

    def _expire_key(self, key: str, reason: str) -> list[str]:
        out = []
        for info in self.queue.list(("pending",)):
            if info.key == key:
                out.extend(self._expire(info.id, reason))
        return out

    def _expire_by_ttl(self, now: datetime) -> list[str]:
        out = []
        for info in self.queue.list(("pending",)):
            if info.expires_at and parse_time(info.expires_at) <= now:
                out.extend(self._expire(info.id, f"expired: not approved before {info.expires_at} (TTL)"))
        return out

    def ack_storm(self) -> bool:
        """Let the next cycle write what the storm breaker holds; False when there is no storm."""
        with exclusive(self.settings.paths.locks / "engine.lock"):
            storm = Memory(self.settings).doc["storm"]
            if not storm:
                return False
            # for this storm only: an ack left over when it ends must not wave the next one through
            atomic_write_json(self.storm_ack_path, {"at": isotime(), "storm_since_cycle": storm["since_cycle"]})
        self.journal.append("storm_ack_requested", via="cli")
        return True

    def _ack_matches(self, storm: dict[str, Any] | None) -> bool:
        if storm is None or not self.storm_ack_path.exists():
            return False
        try:
            ack = json.loads(self.storm_ack_path.read_text())
        except (OSError, ValueError):
            return False
        return isinstance(ack, dict) and ack.get("storm_since_cycle") == storm.get("since_cycle")

    def _retire_ack(self, why: str) -> None:
        """Move an acknowledgement that does not belong to the current storm out of the way (kept)."""
        if self.storm_ack_path.exists():
            self.storm_ack_path.rename(self.storm_ack_path.with_suffix(f".{why}-{time.time_ns()}"))
