"""steward_compose_projects: Docker Compose projects as desired state, read and checked whole.

An entry names a project folder in the inventory's repository (``src``, relative to the inventory's
folder: ``services/<name>/`` with ``compose.yml`` and an optional ``.env``) and how it should be
(``state: present | stopped | absent``, ``healthy``, the ``services`` watched, ``profiles``). The
folder is read with the real binary when the inventory is: a compose file ``docker compose config``
rejects is an inventory error naming the host, the variable and Compose's reason, like any other
malformed var. Each service's desired config hash is what Compose will write on the node
(compose_hash.py), computed for the project's folder there: ``steward_compose_dir``/NAME.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from steward.areas.base import ParseContext, SourceChanged
from steward.areas.docker.compose_hash import HASHES, ComposeConfigError, ProjectChanged, ProjectSource
from steward.core.model import Problem

VAR = "steward_compose_projects"
DIR_VAR = "steward_compose_dir"
DEFAULT_DIR = "/opt/homelab/compose"
KEYS = {"name", "src", "services", "state", "healthy", "profiles"}
STATES = ("present", "stopped", "absent")
# Compose's project name rule (lowercase letters, digits, dashes and underscores, starting with a letter or digit)
PROJECT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
SERVICE_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


@dataclass(frozen=True)
class ComposeService:
    name: str
    config_hash: str
    image: str | None
    healthcheck: bool
    facts: dict[str, Any]  # compose_hash._service_facts: env names, volume targets, ports, labels, fingerprint


@dataclass(frozen=True)
class ComposeProject:
    name: str
    src: str  # as the inventory wrote it
    folder: Path  # resolved on the controller
    node_dir: str  # where the project lives on the node
    state: str = "present"
    healthy: bool = False
    profiles: tuple[str, ...] = ()
    watched: tuple[str, ...] = ()  # the services Steward watches (all of the project's by default)
    services: tuple[ComposeService, ...] = ()  # every service of the resolved project
    digest: str = ""  # of every file in the folder (what the fix copies)
    compose_file: str = "compose.yml"  # its compose file's name in the folder (the one hashed)

    def service(self, name: str) -> ComposeService | None:
        return next((s for s in self.services if s.name == name), None)

    @cached_property
    def expected(self) -> dict[str, str]:
        """watched service -> its desired config hash (the drift's fast path compares against it)."""
        hashes = {s.name: s.config_hash for s in self.services}
        return {name: hashes[name] for name in self.watched}


def parse_projects(
    host: str, value: Any, var: str, context: ParseContext | None
) -> tuple[tuple[ComposeProject, ...], list[Problem]]:
    if value is None:
        return (), []
    if not isinstance(value, list):
        return (), [(host, var, f"must be a list of Compose projects, got {type(value).__name__}")]
    context = context or ParseContext()
    base = context.hostvars.get(DIR_VAR) or DEFAULT_DIR
    problems: list[Problem] = []
    if not isinstance(base, str) or not base.startswith("/"):
        return (), [(host, DIR_VAR, f"must be an absolute path on the node, got {base!r}")]
    projects: list[ComposeProject] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        project, found = _parse_one(host, f"{var}[{i}]", item, base, context)
        problems.extend(found)
        if project is None:
            continue
        if project.name in seen:
            problems.append((host, f"{var}[{i}] ({project.name})", "duplicate project name"))
        seen.add(project.name)
        projects.append(project)
    return tuple(projects), problems


def _strings(
    host: str, where: str, value: Any, pattern: re.Pattern[str], what: str
) -> tuple[tuple[str, ...], list[Problem]]:
    if value is None:
        return (), []
    if not isinstance(value, list) or not all(isinstance(v, str) and pattern.fullmatch(v) for v in value):
        return (), [(host, where, f"must be a list of {what}, got {value!r}")]
    return tuple(value), []


def _parse_one(
    host: str, where: str, item: Any, base: str, context: ParseContext
) -> tuple[ComposeProject | None, list[Problem]]:
    if not isinstance(item, dict):
        return None, [(host, where, f"must be a mapping, got {type(item).__name__}")]
    problems: list[Problem] = []
    unknown = sorted(set(item) - KEYS)
    if unknown:
        problems.append((host, where, f"unknown key(s) {', '.join(map(str, unknown))}; allowed: {sorted(KEYS)}"))
    name = item.get("name")
    if not isinstance(name, str) or not PROJECT_RE.fullmatch(name):
        return None, [
            *problems,
            (host, f"{where}.name", f"must be a Compose project name (a-z, 0-9, - and _), got {name!r}"),
        ]
    where = f"{where} ({name})"
    state = item.get("state", "present")
    if state not in STATES:
        problems.append((host, f"{where}.state", f"must be one of {', '.join(STATES)}, got {state!r}"))
    healthy = item.get("healthy", False)
    if not isinstance(healthy, bool):
        problems.append((host, f"{where}.healthy", f"must be true or false, got {healthy!r}"))
    watched, found = _strings(host, f"{where}.services", item.get("services"), SERVICE_RE, "service names")
    problems.extend(found)
    profiles, found = _strings(host, f"{where}.profiles", item.get("profiles"), SERVICE_RE, "profile names")
    problems.extend(found)
    src = item.get("src")
    folder, found = _folder(host, f"{where}.src", src, context.inventory_root)
    problems.extend(found)
    if folder is None or problems:
        return None, problems
    node_dir = str(PurePosixPath(base) / name)
    source = ProjectSource(name, folder, node_dir, profiles)
    try:
        described = HASHES.describe(source, context.memo)
        digest, compose_file = context.memo[("compose-folder", folder)], source.compose_file.name
    except ProjectChanged as exc:
        raise SourceChanged([str(folder)], "changed while docker compose read it") from exc
    except (ComposeConfigError, ValueError, OSError) as exc:
        return None, [(host, f"{where}.src", f"docker compose config refused {src}: {exc}")]
    services = tuple(
        ComposeService(n, f["hash"], f.get("image"), bool(f.get("healthcheck")), f) for n, f in described.items()
    )
    missing = [s for s in watched if s not in described]
    if missing:
        known = ", ".join(described) or "none"
        return None, [(host, f"{where}.services", f"{', '.join(missing)}: not a service of {src} ({known})")]
    project = ComposeProject(
        name=name,
        src=str(src),
        folder=folder,
        node_dir=node_dir,
        state=str(state),
        healthy=healthy is True,
        profiles=profiles,
        watched=watched or tuple(described),
        services=services,
        digest=digest,
        compose_file=compose_file,
    )
    return project, []


def _folder(host: str, where: str, src: Any, root: Path | None) -> tuple[Path | None, list[Problem]]:
    if not isinstance(src, str) or not src:
        return None, [(host, where, f"must be a project folder relative to the inventory, got {src!r}")]
    if src.startswith("/"):
        return None, [(host, where, f"must be relative to the inventory's folder, got the absolute path {src!r}")]
    if root is None:
        return None, [(host, where, "cannot be resolved: the inventory has no folder")]
    folder = (root / src).resolve()
    if not folder.is_relative_to(root):
        return None, [(host, where, f"{src} leaves the inventory's folder {root}")]
    if not folder.is_dir():
        return None, [(host, where, f"{src}: no such folder (looked in {folder})")]
    return folder, []
