"""Observation bookkeeping: which looks count, and what each counted one does to the drift streaks.

A drift becomes an action only after confirm_after observations in a row. Two looks closer than
confirm_interval are one observation; a look of an area that could not be seen (host unreachable
or stale, a check that did not run or could not look) neither extends nor resolves that area's
streaks. A counted observation also feeds flap detection (plan/flaps.py) and expires a pending
action whose drift stayed away for confirm_after observations.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from steward.desired.policy import Policy
from steward.plan.drift import Drift, observed_areas
from steward.plan.expiry import Expiry
from steward.plan.flaps import sample_flaps
from steward.plan.keys import area_of
from steward.state.journal import Journal
from steward.state.memory import EngineMemory, HostMemory, Streak
from steward.state.world import parse_time


def is_new_observation(observed_at: str, last_counted: str | None, spacing: int, now: datetime) -> bool:
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


def count_observation(
    memory: EngineMemory,
    host: HostMemory,
    world: dict[str, Any],
    drifts: list[Drift],
    open_keys: set[str],
    flap_keys: set[str],
    policy: Policy,
    journal: Journal,
    expiry: Expiry,
) -> list[str]:
    """A new observation of this host: extend or start streaks, resolve what is gone, flap history.

    `open_keys` and `flap_keys`: this host's keys among the open actions and in memory.flap (plan/keys.py
    `keys_by_host`). Returns the pending actions it expired (their target flaps, or their drift resolved)."""
    host.observed_at = world["observed_at"]
    previous = host.keys
    # An unreachable/stale host, or a check that did not run, says nothing about the other
    # areas: their streaks are carried over untouched, neither extended nor resolved.
    spoken = {"host"} if any(d.area == "host" for d in drifts) else observed_areas(world)
    # a check that ran but could not look (engine unreachable, ...) speaks only for its own
    # area-level notice, not for the containers/mounts/peers it could not see
    blind = {a for a, c in (world.get("checks") or {}).items() if not isinstance(c, dict) or c.get("status") != "ok"}
    present = {d.key for d in drifts}

    def says_nothing(key: str) -> bool:
        return area_of(key) not in spoken or (area_of(key) in blind and key not in present)

    current = {k: v for k, v in previous.items() if says_nothing(k)}
    for d in drifts:
        streak = previous.get(d.key)
        if streak is None:
            streak = Streak(since=world["observed_at"])
            journal.append(
                "drift_detected",
                key=d.key,
                host=d.host,
                summary=d.summary,
                notice_only=d.notice_only,
                cycle=world["cycle"],
            )
        streak = Streak(
            count=streak.count + 1,
            since=streak.since,
            fingerprint=d.fingerprint,
            last_seen=world["observed_at"],
            cycle=world["cycle"],
        )
        if streak.count == policy.confirm_after and d.notice_only:
            journal.append("notice", key=d.key, host=d.host, summary=d.summary)
        current[d.key] = streak
    for key in sorted(set(previous) - set(current)):
        journal.append("drift_resolved", key=key, host=world["host"], cycle=world["cycle"])
    host.observations += 1
    expired = sample_flaps(memory.flap, world["host"], flap_keys, spoken - blind, present, policy, journal, expiry)
    # a pending action whose drift stayed away for confirm_after observations expires
    resolved = host.resolved
    for key in sorted(k for k in open_keys if not says_nothing(k)):
        if key in current:
            resolved.pop(key, None)
            continue
        resolved[key] = resolved.get(key, 0) + 1
        if resolved[key] >= policy.confirm_after:
            why = f"drift resolved: not seen in {resolved.pop(key)} consecutive observations"
            expired.extend(expiry.expire_key(key, why))
    for key in [k for k in resolved if k not in open_keys]:
        resolved.pop(key)
    host.keys = current
    return expired
