"""Docker Compose projects: steward_compose_projects versus the docker check's containers.

A service's container is found by Compose's own labels (project and service, reported by the
node as ``compose_project``/``compose_service``); its config is compared through the
``com.docker.compose.config-hash`` label Compose writes (``config_hash``) against the hash the
controller computes from the inventory's project folder (compose_hash.py). Drift targets are
``PROJECT.SERVICE``; kinds: ``missing``, ``config_changed``, ``not_running``, ``unhealthy``,
``should_be_stopped``; notices for an orphan container of the project, for a service stopped as
desired, and for a project that should be absent (Steward never runs ``down``).

Remedies copy the project folder to the node and run ``community.docker.docker_compose_v2`` on the
one service: ``state: present`` (missing, not_running, config_changed), ``restarted`` (unhealthy),
``stopped`` (should_be_stopped); ``recreate: auto``, ``remove_orphans: false``, never ``down``,
never a volume, never another service of the project.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from steward.areas.base import ParseContext, shared_check_problem
from steward.areas.docker.compose_diff import changed_keys
from steward.areas.docker.compose_projects import DIR_VAR, VAR, ComposeProject, ComposeService, parse_projects
from steward.core.model import Drift, Problem, Remedy, could_not_look

KIND_RANK = ("missing", "config_changed", "not_running", "should_be_stopped", "unhealthy")
FIXES = {
    "missing": ("create and start the service with docker compose up", "present"),
    "config_changed": ("recreate the service from the project's config with docker compose up", "present"),
    "not_running": ("start the service with docker compose up", "present"),
    "unhealthy": ("restart the service with docker compose restart", "restarted"),
    "should_be_stopped": ("stop the service with docker compose stop", "stopped"),
}
COMPOSE_MODULE = "community.docker.docker_compose_v2"
COPY_MODULE = "ansible.builtin.copy"


def _evidence(containers: list[dict[str, Any]]) -> dict[str, Any]:
    if not containers:
        return {"present": False}
    c = containers[0]
    keys = ("name", "id", "state", "health", "image", "exit_code", "config_hash")
    return {"present": True, **{k: c.get(k) for k in keys}, "containers": len(containers)}


def _as_desired(project: ComposeProject, containers: list[dict[str, Any]]) -> bool:
    """One running container per watched service, each with its desired hash (not unhealthy if
    health is asked), and no orphan: the common case, decided without building anything."""
    if project.state != "present":
        return False
    expected, seen = project.expected, set()
    for c in containers:
        service = c.get("compose_service")
        if service not in expected:
            if project.service(str(service)) is None:
                return False  # an orphan: the notice is written by the full look
            continue  # a service of the project Steward does not watch
        if (
            service in seen
            or expected[service] != c.get("config_hash")
            or c.get("state") != "running"
            or (project.healthy and c.get("health") == "unhealthy")
        ):
            return False
        seen.add(service)
    return len(seen) == len(expected)


def _find(
    host: str, project: ComposeProject, service: ComposeService, containers: list[dict[str, Any]]
) -> Drift | None:
    """The most significant finding for one service (None: as desired)."""
    running = [c for c in containers if c.get("state") == "running"]
    if project.state == "stopped":
        if running:
            return _drift(host, project, service, "should_be_stopped", containers)
        return None
    if not containers:
        return _drift(host, project, service, "missing", containers)
    if any(c.get("config_hash") != service.config_hash for c in containers):
        return _drift(host, project, service, "config_changed", containers)
    if len(running) < len(containers):
        return _drift(host, project, service, "not_running", containers)
    if project.healthy and service.healthcheck and any(c.get("health") == "unhealthy" for c in containers):
        return _drift(host, project, service, "unhealthy", containers)
    return None


def _drift(
    host: str, project: ComposeProject, service: ComposeService, kind: str, containers: list[dict[str, Any]]
) -> Drift:
    target = f"{project.name}.{service.name}"
    observed = _evidence(containers)
    c = containers[0] if containers else {}
    desired: dict[str, Any] = {
        "project": project.name,
        "service": service.name,
        "src": project.src,
        "state": "stopped" if project.state == "stopped" else "running",
        "config_hash": service.config_hash,
        "healthy": project.healthy and service.healthcheck,
        # every file the fix copies: an edit after approval (a mounted config file the hash does not
        # cover) makes the plan stale
        "folder": project.digest[:16],
    }
    summary = {
        "missing": f"service {target} has no container (desired: running, from {project.src})",
        "config_changed": f"service {target} runs another config than {project.src}",
        "not_running": f"service {target} is {c.get('state')} (exit code {c.get('exit_code')}), desired running",
        "should_be_stopped": f"service {target} is running, desired stopped",
        "unhealthy": f"service {target} is unhealthy, desired healthy",
    }[kind]
    if kind == "config_changed":
        # in the summary only: which keys can be named depends on what this controller read before,
        # and the evidence (desired/observed) must be the same for every process that judges it
        keys, how = changed_keys(project.name, service, c)
        summary += f": {how}" if not keys else f" ({how}: {', '.join(keys)})"
    return Drift(host, "compose", target, kind, summary, desired=desired, observed=observed)


class ComposeArea:
    """steward_compose_projects versus the docker check's containers (by Compose's labels)."""

    name = "compose"
    check = "docker"
    var = VAR
    deprecated_vars: tuple[str, ...] = ()
    context_vars: tuple[str, ...] = (DIR_VAR,)
    empty: tuple[ComposeProject, ...] = ()
    remedy_modules: tuple[str, ...] = (COPY_MODULE, COMPOSE_MODULE)
    targets_are_services = True

    def parse(
        self, host: str, value: Any, var: str | None = None, context: ParseContext | None = None
    ) -> tuple[tuple[ComposeProject, ...], list[Problem]]:
        return parse_projects(host, value, var or self.var, context)

    def drift(self, host: str, want: tuple[ComposeProject, ...], check: dict[str, Any]) -> list[Drift]:
        if not want:
            return []
        if check.get("status") != "ok":
            return [could_not_look(host, "compose", "engine", check, "Docker engine")]
        plugin = check.get("compose")
        if isinstance(plugin, dict) and plugin.get("status") != "ok":
            return [_plugin_notice(host, plugin)]
        names = {p.name for p in want}
        members: dict[str, list[dict[str, Any]]] = {}
        for c in check["containers"]:
            if c.get("compose_project") in names:
                if "compose_service" not in c:  # a world file from before Compose projects: cannot tell
                    return [_old_observation_notice(host)]
                if c["compose_service"] is not None:  # None: a `docker compose run` one-off, not the service
                    members.setdefault(c["compose_project"], []).append(c)
        drifts: list[Drift] = []
        for project in want:
            if _as_desired(project, members.get(project.name, [])):
                continue  # the common case, without building anything
            found: dict[str, list[dict[str, Any]]] = {}
            for c in members.get(project.name, []):
                found.setdefault(c["compose_service"], []).append(c)
            if project.state == "absent":
                if found:
                    drifts.append(_absent_notice(host, project, found))
                continue
            known = {s.name for s in project.services}
            for service_name in project.watched:
                service = project.service(service_name)
                assert service is not None  # parse checked it
                d = _find(host, project, service, sorted(found.get(service_name, []), key=lambda c: c["name"]))
                if d is not None:
                    drifts.append(d)
            for orphan in sorted(set(found) - known):
                drifts.append(_orphan_notice(host, project, orphan, found[orphan]))
        return drifts

    def remediation(self, d: Drift, want: tuple[ComposeProject, ...]) -> Remedy | None:
        if d.notice_only or d.kind not in FIXES:
            return None
        project_name, _, service_name = d.target.partition(".")
        project = next((p for p in want if p.name == project_name), None)
        if project is None or project.service(service_name) is None:
            return None
        what, state = FIXES[d.kind]
        copy = {
            "name": f"Copy the project folder {project.src} to {project.node_dir}",
            # backup: a file edited on the node is kept beside the new one, never lost
            COPY_MODULE: {
                "src": f"{project.folder}/",
                "dest": f"{project.node_dir}/",
                "mode": "preserve",
                "backup": True,
            },
        }
        compose: dict[str, Any] = {
            "project_src": project.node_dir,
            "project_name": project.name,
            # the very files the controller hashed (no compose.override.yml, no stale compose.yaml)
            "files": [project.compose_file],
            "services": [service_name],
            "state": state,
            "dependencies": False,  # never start, restart or recreate the project's other services
            "remove_orphans": False,
            "docker_host": "{{ steward_docker_host | default(omit) }}",
        }
        if state == "present":
            compose["recreate"] = "auto"
            if project.healthy:
                compose["wait"] = True
        if project.profiles:
            compose["profiles"] = list(project.profiles)
        task = {"name": f"{what.capitalize()}: {d.target}", COMPOSE_MODULE: compose}
        tasks = [copy, task] if state == "present" else [task]
        return Remedy(what=what, tasks=tasks, modules=", ".join(sorted({t_module(t) for t in tasks})))

    def check_problem(self, check: Any) -> str | None:
        return shared_check_problem(self.check, check)

    def collateral(self, target: str, before: dict[str, Any], after: dict[str, Any]) -> str | None:
        """The project's other containers must keep their ids: the fix was for one service only."""
        project, _, service = target.partition(".")

        def others(check: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
            return {
                c["name"]: (c["id"], c.get("started_at"))  # a restart keeps the id: started_at tells
                for c in check.get("containers") or ()
                if c.get("compose_project") == project and c.get("compose_service") != service
            }

        was, now = others(before), others(after)
        changed = sorted(name for name, cid in was.items() if now.get(name) != cid)
        if not changed:
            return None
        return (
            f"the fix of {target} also recreated, restarted or removed {', '.join(changed)} "
            f"(other services of {project})"
        )

    def sources(self, want: tuple[ComposeProject, ...]) -> tuple[Path, ...]:
        return tuple(p.folder for p in want)

    def targets(self, want: tuple[ComposeProject, ...]) -> tuple[str, ...]:
        return tuple(f"{p.name}.{s}" for p in want if p.state != "absent" for s in p.watched)


def own_container_names(want: tuple[ComposeProject, ...], target: str) -> tuple[str, ...]:
    """The names (and name prefixes) of the containers of service ``target`` (PROJECT.SERVICE):
    what a dry run of its fix may touch."""
    project, _, service = target.partition(".")
    own: tuple[str, ...] = (f"{project}-{service}-", f"{project}_{service}_")  # Compose v2 and v1 names
    for p in want:
        found = p.service(service) if p.name == project else None
        if found is not None and found.facts.get("container_name"):
            own += (str(found.facts["container_name"]),)
    return own


def t_module(task: dict[str, Any]) -> str:
    return next(k for k in task if k != "name")


def _old_observation_notice(host: str) -> Drift:
    return Drift(
        host,
        "compose",
        "projects",
        "no_compose_labels",
        f"could not look at the Compose projects of {host}: its observation does not report Compose's labels "
        "(written by an older collector); the next observation will",
        notice_only=True,
    )


def _plugin_notice(host: str, plugin: dict[str, Any]) -> Drift:
    status = str(plugin.get("status"))
    return Drift(
        host,
        "compose",
        "plugin",
        f"plugin_{status}",
        f"could not look at the Compose projects of {host}: compose plugin missing or older than 2.18 "
        f"({plugin.get('error')})",
        observed={"status": status, "version": plugin.get("version"), "error": plugin.get("error")},
        notice_only=True,
    )


def _absent_notice(host: str, project: ComposeProject, found: dict[str, list[dict[str, Any]]]) -> Drift:
    names = sorted(c["name"] for cs in found.values() for c in cs)
    return Drift(
        host,
        "compose",
        project.name,
        "should_be_absent",
        f"project {project.name} should be absent but has {len(names)} container(s) ({', '.join(names[:5])}): "
        "Steward never removes a Compose project; run `docker compose down` on the node yourself",
        desired={"project": project.name, "state": "absent"},
        observed={"containers": names},
        notice_only=True,
    )


def _orphan_notice(host: str, project: ComposeProject, service: str, containers: list[dict[str, Any]]) -> Drift:
    names = sorted(c["name"] for c in containers)
    return Drift(
        host,
        "compose",
        f"{project.name}.{service or '-'}",
        "orphan",
        f"container(s) {', '.join(names)} belong to project {project.name} but {project.src} has no service "
        f"{service or '(none)'}: left alone (Steward never removes orphans)",
        desired={"project": project.name},
        observed={"containers": names},
        notice_only=True,
    )


AREA = ComposeArea()
