"""Use case: where things stand (`steward status`): queue counts, each host's last look, and
whether the engine can plan at all (inventory whole, every world file whole).

Read only: nothing here writes, journals or takes a lock. With diagnosis on, one line on the
Ollama server (asked: its version and models, bounded by the configured timeout, at most 10 s).
With STEWARD_REDIS_URL set, the event path (steward.events.health: the stream, the rulebook's
group, each node agent's last heartbeat), with the Redis client's short timeouts.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from steward.app.actions import list_actions
from steward.app.diagnose import health as diagnosis_health
from steward.areas import check_problem
from steward.desired.cached import PersistedDesired, load_desired_cached
from steward.desired.inventory import DesiredState, DesiredStateError
from steward.events import bus_from_env
from steward.events.health import EventPathHealth, event_path_health
from steward.state.memory import read_memory
from steward.state.paths import QUEUE_FOLDERS
from steward.state.settings import Settings
from steward.state.world import LastKnownGood, load_world


@dataclass(frozen=True)
class HostStatus:
    observed_at: Any
    reachable: Any
    docker: str | None  # the docker check's status in the last look
    in_inventory: bool | None  # None while the inventory cannot be read
    checks: dict[str, str | None] = field(default_factory=dict)  # each check's status in the last look


@dataclass(frozen=True)
class Status:
    state_dir: str
    inventory: str
    inventory_error: str | None  # why the inventory is unusable (cycles are skipped), or None
    queue: dict[str, int]  # actions per queue folder, every folder
    hosts: dict[str, HostStatus]
    left_inventory: dict[str, str]  # host -> when it left the inventory
    world_errors: dict[str, str]  # world file -> why it is unusable (cycles are skipped)
    last_known_good: dict[str, str] | None  # host -> observed_at the engine last trusted; only with world_errors
    diagnosis: str | None = None  # the diagnosis server's health in one line; None when diagnosis is off
    event_path: EventPathHealth | None = None  # None when STEWARD_REDIS_URL is not set

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.last_known_good is None:
            del data["last_known_good"]
        if self.diagnosis is None:
            del data["diagnosis"]
        if self.event_path is None:
            del data["event_path"]
        return data


def _left_inventory(settings: Settings) -> dict[str, str]:
    """The engine's memory of hosts that left the inventory (the one read of it in app/)."""
    return dict(read_memory(settings.paths).left_inventory)


def _desired_or_error(settings: Settings) -> tuple[DesiredState | None, DesiredStateError | None]:
    try:
        return load_desired_cached(settings.inventory, PersistedDesired(settings.paths)), None
    except DesiredStateError as exc:
        return None, exc


def agent_intervals(desired: DesiredState | None) -> dict[str, float]:
    """Host -> its node agent's heartbeat interval (node_agent_heartbeat_seconds, default 30 s; 0 and
    node_agent_enabled: false mean none is expected). Nothing is expected while the inventory is unusable."""
    out: dict[str, float] = {}
    for host, want in (desired.hosts if desired is not None else {}).items():
        enabled = want.hostvars.get("node_agent_enabled", True)
        if enabled is False or str(enabled).strip().lower() in ("false", "no", "0", "off"):
            continue
        try:
            out[host] = max(float(want.hostvars.get("node_agent_heartbeat_seconds", 30)), 0.0)
        except (TypeError, ValueError):
            out[host] = 30.0
    return out


def event_path(settings: Settings, desired: DesiredState | None | bool = True) -> EventPathHealth | None:
    """The event path's health (None when STEWARD_REDIS_URL is unset). `desired`: the desired state
    already read, or True to read it here (agents are expected only while it reads whole)."""
    bus = bus_from_env(settings.paths.root)
    if bus is None:
        return None
    if desired is True:
        desired = _desired_or_error(settings)[0]
    return event_path_health(bus, agent_intervals(desired or None))


def status(settings: Settings) -> Status:
    state_dir = os.path.abspath(settings.state_dir)
    counts = Counter(i.folder for i in list_actions(settings, every_folder=True))
    snapshot = load_world(settings.paths.world, check_problem)
    desired, inventory_error = _desired_or_error(settings)
    left = _left_inventory(settings)
    hosts = {
        h: HostStatus(
            observed_at=w["observed_at"],
            reachable=w["reachable"],
            docker=(w["checks"].get("docker") or {}).get("status"),
            in_inventory=None if desired is None else h in desired.hosts,
            checks={name: (c or {}).get("status") for name, c in sorted(w["checks"].items())},
        )
        for h, w in snapshot.hosts.items()
    }
    trusted = None
    if snapshot.errors:  # cycles are being skipped: what the engine last trusted
        good = LastKnownGood(settings.paths.last_good).load()
        trusted = {h: str(w["observed_at"]) for h, w in good.hosts.items()}
    return Status(
        state_dir=state_dir,
        inventory=str(settings.inventory),
        inventory_error=None if inventory_error is None else str(inventory_error),
        queue={f: counts.get(f, 0) for f in QUEUE_FOLDERS},
        hosts=hosts,
        left_inventory=left,
        world_errors=snapshot.errors,
        last_known_good=trusted,
        diagnosis=diagnosis_health(settings),
        event_path=event_path(settings, desired),
    )
