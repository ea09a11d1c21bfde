"""Drift for one host: desired (inventory) versus actual (world state), area by area.

Each drift item has a stable key `host/area/target/kind`. A host that could not be looked
at (unreachable, stale world file) yields exactly one host-level, notice-only item and never
per-area items: "could not look" is not "absent". An area whose check did not run in this
observation gives no opinion at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from steward.areas import AREAS
from steward.core.model import Drift
from steward.desired.host import HostDesired
from steward.state.world import parse_time

__all__ = ["Drift", "area_drift", "blind_spot", "compute_drift", "observed_areas"]


def host_level_drift(host: str, world: dict[str, Any], now: datetime, stale_after: int) -> Drift | None:
    if not world.get("reachable"):
        return Drift(
            host,
            "host",
            "-",
            "unreachable",
            f"{host} could not be reached: {world.get('error')}",
            observed={"error": world.get("error")},
            notice_only=True,
        )
    age = (now - parse_time(world["observed_at"])).total_seconds()
    if age > stale_after:
        return Drift(
            host,
            "host",
            "-",
            "stale",
            f"world state of {host} is {int(age)} s old (limit {stale_after} s)",
            observed={"stale": True},
            notice_only=True,
        )
    return None


def observed_areas(world: dict[str, Any]) -> set[str]:
    """Areas this observation speaks for: 'host' always, each check that ran, and each area reading one."""
    ran = set(world.get("checks") or {})
    return {"host", *ran, *(name for name, area in AREAS.items() if area.check in ran)}


def blind_spot(world: dict[str, Any] | None, area: str, now: datetime, stale_after: int) -> str | None:
    """Why this world state cannot confirm or refute anything about `area`; None if it can."""
    if world is None:
        return "no world state for the host"
    blocked = host_level_drift(world["host"], world, now, stale_after)
    if blocked is not None:
        return blocked.summary
    name = AREAS[area].check if area in AREAS else area
    check = (world.get("checks") or {}).get(name)
    if not isinstance(check, dict):
        return f"the {name} check did not run in the newest observation"
    if check.get("status") != "ok":
        return f"the {name} check could not look ({check.get('status')}: {check.get('error')})"
    return None


def compute_drift(desired: HostDesired, world: dict[str, Any] | None, now: datetime, stale_after: int) -> list[Drift]:
    """All drift items for one host. No world file yet -> no opinion (empty list)."""
    if world is None:
        return []
    blocked = host_level_drift(desired.host, world, now, stale_after)
    return [blocked] if blocked is not None else area_drift(desired, world)


def area_drift(desired: HostDesired, world: dict[str, Any]) -> list[Drift]:
    """The drift items of every area whose check ran: a function of the desired value and the
    world document alone (no clock), so the same pair always gives the same items."""
    drifts: list[Drift] = []
    for name, area in AREAS.items():
        check = (world.get("checks") or {}).get(area.check)
        if isinstance(check, dict):
            drifts.extend(area.drift(desired.host, desired.want(name), check))
    return drifts
