"""A standalone container's configuration in steward_containers: what a recreate must carry.

A remedy that recreates a container (a new image) builds it again from the inventory alone, with
``community.docker.docker_container``. Whatever the running container has that the inventory does
not name — a bind mount, a volume, a published port, an environment variable, a label, a network —
would be gone afterwards. So an entry may describe the whole container with docker_container's own
parameters (``volumes``, ``ports``, ``env``, ``env_file``, ``labels``, ``networks``), and before a
recreate is proposed, `would_drop` lists what the running container has beyond that; anything on
the list turns the drift into a notice that says exactly what would be lost (areas/docker/containers.py).

Environment values never go into a pending playbook: the task reads them from the host's inventory
variable when it runs (`env_template`), the playbook names only where they come from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from steward.core.model import NAME_RE, Problem

CONFIG_KEYS = ("volumes", "ports", "env", "env_file", "labels", "networks")
# docker_container's published_ports: [ip:][host_port:]container_port[-range][/proto]
_PORT = re.compile(
    r"^(?:(?:\[[0-9A-Fa-f:.]+\]|[0-9.]+):)?(?:[0-9]{1,5}(?:-[0-9]{1,5})?:)?[0-9]{1,5}(?:-[0-9]{1,5})?(?:/(?:tcp|udp|sctp))?$"
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")
# networks Docker gives a container of its own accord: never "lost" by a recreate
DEFAULT_NETWORKS = frozenset(("bridge", "host", "none"))


@dataclass(frozen=True)
class ContainerConfig:
    """The config keys of one steward_containers entry (each None when the inventory does not set it)."""

    volumes: tuple[str, ...] | None = None
    ports: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] | None = None
    env_file: str | None = None
    labels: tuple[tuple[str, str], ...] | None = None
    networks: tuple[str, ...] | None = None

    def params(self, env_template: str | None) -> dict[str, Any]:
        """docker_container parameters for a create or recreate (``env`` as a template: no values)."""
        out: dict[str, Any] = {}
        if self.volumes is not None:
            out["volumes"] = list(self.volumes)
        if self.ports is not None:
            out["published_ports"] = list(self.ports)
        if self.env is not None and env_template is not None:
            out["env"] = env_template
        if self.env_file is not None:
            out["env_file"] = self.env_file
        if self.labels is not None:
            out["labels"] = dict(self.labels)
        if self.networks is not None:
            out["networks"] = [{"name": n} for n in self.networks]
        return out

    def destinations(self) -> set[str]:
        found = set()
        for volume in self.volumes or ():
            parts = volume.split(":")
            found.add(parts[1] if len(parts) >= 2 else parts[0])
        return found

    def container_ports(self) -> set[str]:
        found = set()
        for port in self.ports or ():
            proto = port.rsplit("/", 1)[1] if "/" in port else "tcp"
            bare = port.rsplit("/", 1)[0]
            found.add(f"{bare.rsplit(':', 1)[-1]}/{proto}")
        return found


def parse_config(host: str, where: str, item: dict[str, Any]) -> tuple[ContainerConfig, list[Problem]]:
    problems: list[Problem] = []

    def strings(key: str, pattern: re.Pattern[str] | None, what: str) -> tuple[str, ...] | None:
        value = item.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            problems.append((host, f"{where}.{key}", f"must be a list of {what}"))
            return None
        bad = [v for v in value if pattern is not None and not pattern.fullmatch(v)]
        if bad:
            problems.append((host, f"{where}.{key}", f"{bad[0]!r} is not {what}"))
        return tuple(value)

    def mapping(key: str, pattern: re.Pattern[str], what: str) -> tuple[tuple[str, str], ...] | None:
        value = item.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            problems.append((host, f"{where}.{key}", f"must be a mapping of {what} to strings"))
            return None
        for k, v in value.items():
            if not isinstance(k, str) or not pattern.fullmatch(k):
                problems.append((host, f"{where}.{key}", f"{k!r} is not {what}"))
            elif not isinstance(v, str):
                problems.append(
                    (host, f"{where}.{key}.{k}", f"must be a string (quote numbers and booleans), got {v!r}")
                )
        return tuple(sorted((str(k), str(v)) for k, v in value.items()))

    volumes = strings("volumes", None, "volume strings (SOURCE:DESTINATION[:MODE] or DESTINATION)")
    for volume in volumes or ():
        parts = volume.split(":")
        destination = parts[1] if len(parts) >= 2 else parts[0]
        if not destination.startswith("/") or len(parts) > 3:
            problems.append((host, f"{where}.volumes", f"{volume!r} is not SOURCE:/DESTINATION[:MODE] or /DESTINATION"))
    ports = strings("ports", _PORT, "published ports ([IP:][HOST_PORT:]CONTAINER_PORT[/PROTO])")
    networks = strings("networks", NAME_RE, "network names")
    env = mapping("env", _ENV_NAME, "environment variable names")
    labels = mapping("labels", _LABEL_KEY, "label keys")
    env_file = item.get("env_file")
    if env_file is not None and not (isinstance(env_file, str) and env_file.startswith("/")):
        problems.append((host, f"{where}.env_file", f"must be an absolute path on the node, got {env_file!r}"))
        env_file = None
    config = ContainerConfig(volumes, ports, env, env_file, labels, networks)
    return config, problems


def would_drop(
    config: ContainerConfig, network_mode: str | None, observed: dict[str, Any], described: frozenset[str] = frozenset()
) -> list[str] | None:
    """What recreating the observed container from ``config`` would lose; None: the world file cannot tell.

    Each item is a phrase for the notice ("mount /srv/www:/var/www", "env TZ", "label owner",
    "settings devices, privileged"). ``described``: the other settings the entry names (command,
    restart_policy), which the recreate carries.
    """
    if not all(key in observed for key in ("mounts", "env", "labels", "ports", "networks", "settings")):
        return None
    lost: list[str] = []
    if observed.get("compose_project"):
        lost.append(f"its Compose project labels (project {observed['compose_project']})")
    keep = config.destinations()
    for m in observed["mounts"]:
        if m["destination"] not in keep:
            lost.append(f"mount {m['source']}:{m['destination']}" if m["source"] else f"{m['type']} {m['destination']}")
    keep = config.container_ports()
    for p in observed["ports"]:
        if p["port"] not in keep:
            lost.append(f"port {p['host_port'] or '?'}->{p['port']}")
    if config.env_file is None:  # an env_file names the variables itself: Steward cannot read it here
        keep = {k for k, _ in config.env or ()}
        names = [n for n in observed["env"] if n not in keep]
        if names:
            lost.append("env " + " and ".join(names) if len(names) <= 2 else "env " + ", ".join(names))
    keep = {k for k, _ in config.labels or ()}
    names = [k for k in observed["labels"] if k not in keep]
    if names:
        lost.append(("label " if len(names) == 1 else "labels ") + ", ".join(names))
    keep = set(config.networks or ()) | DEFAULT_NETWORKS | ({network_mode} if network_mode else set())
    names = [n for n in observed["networks"] if n not in keep]
    if names:
        lost.append(("network " if len(names) == 1 else "networks ") + ", ".join(names))
    names = [n for n in observed["settings"] if n not in described]
    if names:
        lost.append(("setting " if len(names) == 1 else "settings ") + ", ".join(names))
    return lost
