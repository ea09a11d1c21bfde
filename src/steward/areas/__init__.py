"""The areas Steward watches, as plug-ins: one module per area, each exposing one `Area` (base.py).

`AREAS` is the registry, in the order drift is reported (docker, disk, tailscale, mqtt). A world
file's check is judged by its area (`check_problem`); a check no area claims gets the schema's
rule for unknown checks (only "could not look" is valid), like node_observe reports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steward.areas import disk, mqtt, tailscale
from steward.areas.base import Area, shared_check_problem
from steward.areas.docker import compose, containers

AREAS: Mapping[str, Area[Any]] = {
    area.name: area for area in (containers.AREA, compose.AREA, disk.AREA, tailscale.AREA, mqtt.AREA)
}


def check_problem(name: str, check: Any) -> str | None:
    """Why `check` (the world file's ``checks[name]``) is not valid, or None: its area says."""
    area = AREAS.get(name)
    return area.check_problem(check) if area is not None else shared_check_problem(name, check)


__all__ = ["AREAS", "Area", "check_problem"]
