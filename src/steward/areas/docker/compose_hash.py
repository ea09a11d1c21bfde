"""The config hash Docker Compose will write on a node, computed on the controller (issue 13).

Compose labels every container it creates with `com.docker.compose.config-hash`, a hash of that
service's resolved configuration. `docker compose config --hash '*'` prints the same value, so the
controller can say "this service's running config is not the inventory's" without guessing at
fields. Two things make the controller's answer equal the node's:

* the project directory: relative bind mounts (`./data:/var/www`) resolve against it and the
  absolute path is part of the hash, so the hash is computed with `--project-directory` set to
  where the project lives on the node (`steward_compose_dir`/NAME), while `-f`/`--env-file` read
  the files from the inventory's copy;
* the environment: Compose interpolates `${VAR}` from the process environment, so the binary runs
  with a scrubbed one (PATH and HOME only) and the project's own `.env` — the controller's shell
  variables must not leak into a node's config.

An unchanged project folder costs no subprocess: answers are cached on the folder's content (every
file's relative path and bytes) plus the arguments, in memory and, when given a path, in a JSON file
written atomically.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from steward.core.atomic import atomic_write_json, read_regular_file

COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
TIMEOUT = 60
MAX_ENTRIES = 500  # project versions remembered (each a few kB)


class ComposeConfigError(Exception):
    """`docker compose config` refused the project (the message names the file and Compose's reason)."""


@dataclass(frozen=True)
class ProjectSource:
    name: str
    folder: Path  # the inventory's copy
    node_dir: str  # where the project lives on the node (its --project-directory there)
    profiles: tuple[str, ...] = ()

    @property
    def compose_file(self) -> Path:
        for candidate in COMPOSE_FILES:
            if (self.folder / candidate).is_file():
                return self.folder / candidate
        raise ComposeConfigError(f"{self.folder}: no {' / '.join(COMPOSE_FILES)} in the project folder")


def folder_digest(folder: Path) -> str:
    """sha256 over every regular file's relative path and bytes (symlinks and sockets refused)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if not p.is_dir()):
        if path.is_symlink() or not path.is_file():
            raise ComposeConfigError(f"{path}: project folders hold regular files only (no symlinks)")
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(hashlib.sha256(read_regular_file(path)).digest())
    return digest.hexdigest()


def _command(source: ProjectSource, *args: str) -> list[str]:
    cmd = ["docker", "compose", "--project-name", source.name, "--file", str(source.compose_file)]
    env_file = source.folder / ".env"
    if env_file.is_file():
        cmd += ["--env-file", str(env_file)]
    cmd += ["--project-directory", source.node_dir]
    for profile in source.profiles:
        cmd += ["--profile", profile]
    return [*cmd, *args]


def _scrubbed_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root")}


def run_compose(source: ProjectSource, *args: str) -> str:
    try:
        done = subprocess.run(
            _command(source, *args),
            capture_output=True,
            text=True,
            env=_scrubbed_env(),
            cwd=source.folder,
            timeout=TIMEOUT,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ComposeConfigError("docker CLI not found: Steward needs `docker compose` v2 on the controller") from exc
    except subprocess.TimeoutExpired as exc:
        raise ComposeConfigError(f"{source.compose_file}: docker compose config took over {TIMEOUT} s") from exc
    if done.returncode != 0:
        reason = " ".join(done.stderr.split()) or f"exit {done.returncode}"
        where = str(source.compose_file)
        raise ComposeConfigError(reason if where in reason else f"{where}: {reason}")
    return done.stdout


def parse_hash_lines(text: str) -> dict[str, str]:
    hashes = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            hashes[parts[0]] = parts[1]
    return hashes


def fingerprint(service: dict[str, Any]) -> dict[str, str]:
    """A service's resolved config as path -> digest of the value (``environment.TZ``, ``volumes[0]``).

    Two fingerprints name what differs between two versions of a service without holding a value:
    environment values never leave the inventory's files, not even into the state folder's cache."""
    out: dict[str, str] = {}
    for key, value in service.items():
        if isinstance(value, dict) and key in MAPPED_KEYS:
            for k, v in value.items():
                out[f"{key}.{k}"] = _digest(v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                out[f"{key}[{i}]"] = _digest(v)
        else:
            out[key] = _digest(value)
    return out


MAPPED_KEYS = frozenset(("environment", "labels", "networks", "healthcheck", "deploy", "logging", "sysctls", "ulimits"))


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _service_facts(name: str, service: dict[str, Any], config_hash: str) -> dict[str, Any]:
    """What the controller keeps of one resolved service: no environment value among it."""
    env = service.get("environment") or {}
    return {
        "hash": config_hash,
        "image": service.get("image"),
        "container_name": service.get("container_name"),
        "healthcheck": bool(service.get("healthcheck")) and not (service.get("healthcheck") or {}).get("disable"),
        "env": sorted(env) if isinstance(env, dict) else [],
        "volumes": sorted(str(v.get("target")) for v in service.get("volumes") or [] if isinstance(v, dict)),
        "ports": sorted(
            f"{p.get('target')}/{p.get('protocol') or 'tcp'}" for p in service.get("ports") or [] if isinstance(p, dict)
        ),
        "labels": sorted(service.get("labels") or {}),
        "fingerprint": fingerprint(service),
    }


@functools.cache
def compose_version() -> str:
    """`docker compose version --short` of the controller's binary (asked once per process)."""
    try:
        done = subprocess.run(
            ["docker", "compose", "version", "--short"],
            capture_output=True,
            text=True,
            env=_scrubbed_env(),
            timeout=TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({type(exc).__name__})"
    return done.stdout.strip() or f"unknown (exit {done.returncode})"


class ComposeHashes:
    """Desired per-service config hashes and facts, cached on the folder's content and the arguments.

    The cache is also the controller's memory of earlier versions of a project: a container created
    from a version seen before (its config-hash label) is compared key by key with the desired one."""

    def __init__(self, cache_file: Path | None = None) -> None:
        self.cache_file = cache_file
        self.subprocess_runs = 0
        self._cache: dict[str, dict[str, Any]] = self._load()

    def use_file(self, cache_file: Path) -> None:
        """Keep the cache in ``cache_file`` from now on (entries already there are added)."""
        if cache_file != self.cache_file:
            self.cache_file = cache_file
            known = self._load()
            unsaved = self._cache.keys() - known.keys()
            self._cache = {**known, **self._cache}
            if unsaved:  # read before the file was named (the inventory is read first): keep them too
                self._save()

    def _load(self) -> dict[str, dict[str, Any]]:
        if self.cache_file is None:
            return {}
        try:
            doc = json.loads(read_regular_file(self.cache_file))
        except (OSError, ValueError):
            return {}  # a cache is only a cache: a missing or torn one costs subprocesses, nothing else
        entries = doc.get("entries") if isinstance(doc, dict) and doc.get("schema") == 2 else None
        if not isinstance(entries, dict):
            return {}
        return {k: v for k, v in entries.items() if isinstance(v, dict) and _entry_ok(v)}

    def _key(self, source: ProjectSource, digest: str) -> str:
        # the binary's version too: how Compose computes a config hash may change between releases
        parts: Sequence[str] = (compose_version(), source.name, source.node_dir, ",".join(source.profiles), digest)
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def describe(self, source: ProjectSource, memo: dict[Any, Any] | None = None) -> dict[str, dict[str, Any]]:
        """Per service of the project (profiles applied): its facts (see `_service_facts`).

        ``memo`` (one read of the inventory) keeps each folder's digest: a fleet sharing a project
        reads its files once per read, not once per host."""
        memo = {} if memo is None else memo
        digest = memo.get(("compose-folder", source.folder))
        if digest is None:
            digest = memo[("compose-folder", source.folder)] = folder_digest(source.folder)
        key = self._key(source, digest)
        cached = self._cache.get(key)
        if cached is not None:
            return cached["services"]
        self.subprocess_runs += 1
        hashes = parse_hash_lines(run_compose(source, "config", "--hash", "*"))
        project = json.loads(run_compose(source, "config", "--format", "json"))
        if folder_digest(source.folder) != digest:
            raise ProjectChanged(f"{source.folder} changed while docker compose read it")
        services = project.get("services") if isinstance(project, dict) else None
        if not isinstance(services, dict):
            raise ComposeConfigError(f"{source.compose_file}: docker compose config gave no services")
        result = {
            name: _service_facts(name, svc, hashes.get(name, ""))
            for name, svc in sorted(services.items())
            if isinstance(svc, dict)
        }
        self._cache.pop(key, None)
        self._cache[key] = {"project": source.name, "services": result}  # the newest last
        self._save()
        return result

    def _save(self) -> None:
        if self.cache_file is None:
            return
        # what other processes (the executor, an event-path plan) added since this one read it stays
        on_disk = {k: v for k, v in self._load().items() if k not in self._cache}
        live = dict(list({**on_disk, **self._cache}.items())[-MAX_ENTRIES:])
        with contextlib.suppress(OSError):  # a cache is only a cache: not kept, the answer is still right
            atomic_write_json(self.cache_file, {"schema": 2, "entries": live})

    def hashes(self, source: ProjectSource) -> dict[str, str]:
        return {name: facts["hash"] for name, facts in self.describe(source).items()}

    def earlier(self, project: str, service: str, config_hash: str) -> dict[str, str] | None:
        """The fingerprint of a version of ``project``'s ``service`` seen before with that hash."""
        for entry in self._cache.values():
            if entry["project"] != project:
                continue
            facts = entry["services"].get(service)
            if isinstance(facts, dict) and facts.get("hash") == config_hash:
                return dict(facts.get("fingerprint") or {})
        return None


def _entry_ok(entry: dict[str, Any]) -> bool:
    services = entry.get("services")
    return (
        isinstance(entry.get("project"), str)
        and isinstance(services, dict)
        and all(isinstance(f, dict) and isinstance(f.get("hash"), str) for f in services.values())
    )


class ProjectChanged(ComposeConfigError):
    """A project file changed while Compose read it: the read is torn, not the file broken."""


# one per process: the loader, the engine and the executor share what the binary answered
HASHES = ComposeHashes()
