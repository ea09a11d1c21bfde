"""The desired state as the engine sees it: per host, each area's own value; for the fleet, the policy.

A host's desired state holds one value per area, keyed by the area's name and typed by the area
(`steward.areas`): this module never names an area, so a new area needs no field here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steward.areas import AREAS
from steward.core.model import Drift, Remedy
from steward.desired.policy import Policy, Window


@dataclass(frozen=True)
class HostDesired:
    host: str
    areas: dict[str, Any] = field(default_factory=dict)  # area name -> the area's parsed desired value
    windows: tuple[Window, ...] = ()
    hostvars: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def want(self, area: str) -> Any:
        """The area's desired value for this host; the area's `empty` when the inventory sets none."""
        return self.areas[area] if area in self.areas else AREAS[area].empty

    def remedy(self, drift: Drift) -> Remedy | None:
        """The remedy for one of this host's drift items, by its area, from this desired state alone
        (None: a notice, or no area of that name, like the host-level items)."""
        area = AREAS.get(drift.area)
        return None if area is None else area.remediation(drift, self.want(drift.area))

    def service_count(self) -> int:
        """How many services the inventory says this host runs: the targets of every area whose
        targets are services (the storm breaker's "more than a fraction of one host's services")."""
        return sum(len(area.targets(self.want(name))) for name, area in AREAS.items() if area.targets_are_services)


@dataclass(frozen=True)
class DesiredState:
    hosts: dict[str, HostDesired]
    globals: dict[str, Any] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)
    # one line per deprecated var name the inventory uses (logged once per read, never an error)
    deprecations: tuple[str, ...] = ()
    # folders outside the inventory's own files that its desired state was read from (Compose
    # projects): a change in one is a change of the inventory (load_desired_cached)
    sources: tuple[Path, ...] = ()
    # which full read of the inventory this is (desired/cached.py): the same in every process that took it
    # from the state folder's copy; "" for a read that is not cached (never the same as another)
    generation: str = field(default="", compare=False)

    def remedy_for(self, key: str) -> Remedy | None:
        """The remedy the inventory gives now for drift key `host/area/target/kind` (None: none, or
        the host is not in the inventory): what the engine wrote, re-derived from the key alone."""
        host, area, target, kind = key.split("/", 3)
        desired = self.hosts.get(host)
        return None if desired is None else desired.remedy(Drift(host, area, target, kind, ""))
