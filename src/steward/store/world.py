"""Loading world state: every file must parse and validate, or the whole cycle is unusable.

`{}` is never "nothing is running". An empty, truncated, non-JSON or wrong-schema world
file makes `load_world` return an unusable `WorldSnapshot`; callers then skip the cycle
and keep the last-known-good snapshot (see `LastKnownGood`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from steward.store.atomic import atomic_write_bytes

SCHEMA = 1
DOCKER_STATUSES = {"ok", "engine_unreachable", "permission_denied", "api_error", "check_failed"}


class WorldFileError(ValueError):
    """One world file cannot be used; the message says why."""


@dataclass(frozen=True)
class WorldSnapshot:
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # file name -> reason
    raw: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)  # the validated bytes

    @property
    def usable(self) -> bool:
        return not self.errors


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _require(cond: bool, why: str) -> None:
    if not cond:
        raise WorldFileError(why)


def validate_world(doc: Any, expected_host: str) -> dict[str, Any]:
    _require(isinstance(doc, dict), "not a JSON object")
    _require(doc.get("schema") == SCHEMA, f"schema is {doc.get('schema')!r}, expected {SCHEMA}")
    _require(doc.get("host") == expected_host, f"host is {doc.get('host')!r}, file is for {expected_host!r}")
    observed_at = doc.get("observed_at")
    _require(isinstance(observed_at, str), "observed_at missing")
    try:
        parse_time(observed_at)
    except ValueError:
        raise WorldFileError(f"observed_at {observed_at!r} is not an ISO 8601 time") from None
    _require(isinstance(doc.get("cycle"), str), "cycle missing")
    _require(isinstance(doc.get("reachable"), bool), "reachable is not true/false")
    _require(doc.get("error") is None or isinstance(doc.get("error"), str), "error is not a string")
    checks = doc.get("checks")
    _require(isinstance(checks, dict), "checks is not an object")
    docker = checks.get("docker")
    if docker is not None:
        _require(isinstance(docker, dict), "checks.docker is not an object")
        status = docker.get("status")
        _require(status in DOCKER_STATUSES, f"checks.docker.status {status!r} unknown")
        containers = docker.get("containers")
        if status == "ok":
            _require(isinstance(containers, list), "checks.docker.containers is not a list")
            for c in containers:
                _require(isinstance(c, dict), "a container is not an object")
                _require(isinstance(c.get("name"), str) and bool(c["name"]), "a container has no name")
                _require(isinstance(c.get("state"), str), f"container {c.get('name')!r} has no state")
        else:
            _require(containers is None, "checks.docker.containers must be null when the engine was not read")
    return doc


def load_world_file(path: Path) -> dict[str, Any]:
    return _load(path)[0]


def _load(path: Path) -> tuple[dict[str, Any], bytes]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise WorldFileError(f"unreadable: {exc.strerror}") from None
    if not raw.strip():
        raise WorldFileError("empty file")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorldFileError(f"not valid JSON ({exc})") from None
    return validate_world(doc, path.stem), raw


def load_world(world_dir: Path) -> WorldSnapshot:
    """Load every `<host>.json` in world_dir. Temp files (dot-prefixed) are ignored."""
    hosts: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    raw: dict[str, bytes] = {}
    if not world_dir.is_dir():
        return WorldSnapshot()
    for path in sorted(world_dir.iterdir()):
        if path.name.startswith(".") or path.suffix != ".json":
            continue
        try:
            hosts[path.stem], raw[path.stem] = _load(path)
        except WorldFileError as exc:
            errors[path.name] = str(exc)
    return WorldSnapshot(hosts=hosts, errors=errors, raw=raw)


class LastKnownGood:
    """The last snapshot that loaded cleanly, kept under engine/ for when a cycle is skipped."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, snapshot: WorldSnapshot) -> None:
        """One file holding every host's validated world document, byte for byte (no re-encoding)."""
        parts = [json.dumps(host).encode() + b": " + snapshot.raw[host] for host in sorted(snapshot.raw)]
        atomic_write_bytes(self.path, b'{"hosts": {' + b",\n".join(parts) + b"}}\n")

    def load(self) -> WorldSnapshot:
        try:
            doc = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return WorldSnapshot()
        return WorldSnapshot(hosts=doc.get("hosts", {}))
