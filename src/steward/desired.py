"""Desired state: the inventory's steward_* vars, read through Ansible's own inventory machinery.

Any inventory source Ansible understands works. Every variable is validated; a malformed
one raises DesiredStateError naming the host and the variable, and nothing acts on it.
"""

from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steward.areas import AREAS
from steward.areas.disk import DiskRule
from steward.areas.docker import Service
from steward.areas.mqtt import Broker
from steward.areas.tailscale import TailscaleWant
from steward.model import DesiredStateError, Problem
from steward.policy import POLICY_VAR, WINDOWS_VAR, Policy, Window, parse_policy, parse_windows

HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
__all__ = ["DesiredState", "DesiredStateError", "HostDesired", "Service", "load_desired"]


@dataclass(frozen=True)
class HostDesired:
    host: str
    services: tuple[Service, ...] = ()
    disk: tuple[DiskRule, ...] = ()
    tailscale: TailscaleWant | None = None
    mqtt: tuple[Broker, ...] = ()
    windows: tuple[Window, ...] = ()
    hostvars: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)


@dataclass(frozen=True)
class DesiredState:
    hosts: dict[str, HostDesired]
    globals: dict[str, Any] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)


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


_cache: dict[Path, tuple[tuple[tuple[str, int, int], ...], DesiredState]] = {}


def _signature(inventory: Path) -> tuple[tuple[str, int, int], ...]:
    # (path, size, crc32 of the content): an edit within the same clock tick is still seen
    """Every file that can feed a static inventory: the source and group_vars/host_vars beside it."""
    root = inventory if inventory.is_dir() else inventory.parent
    files = [inventory] if inventory.is_file() else []
    for sub in ("group_vars", "host_vars"):
        if (root / sub).is_dir():
            files += sorted(p for p in (root / sub).rglob("*") if p.is_file())
    if inventory.is_dir():
        files += sorted(p for p in inventory.rglob("*") if p.is_file())
    out = []
    for f in files:
        data = f.read_bytes()
        out.append((str(f), len(data), zlib.crc32(data)))
    return tuple(out)


def load_desired_cached(inventory: Path) -> DesiredState:
    """load_desired, reused while no inventory file changed (long-running processes, benchmarks).

    Only for inventories made of files: an executable or plugin source is re-read every time."""
    static = inventory.is_dir() or inventory.suffix in (".yml", ".yaml", ".ini", ".json", "")
    if not static or not os.access(inventory, os.R_OK) or (inventory.is_file() and os.access(inventory, os.X_OK)):
        return load_desired(inventory)
    sig = _signature(inventory)
    hit = _cache.get(inventory)
    if hit and hit[0] == sig:
        return hit[1]
    desired = load_desired(inventory)
    _cache[inventory] = (sig, desired)
    return desired


_plugin_loader_ready = False


def _init_ansible() -> None:
    """Set Ansible up the way its CLIs do: collection loader first, so lookups like
    ansible.builtin.env resolve when inventory vars are templated."""
    global _plugin_loader_ready
    if not _plugin_loader_ready:
        from ansible.utils.collection_loader import AnsibleCollectionConfig

        # inside ansible-playbook (the homelab.steward.plan action) the loader is already set up
        if not AnsibleCollectionConfig.collection_finder:
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
    problems: list[Problem] = []
    globals_: dict[str, Any] = {}
    policies: dict[str, tuple[str, Any]] = {}
    for host in manager.get_hosts():
        name = str(host.get_name())
        if not HOST_RE.match(name):
            problems.append((name, "inventory_hostname", "must be a plain host name"))
            continue
        hv = variables.get_vars(host=host, include_hostvars=False)
        templar = Templar(loader=loader, variables=hv)
        parsed: dict[str, Any] = {}
        for area in AREAS.values():
            try:
                raw = plain(templar.template(hv.get(area.VAR)))
            except Exception as exc:  # Ansible's templating errors have no common public base
                problems.append((name, area.VAR, f"cannot be templated: {exc}"))
                continue
            value, area_problems = area.parse(name, raw)
            problems.extend(area_problems)
            parsed[area.FIELD] = value
        try:
            windows, window_problems = parse_windows(name, plain(templar.template(hv.get(WINDOWS_VAR))))
            problems.extend(window_problems)
            parsed["windows"] = windows
            policy_raw = plain(templar.template(hv.get(POLICY_VAR)))
        except Exception as exc:  # noqa: BLE001 - Ansible templating errors
            problems.append((name, f"{WINDOWS_VAR} / {POLICY_VAR}", f"cannot be templated: {exc}"))
            continue
        if policy_raw is not None:
            policies.setdefault(repr(policy_raw), (name, policy_raw))
        keep = {k: hv[k] for k in ("steward_state_dir", "steward_docker_host", "ansible_host") if k in hv}
        for k, v in list(keep.items()):
            try:
                keep[k] = plain(templar.template(v))
            except Exception:  # noqa: BLE001 - informational vars only
                keep.pop(k)
        hosts[name] = HostDesired(host=name, hostvars=keep, **parsed)
        if "steward_state_dir" in keep:
            globals_.setdefault("steward_state_dir", keep["steward_state_dir"])
    policy = Policy()
    if len(policies) > 1:
        names = ", ".join(sorted(h for h, _ in policies.values()))
        problems.append(("all", POLICY_VAR, f"differs between hosts ({names}): set it once, in group all"))
    elif policies:
        policy, policy_problems = parse_policy(next(iter(policies.values()))[1])
        problems.extend(policy_problems)
    if problems:
        raise DesiredStateError(problems)
    return DesiredState(hosts=hosts, globals=globals_, policy=policy)
