"""What an area is: the one interface the loader, the drift engine and the executor use.

An area is one thing Steward watches on a host (its containers, its disks, its Tailscale node,
the MQTT brokers it uses). Each area module exposes one object, ``AREA``, that implements
`Area`; `steward.areas.AREAS` lists them. Nothing outside the area knows the area's var, the
shape of its desired value or of its world-state check: the inventory loader asks the area to
parse its var, the world loader asks it to judge its check, the drift engine asks it for drift
and remedies. So a new area is one module here, plus its collector (a ``_check_*.py`` that
``node_observe`` runs), its ``*_health`` role and its tests; a consistency test keeps the
registry, ``node_observe`` and the roles in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from steward.core.model import Drift, Problem, Remedy
from steward.state.world import schema

T = TypeVar("T")


class SourceChanged(Exception):
    """A file an area reads besides the inventory (a Compose project's) changed while it was read:
    the read is torn, the file not broken; the loader treats it as an inventory that changed."""

    def __init__(self, paths: list[str], why: str) -> None:
        super().__init__(f"{', '.join(paths)} {why}")
        self.paths = paths
        self.why = why


@dataclass(frozen=True)
class ParseContext:
    """What an area may need besides its var to parse it: where the inventory lives (relative paths in
    it, like a Compose project's ``src``, are resolved against that folder) and the templated values of
    the other host vars the area names in its ``context_vars``."""

    inventory_root: Path | None = None
    hostvars: Mapping[str, Any] = field(default_factory=dict)
    # one scratch dict shared by every parse of one read of the inventory (what an area computed
    # once for the fleet, like a project folder's digest, is not computed again per host)
    memo: dict[Any, Any] = field(default_factory=dict)


class Area(Protocol[T]):
    """One area. ``T`` is the area's own typed desired value (what ``parse`` makes of its var)."""

    # the area's name: the area part of a drift key
    name: str
    # the world file's check it reads (``checks[check]``); its own name, unless it reads another
    # area's collector (Compose projects read the docker check's containers)
    check: str
    # other host vars the loader templates and hands to parse() in the ParseContext
    context_vars: tuple[str, ...]
    # the inventory variable holding the desired state, and older names still accepted for it
    # (each use of one is reported as deprecated, never an error)
    var: str
    deprecated_vars: tuple[str, ...]
    # the desired value of a host that does not set the var
    empty: T
    # the only modules this area's remedies use: the executor refuses a playbook calling any other
    remedy_modules: tuple[str, ...]
    # whether the area's targets are things the host runs (containers; Compose services next):
    # the storm breaker measures "more than a fraction of one host's services" against them
    targets_are_services: bool

    def parse(
        self, host: str, value: Any, var: str | None = None, context: ParseContext | None = None
    ) -> tuple[T, list[Problem]]:
        """The desired value from the templated var (None: not set), and every problem found.

        ``var`` is the name the inventory used (the var or a deprecated one), so messages name it;
        ``context`` is what the loader knows besides (ParseContext)."""
        ...

    def check_problem(self, check: Any) -> str | None:
        """Why this area's entry in a world file's ``checks`` is not valid, or None."""
        ...

    def drift(self, host: str, want: T, check: dict[str, Any]) -> list[Drift]:
        """The drift items of one host for this area, from its valid world-state check."""
        ...

    def remediation(self, drift: Drift, want: T) -> Remedy | None:
        """The remedy for one of this area's drift items, from the inventory alone; None: a human must act."""
        ...

    def collateral(self, target: str, before: dict[str, Any], after: dict[str, Any]) -> str | None:
        """What a fix of ``target`` changed that it must not have, from this area's check before the run
        and after it (a Compose fix recreating another service of the project); None: nothing."""
        ...

    def sources(self, want: T) -> tuple[Path, ...]:
        """Folders besides the inventory's files the desired value was read from (none for most areas)."""
        ...

    def targets(self, want: T) -> tuple[str, ...]:
        """The drift targets the desired value names (container names, mount slugs, broker names ...)."""
        ...


def shared_check_problem(name: str, check: Any) -> str | None:
    """The collection's schema for check ``name`` (plugins/module_utils/_world_schema.py).

    The same code the node_observe action plugin runs on every check before it writes a world
    file: an area whose collector is in the collection judges its check with it."""
    problem = schema.check_problem(name, check)
    return None if problem is None else str(problem)
