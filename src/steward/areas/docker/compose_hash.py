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

import hashlib
import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from steward.core.atomic import atomic_write_json, read_regular_file

COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
TIMEOUT = 60


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


class ComposeHashes:
    """Desired per-service config hashes, cached on the folder's content and the arguments."""

    def __init__(self, cache_file: Path | None = None) -> None:
        self.cache_file = cache_file
        self.subprocess_runs = 0
        self._cache: dict[str, dict[str, str]] = self._load()

    def _load(self) -> dict[str, dict[str, str]]:
        if self.cache_file is None:
            return {}
        try:
            doc = json.loads(read_regular_file(self.cache_file))
        except (OSError, ValueError):
            return {}  # a cache is only a cache: a missing or torn one costs subprocesses, nothing else
        entries = doc.get("entries") if isinstance(doc, dict) else None
        if not isinstance(entries, dict):
            return {}
        return {
            k: v
            for k, v in entries.items()
            if isinstance(v, dict) and all(isinstance(s, str) and isinstance(h, str) for s, h in v.items())
        }

    def _key(self, source: ProjectSource) -> str:
        parts: Sequence[str] = (source.name, source.node_dir, ",".join(source.profiles), folder_digest(source.folder))
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def hashes(self, source: ProjectSource) -> dict[str, str]:
        key = self._key(source)
        cached = self._cache.get(key)
        if cached is not None:
            return dict(cached)
        self.subprocess_runs += 1
        result = parse_hash_lines(run_compose(source, "config", "--hash", "*"))
        self._cache[key] = result
        if self.cache_file is not None:
            live = {key: result, **{k: v for k, v in list(self._cache.items())[-500:] if k != key}}
            atomic_write_json(self.cache_file, {"schema": 1, "entries": live})
        return dict(result)

    def config(self, source: ProjectSource) -> dict[str, object]:
        """The resolved project (`docker compose config --format json`) — for naming what differs."""
        doc = json.loads(run_compose(source, "config", "--format", "json"))
        if not isinstance(doc, dict):
            raise ComposeConfigError(f"{source.compose_file}: docker compose config gave no project")
        return doc
