"""Single Docker containers: steward_containers versus checks.docker, compared with deepdiff.

``steward_containers`` was called ``steward_services`` before Docker Compose projects arrived
(``steward_services`` is still read, as a deprecated name): "services" is the name Compose gives
the containers of a project, and Compose projects will be an area of their own beside this one
(areas/docker/compose.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steward.areas.base import ParseContext, shared_check_problem
from steward.areas.docker.container_config import CONFIG_KEYS, ContainerConfig, parse_config, would_drop
from steward.core.model import NAME_RE, Drift, Problem, Remedy, could_not_look

STATES = ("running", "stopped", "absent")
RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
KEYS = {
    "name",
    "image",
    "state",
    "command",
    "network_mode",
    "restart_policy",
    "healthy",
    "compose_project",
    *CONFIG_KEYS,
}
# Per container, the most significant kind wins: recreating from the desired image also starts it.
KIND_RANK = ("missing", "wrong_image", "not_running", "should_be_stopped", "unhealthy", "should_be_absent")


@dataclass(frozen=True)
class Container:
    name: str
    image: str | None
    state: str = "running"
    command: str | tuple[str, ...] | None = None
    network_mode: str | None = None
    restart_policy: str | None = None
    healthy: bool = False
    compose_project: str | None = None
    config: ContainerConfig = ContainerConfig()
    # the inventory variable it came from (the env template reads it); not part of the desired state
    var: str = field(default="steward_containers", compare=False)

    def env_template(self) -> str:
        """Where the remedy reads the environment values when it runs: never written into the playbook."""
        return f"{{{{ {self.var} | selectattr('name', 'equalto', '{self.name}') | map(attribute='env') | first }}}}"

    def container_spec(self) -> dict[str, Any]:
        """The community.docker.docker_container parameters that describe this container (create, recreate)."""
        spec: dict[str, Any] = {"name": self.name}
        if self.image is not None:
            spec["image"] = self.image
        if self.command is not None:
            spec["command"] = list(self.command) if isinstance(self.command, tuple) else self.command
        if self.network_mode is not None:
            spec["network_mode"] = self.network_mode
        if self.restart_policy is not None:
            spec["restart_policy"] = self.restart_policy
        spec.update(self.config.params(self.env_template()))
        return spec


def _projection(container: dict[str, Any]) -> dict[str, Any]:
    return {
        "state": "running" if container.get("state") == "running" else "stopped",
        "image": container.get("image"),
        "health": container.get("health"),
    }


def in_sync(want: tuple[Container, ...], actual_by_name: dict[str, dict[str, Any]]) -> bool:
    """Every container as desired: what comparing the `wanted` and `have` projections in `drift` says
    when they are equal, field by field and without building them (the bulk of a cycle over a fleet)."""
    for entry in want:
        actual = actual_by_name.get(entry.name)
        if entry.state == "absent":
            if actual is not None:
                return False
            continue
        if actual is None or actual.get("image") != entry.image:
            return False
        if ("running" if actual.get("state") == "running" else "stopped") != entry.state:
            return False
        if entry.healthy and actual.get("health") != "healthy":
            return False
    return True


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


# the kinds whose remedy builds the container anew from the inventory (a missing one has nothing to lose)
RECREATES = frozenset(("wrong_image",))
# a start or a restart must never recreate: docker_container compares nothing and is given no image
NEVER_RECREATE = {"comparisons": {"*": "ignore"}}

FIXES = {
    "missing": ("create and start the container from the desired image", "started", {}),
    "wrong_image": ("recreate the container from the desired image", "started", {}),
    "not_running": ("start the existing container", "started", {}),
    "unhealthy": ("restart the container", "started", {"restart": True}),
    "should_be_stopped": ("stop the container", "stopped", {}),
    "should_be_absent": ("remove the container", "absent", {}),
}


def _named(want: tuple[Container, ...], name: str) -> Container | None:
    return next((c for c in want if c.name == name), None)


class ContainersArea:
    """steward_containers (formerly steward_services) versus checks.docker."""

    name = "docker"
    check = "docker"
    context_vars: tuple[str, ...] = ()
    var = "steward_containers"
    deprecated_vars: tuple[str, ...] = ("steward_services",)
    empty: tuple[Container, ...] = ()
    remedy_modules: tuple[str, ...] = ("community.docker.docker_container",)
    targets_are_services = True

    def parse(
        self, host: str, value: Any, var: str | None = None, context: ParseContext | None = None
    ) -> tuple[tuple[Container, ...], list[Problem]]:
        var = var or self.var
        problems: list[Problem] = []
        if value is None:
            return (), problems
        if not isinstance(value, list):
            return (), [(host, var, f"must be a list of containers, got {type(value).__name__}")]
        containers: list[Container] = []
        seen: set[str] = set()
        for i, item in enumerate(value):
            where = f"{var}[{i}]"
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
            where = f"{var}[{i}] ({name})"
            if name in seen:
                problems.append((host, where, "duplicate container name"))
            seen.add(name)
            state = item.get("state", "running")
            if state not in STATES:
                problems.append((host, f"{where}.state", f"must be one of {', '.join(STATES)}, got {state!r}"))
            image = item.get("image")
            if state != "absent" and (not isinstance(image, str) or not image):
                problems.append(
                    (
                        host,
                        f"{where}.image",
                        f"must be a non-empty string (required unless state is absent), got {image!r}",
                    )
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
            config, config_problems = parse_config(host, where, item)
            problems.extend(config_problems)
            containers.append(
                Container(
                    name=name,
                    image=image if isinstance(image, str) else None,
                    state=state,
                    command=tuple(command) if isinstance(command, list) else command,
                    network_mode=item.get("network_mode"),
                    restart_policy=policy,
                    healthy=healthy is True,
                    compose_project=item.get("compose_project"),
                    config=config,
                    var=var,
                )
            )
        return tuple(containers), problems

    def drift(self, host: str, want: tuple[Container, ...], check: dict[str, Any]) -> list[Drift]:
        if check.get("status") != "ok":
            return [could_not_look(host, "docker", "engine", check, "Docker engine")]
        actual_by_name = {c["name"]: c for c in check["containers"]}
        if in_sync(want, actual_by_name):
            return []
        wanted: dict[str, dict[str, Any]] = {}
        have: dict[str, dict[str, Any]] = {}
        for entry in want:
            actual = actual_by_name.get(entry.name)
            if entry.state == "absent":
                if actual is not None:
                    have[entry.name] = _projection(actual)
                continue
            wanted[entry.name] = {"state": entry.state, "image": entry.image}
            if entry.healthy:
                wanted[entry.name]["health"] = "healthy"
            if actual is not None:
                proj = _projection(actual)
                have[entry.name] = {k: proj[k] for k in wanted[entry.name]}
        found: dict[str, set[str]] = {}
        if wanted == have:  # the common case: in sync, nothing for deepdiff to explain
            return []
        # deepdiff explains only the containers that differ (cheaper by far on a big host)
        differ = {n for n in wanted.keys() | have.keys() if wanted.get(n) != have.get(n)}
        wanted = {n: v for n, v in wanted.items() if n in differ}
        have = {n: v for n, v in have.items() if n in differ}
        from deepdiff import DeepDiff  # here, not at import: most cycles and commands never need it

        # threshold_to_diff_deeper=0: deepdiff >= 8 reports two dicts sharing few keys as one root change
        # ("everything differs"); every container must be explained by its own name
        for change, items in DeepDiff(wanted, have, view="tree", threshold_to_diff_deeper=0).items():
            for item in items:
                path = item.path(output_format="list")
                kind = _kind(change, path, wanted, have)
                if kind:
                    found.setdefault(str(path[0]), set()).add(kind)
        drifts = []
        for name, kinds in sorted(found.items()):
            kind = min(kinds, key=KIND_RANK.index)
            container = _named(want, name)
            assert container is not None
            actual = actual_by_name.get(name)
            observed = _evidence(actual)
            summary = _summary(kind, name, container.image, observed)
            notice_only = False
            if kind in RECREATES and actual is not None:
                described = frozenset(
                    name
                    for name, value in (("command", container.command), ("restart_policy", container.restart_policy))
                    if value is not None
                )
                lost = would_drop(container.config, container.network_mode, actual, described)
                if lost is None:
                    notice_only = True
                    summary += (
                        "; not recreated: this observation does not say what the container's config is (re-observe)"
                    )
                elif lost:
                    notice_only = True
                    observed["would_drop"] = lost
                    summary += (
                        f"; not recreated: recreating {name} would drop {', '.join(lost)}; describe them in "
                        f"{container.var} or make it a compose service"
                    )
            drifts.append(
                Drift(
                    host,
                    "docker",
                    name,
                    kind,
                    summary,
                    desired={"state": container.state, "image": container.image, "healthy": container.healthy},
                    observed=observed,
                    notice_only=notice_only,
                )
            )
        return drifts

    def remediation(self, d: Drift, want: tuple[Container, ...]) -> Remedy | None:
        container = _named(want, d.target)
        if d.notice_only or container is None or d.kind not in FIXES:
            return None
        what, state, extra = FIXES[d.kind]
        params: dict[str, Any]
        if state in ("absent", "stopped"):
            params = {"name": container.name}
        elif d.kind in ("not_running", "unhealthy"):
            params = {"name": container.name, **NEVER_RECREATE}
        else:
            params = container.container_spec()
        params["state"] = state
        params.update(extra)
        params["docker_host"] = "{{ steward_docker_host | default(omit) }}"
        task: dict[str, Any] = {
            "name": f"{what.capitalize()}: {container.name}",
            "community.docker.docker_container": params,
        }
        if "env" in params:
            task["no_log"] = True  # the module's result echoes the env values: none in the run's artifacts
        return Remedy(what=what, tasks=[task], modules="community.docker.docker_container")

    def check_problem(self, check: Any) -> str | None:
        return shared_check_problem(self.name, check)

    def collateral(self, target: str, before: dict[str, Any], after: dict[str, Any]) -> str | None:
        return None

    def sources(self, want: Any) -> tuple[Path, ...]:
        return ()

    def targets(self, want: tuple[Container, ...]) -> tuple[str, ...]:
        return tuple(container.name for container in want)


AREA = ContainersArea()
