"""Docker containers: steward_services versus checks.docker, compared with deepdiff."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from deepdiff import DeepDiff

from steward.core.model import NAME_RE, Drift, Problem, Remedy, could_not_look

if TYPE_CHECKING:
    from steward.desired.inventory import HostDesired

VAR = "steward_services"
FIELD = "services"
# the only modules this area's remedies use: the executor refuses a playbook calling any other
REMEDY_MODULES: tuple[str, ...] = ("community.docker.docker_container",)
STATES = ("running", "stopped", "absent")
RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
KEYS = {"name", "image", "state", "command", "network_mode", "restart_policy", "healthy", "compose_project"}
# Per container, the most significant kind wins: recreating from the desired image also starts it.
KIND_RANK = ("missing", "wrong_image", "not_running", "should_be_stopped", "unhealthy", "should_be_absent")


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


def parse(host: str, value: Any) -> tuple[tuple[Service, ...], list[Problem]]:
    problems: list[Problem] = []
    if value is None:
        return (), problems
    if not isinstance(value, list):
        return (), [(host, VAR, f"must be a list of containers, got {type(value).__name__}")]
    services: list[Service] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        where = f"{VAR}[{i}]"
        if not isinstance(item, dict):
            problems.append((host, where, f"must be a mapping, got {type(item).__name__}"))
            continue
        unknown = sorted(set(item) - KEYS)
        if unknown:
            problems.append((host, where, f"unknown key(s) {', '.join(unknown)}; allowed: {sorted(KEYS)}"))
        name = item.get("name")
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            problems.append((host, f"{where}.name", f"must be a container name, got {name!r}"))
            continue
        where = f"{VAR}[{i}] ({name})"
        if name in seen:
            problems.append((host, where, "duplicate container name"))
        seen.add(name)
        state = item.get("state", "running")
        if state not in STATES:
            problems.append((host, f"{where}.state", f"must be one of {', '.join(STATES)}, got {state!r}"))
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


def _projection(container: dict[str, Any]) -> dict[str, Any]:
    return {
        "state": "running" if container.get("state") == "running" else "stopped",
        "image": container.get("image"),
        "health": container.get("health"),
    }


def drift(desired: HostDesired, check: dict[str, Any]) -> list[Drift]:
    if check.get("status") != "ok":
        return [could_not_look(desired.host, "docker", "engine", check, "Docker engine")]
    containers: list[dict[str, Any]] = check["containers"]
    actual_by_name = {c["name"]: c for c in containers}
    want: dict[str, dict[str, Any]] = {}
    have: dict[str, dict[str, Any]] = {}
    for svc in desired.services:
        actual = actual_by_name.get(svc.name)
        if svc.state == "absent":
            if actual is not None:
                have[svc.name] = _projection(actual)
            continue
        want[svc.name] = {"state": svc.state, "image": svc.image}
        if svc.healthy:
            want[svc.name]["health"] = "healthy"
        if actual is not None:
            proj = _projection(actual)
            have[svc.name] = {k: proj[k] for k in want[svc.name]}
    found: dict[str, set[str]] = {}
    if want == have:  # the common case: in sync, nothing for deepdiff to explain
        return []
    # deepdiff explains only the containers that differ (cheaper by far on a big host)
    differ = {n for n in want.keys() | have.keys() if want.get(n) != have.get(n)}
    want = {n: v for n, v in want.items() if n in differ}
    have = {n: v for n, v in have.items() if n in differ}
    for change, items in DeepDiff(want, have, view="tree").items():
        for item in items:
            path = item.path(output_format="list")
            kind = _kind(change, path, want, have)
            if kind:
                found.setdefault(str(path[0]), set()).add(kind)
    drifts = []
    for name, kinds in sorted(found.items()):
        kind = min(kinds, key=KIND_RANK.index)
        service = desired.service(name)
        assert service is not None
        observed = _evidence(actual_by_name.get(name))
        drifts.append(
            Drift(
                desired.host,
                "docker",
                name,
                kind,
                _summary(kind, name, service.image, observed),
                desired={"state": service.state, "image": service.image, "healthy": service.healthy},
                observed=observed,
            )
        )
    return drifts


def _kind(change: str, path: list[Any], want: dict[str, Any], have: dict[str, Any]) -> str:
    name = path[0]
    if change == "dictionary_item_removed" and len(path) == 1:
        return "missing"
    if change == "dictionary_item_added" and len(path) == 1:
        return "should_be_absent"
    if len(path) < 2:
        return ""
    attr = path[1]
    if attr == "image":
        return "wrong_image"
    if attr == "state":
        return "not_running" if want[name]["state"] == "running" else "should_be_stopped"
    if attr == "health":
        # only "unhealthy" is a finding; "starting" or no HEALTHCHECK is not evidence of trouble
        return "unhealthy" if have[name].get("health") == "unhealthy" else ""
    return ""


def _evidence(actual: dict[str, Any] | None) -> dict[str, Any]:
    if actual is None:
        return {"present": False}
    return {"present": True, **{k: actual.get(k) for k in ("state", "health", "image", "exit_code")}}


def _summary(kind: str, name: str, image: str | None, observed: dict[str, Any]) -> str:
    state = observed.get("state")
    return {
        "missing": f"container {name} does not exist (desired: running {image})",
        "wrong_image": f"container {name} runs image {observed.get('image')}, desired {image}",
        "not_running": f"container {name} is {state} (exit code {observed.get('exit_code')}), desired running",
        "should_be_stopped": f"container {name} is {state}, desired stopped",
        "unhealthy": f"container {name} is unhealthy, desired healthy",
        "should_be_absent": f"container {name} exists ({state}), desired absent",
    }[kind]


FIXES = {
    "missing": ("create and start the container from the desired image", "started", {}),
    "wrong_image": ("recreate the container from the desired image", "started", {}),
    "not_running": ("start the existing container", "started", {}),
    "unhealthy": ("restart the container", "started", {"restart": True}),
    "should_be_stopped": ("stop the container", "stopped", {}),
    "should_be_absent": ("remove the container", "absent", {}),
}


def remediation(d: Drift, desired: HostDesired) -> Remedy | None:
    service = desired.service(d.target)
    if d.notice_only or service is None or d.kind not in FIXES:
        return None
    what, state, extra = FIXES[d.kind]
    params: dict[str, Any] = {"name": service.name} if state in ("absent", "stopped") else service.container_spec()
    params["state"] = state
    params.update(extra)
    params["docker_host"] = "{{ steward_docker_host | default(omit) }}"
    task = {"name": f"{what.capitalize()}: {service.name}", "community.docker.docker_container": params}
    return Remedy(what=what, tasks=[task], modules="community.docker.docker_container")
