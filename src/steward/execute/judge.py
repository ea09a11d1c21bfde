"""One judgement of a drift key on one look at its host, used before a run and after it.

Before running (the stale check) the plan must still hold on a look taken now: the same key,
the same evidence. After it (verification) the drift must be gone. Both ask the same two
questions of a look - can it see the key's area at all (`blind_spot`), and does the key drift
on it (`compute_drift`) - so both are answered here, in `judge`, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from steward.areas import AREAS
from steward.desired.inventory import DesiredState
from steward.plan.drift import Drift, blind_spot, compute_drift
from steward.state.world import parse_time


@dataclass(frozen=True)
class Judgement:
    blind: str | None  # why the look cannot confirm or refute anything about the key's area; None if it can
    drift: Drift | None  # the key's drift on the look; None when it does not hold there (or the look is blind)


def judge(desired: DesiredState, host: str, key: str, world: dict[str, Any], now: datetime) -> Judgement:
    """What `world` (a look at `host`) says about drift `key`."""
    stale_after = desired.policy.stale_after
    blind = blind_spot(world, key.split("/")[1], now, stale_after)
    if blind:
        return Judgement(blind=blind, drift=None)
    drift = next((d for d in compute_drift(desired.hosts[host], world, now, stale_after) if d.key == key), None)
    return Judgement(blind=None, drift=drift)


def stale_reason(meta: dict[str, Any], desired: DesiredState, world: dict[str, Any], now: datetime) -> str | None:
    """Why the plan must not run on what `world` (a look taken just now) shows, or None.

    The TTL and the host's place in the inventory are checked before the look (the executor)."""
    if parse_time(world["observed_at"]) < parse_time(meta["evidence"]["observed_at"]):
        return "stale plan: the look is older than the plan's evidence"
    verdict = judge(desired, meta["host"], meta["key"], world, now)
    if verdict.blind:
        return f"stale plan: cannot confirm the drift on a look taken now: {verdict.blind}"
    if verdict.drift is None:
        return f"stale plan: drift {meta['key']} no longer holds on a look taken now (observed {world['observed_at']})"
    if verdict.drift.fingerprint != meta["evidence"]["fingerprint"]:
        return f"stale plan: the evidence for {meta['key']} changed since the plan was written"
    return None


def fixed(meta: dict[str, Any], desired: DesiredState, world: dict[str, Any], now: datetime) -> tuple[bool | None, str]:
    """Whether the run fixed the drift, judged on `world` (the re-observation after it): True, False,
    or None when that look cannot tell; and the reason, in words."""
    verdict = judge(desired, meta["host"], meta["key"], world, now)
    if verdict.blind:
        return None, f"could not verify: {verdict.blind}"
    if verdict.drift is None:
        return True, "drift gone"
    return False, "drift still present after the run"


def collateral(key: str, before: dict[str, Any] | None, after: dict[str, Any]) -> str | None:
    """What the run changed besides its target (the area says), comparing the look before it with after."""
    _host, area_name, target, _kind = key.split("/", 3)
    area = AREAS.get(area_name)
    if area is None or before is None:
        return None
    was, now = (before.get("checks") or {}).get(area.check), (after.get("checks") or {}).get(area.check)
    if not (isinstance(was, dict) and isinstance(now, dict)) or was.get("status") != "ok" or now.get("status") != "ok":
        return None
    return area.collateral(target, was, now)
