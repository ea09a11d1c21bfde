"""Desired state: the inventory's steward_* vars, read through Ansible's own inventory machinery.

Any inventory source Ansible understands works. Every variable is validated; a malformed
one raises DesiredStateError naming the host and the variable, and nothing acts on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVICE_STATES = ("running", "stopped", "absent")
RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
SERVICE_KEYS = {"name", "image", "state", "command", "network_mode", "restart_policy", "healthy", "compose_project"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class DesiredStateError(ValueError):
    """Malformed desired state. `problems` lists (host, variable, message)."""

    def __init__(self, problems: list[tuple[str, str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"host {h!r}: {v}: {m}" for h, v, m in problems))


@dataclass(frozen=True)
class Service:
    name: str
    image: str | None
    state: str = "running"
    command: str | tuple[str, ...] | None = None
    network_mode: str | None = None
    restart_policy: str | None = None
    healthy: bool = False
    compose_project: str | None = None

    def container_spec(self) -> dict[str, Any]:
        """The community.docker.docker_container parameters that describe this service."""
        spec: dict[str, Any] = {"name": self.name}
        if self.image is not None:
            spec["image"] = self.image
        if self.command is not None:
            spec["command"] = list(self.command) if isinstance(self.command, tuple) else self.command
        if self.network_mode is not None:
            spec["network_mode"] = self.network_mode
        if self.restart_policy is not None:
            spec["restart_policy"] = self.restart_policy
        return spec


@dataclass(frozen=True)
class HostDesired:
    host: str
    services: tuple[Service, ...] = ()
    hostvars: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)


@dataclass(frozen=True)
class DesiredState:
    hosts: dict[str, HostDesired]
    globals: dict[str, Any] = field(default_factory=dict)


def plain(value: Any) -> Any:
    """Ansible 2.19 returns tagged str/dict/list subclasses; keep only plain Python data."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def parse_services(host: str, value: Any) -> tuple[tuple[Service, ...], list[tuple[str, str, str]]]:
    var = "steward_services"
    problems: list[tuple[str, str, str]] = []
    if value is None:
        return (), problems
    if not isinstance(value, list):
        return (), [(host, var, f"must be a list of containers, got {type(value).__name__}")]
    services: list[Service] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        where = f"{var}[{i}]"
        if not isinstance(item, dict):
            problems.append((host, where, f"must be a mapping, got {type(item).__name__}"))
            continue
        unknown = sorted(set(item) - SERVICE_KEYS)
        if unknown:
            problems.append((host, where, f"unknown key(s) {', '.join(unknown)}; allowed: {sorted(SERVICE_KEYS)}"))
        name = item.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.append((host, f"{where}.name", f"must be a container name, got {name!r}"))
            continue
        where = f"{var}[{i}] ({name})"
        if name in seen:
            problems.append((host, where, "duplicate container name"))
        seen.add(name)
        state = item.get("state", "running")
        if state not in SERVICE_STATES:
            problems.append((host, f"{where}.state", f"must be one of {', '.join(SERVICE_STATES)}, got {state!r}"))
        image = item.get("image")
        if state != "absent" and (not isinstance(image, str) or not image):
            problems.append(
                (host, f"{where}.image", f"must be a non-empty string (required unless state is absent), got {image!r}")
            )
        command = item.get("command")
        if command is not None and not (
            isinstance(command, str) or (isinstance(command, list) and all(isinstance(c, str) for c in command))
        ):
            problems.append((host, f"{where}.command", "must be a string or a list of strings"))
        for key in ("network_mode", "compose_project"):
            if item.get(key) is not None and not isinstance(item[key], str):
                problems.append((host, f"{where}.{key}", "must be a string"))
        policy = item.get("restart_policy")
        if policy is not None and policy not in RESTART_POLICIES:
            problems.append((host, f"{where}.restart_policy", f"must be one of {', '.join(RESTART_POLICIES)}"))
        healthy = item.get("healthy", False)
        if not isinstance(healthy, bool):
            problems.append((host, f"{where}.healthy", f"must be true or false, got {healthy!r}"))
        services.append(
            Service(
                name=name,
                image=image if isinstance(image, str) else None,
                state=state,
                command=tuple(command) if isinstance(command, list) else command,
                network_mode=item.get("network_mode"),
                restart_policy=policy,
                healthy=healthy is True,
                compose_project=item.get("compose_project"),
            )
        )
    return tuple(services), problems


_plugin_loader_ready = False


def _init_ansible() -> None:
    """Set Ansible up the way its CLIs do: collection loader first, so lookups like
    ansible.builtin.env resolve when inventory vars are templated."""
    global _plugin_loader_ready
    if not _plugin_loader_ready:
        from ansible.plugins.loader import init_plugin_loader

        init_plugin_loader()
        _plugin_loader_ready = True


def load_desired(inventory: Path) -> DesiredState:
    """Read desired state for every host of `inventory` (file, folder or any Ansible source)."""
    _init_ansible()
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    if not inventory.exists():
        raise DesiredStateError([("*", "inventory", f"{inventory} does not exist")])
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(inventory)])
    variables = VariableManager(loader=loader, inventory=manager)
    hosts: dict[str, HostDesired] = {}
    problems: list[tuple[str, str, str]] = []
    globals_: dict[str, Any] = {}
    for host in manager.get_hosts():
        name = str(host.get_name())
        if not HOST_RE.match(name):
            problems.append((name, "inventory_hostname", "must be a plain host name"))
            continue
        hv = variables.get_vars(host=host, include_hostvars=False)
        templar = Templar(loader=loader, variables=hv)
        try:
            raw = plain(templar.template(hv.get("steward_services")))
        except Exception as exc:  # Ansible's templating errors have no common public base
            problems.append((name, "steward_services", f"cannot be templated: {exc}"))
            continue
        services, host_problems = parse_services(name, raw)
        problems.extend(host_problems)
        keep = {k: hv[k] for k in ("steward_state_dir", "steward_docker_host", "ansible_host") if k in hv}
        for k, v in list(keep.items()):
            try:
                keep[k] = plain(templar.template(v))
            except Exception:  # noqa: BLE001 - informational vars only
                keep.pop(k)
        hosts[name] = HostDesired(host=name, services=services, hostvars=keep)
        if "steward_state_dir" in keep:
            globals_.setdefault("steward_state_dir", keep["steward_state_dir"])
    if problems:
        raise DesiredStateError(problems)
    return DesiredState(hosts=hosts, globals=globals_)
