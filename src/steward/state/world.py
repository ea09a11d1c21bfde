"""Loading world state: every file must parse and validate, or the whole cycle is unusable.

`{}` is never "nothing is running". An empty, truncated, non-JSON or wrong-schema world
file makes `load_world` return an unusable `WorldSnapshot`; callers then skip the cycle
and keep the last-known-good snapshot (see `LastKnownGood`).

"Wrong schema" is judged field by field. The envelope (host, time, cycle, reachability, the
``checks`` object) is judged here by the collection's plugins/module_utils/_world_schema.py;
each check by the caller's `CheckProblem`, which is the areas' (`steward.areas.check_problem`:
each area judges its own check, with the same schema code the node_observe action plugin runs
before it writes a world file). state/ knows world files, not areas, so the caller, a layer
that may know both, passes it. The controller writes only schema-valid files (a node's bad
value becomes that check's `invalid_report`), so a file that fails here is torn, corrupt or
not the controller's, and skipping the cycle keeps its purpose.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from steward.core.atomic import atomic_write_bytes

SCHEMA_FILE = Path(__file__).resolve().parents[3] / "plugins" / "module_utils" / "_world_schema.py"


def _load_schema() -> ModuleType:
    """The collection's plugins/module_utils/_world_schema.py, loaded from this checkout by path.

    One definition of the world file for both sides: the node_observe action plugin imports it as
    ``ansible_collections.homelab.steward.plugins.module_utils._world_schema``; the controller
    package cannot import it by that name without Ansible's collection loader, so it loads the
    very same file (the package is an editable install of the repository that holds the
    collection: src/steward/state/world.py -> the repository root is three levels up).
    """
    path = SCHEMA_FILE
    name = "steward._world_schema"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None or not path.is_file():
        raise ImportError(f"the world schema {path} is missing: steward must run from the collection's checkout")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


schema = _load_schema()
SCHEMA = schema.SCHEMA_VERSION
MAX_WORLD_FILE_BYTES: int = schema.MAX_WORLD_FILE_BYTES


# Why one check of a world file (its name, its value) is not valid, or None.
CheckProblem = Callable[[str, Any], str | None]


class WorldFileError(ValueError):
    """One world file cannot be used; the message says why, naming the field."""


@dataclass(frozen=True)
class WorldSnapshot:
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # file name -> reason

    @property
    def usable(self) -> bool:
        return not self.errors


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def validate_world(doc: Any, expected_host: str, check_problem: CheckProblem) -> dict[str, Any]:
    """`doc` if it is a valid world document for `expected_host` (the envelope, then every check by
    `check_problem`); else WorldFileError naming the first field that is not."""
    problem = schema.envelope_problem(doc, expected_host)
    if problem is not None:
        raise WorldFileError(str(problem))
    for name, check in doc["checks"].items():
        why = check_problem(name, check)
        if why is not None:
            raise WorldFileError(why)
    return doc


def look_of(doc: dict[str, Any]) -> dict[str, Any]:
    """What a plan cycle reads of a validated world document besides the areas' comparison: the
    envelope, and each check's status and error (plan/looks.py keeps this, not the document)."""
    checks = {
        name: {"status": check.get("status"), "error": check.get("error")} if isinstance(check, dict) else check
        for name, check in doc["checks"].items()
    }
    return {k: doc[k] for k in ("host", "observed_at", "cycle", "reachable", "error")} | {"checks": checks}


def read_world_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise WorldFileError(f"unreadable: {exc.strerror}") from None


def load_world_file(path: Path, check_problem: CheckProblem) -> dict[str, Any]:
    return parse_world_bytes(path.stem, read_world_bytes(path), check_problem)


def parse_world_bytes(host: str, raw: bytes, check_problem: CheckProblem) -> dict[str, Any]:
    """The validated world document of `host` these bytes hold; else WorldFileError saying why not."""
    if not raw or raw.isspace():  # not raw.strip(): that copies every file's bytes to look at its first one
        raise WorldFileError("empty file")
    if len(raw) > MAX_WORLD_FILE_BYTES:
        raise WorldFileError(f"{len(raw)} bytes, larger than the {MAX_WORLD_FILE_BYTES} a world file may have")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorldFileError(f"not valid JSON ({exc})") from None
    return validate_world(doc, host, check_problem)


def load_world(world_dir: Path, check_problem: CheckProblem) -> WorldSnapshot:
    """Load every `<host>.json` in world_dir, each check judged by `check_problem`. Temp files
    (dot-prefixed) are ignored. (The plan cycle reads the folder through plan/looks.py instead.)"""
    hosts: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    if not world_dir.is_dir():
        return WorldSnapshot()
    for name in sorted(os.listdir(world_dir)):  # names, not Paths: sorting 10 000 Paths costs
        if name.startswith(".") or not name.endswith(".json"):
            continue
        path = world_dir / name
        try:
            hosts[path.stem] = load_world_file(path, check_problem)
        except WorldFileError as exc:
            errors[path.name] = str(exc)
    return WorldSnapshot(hosts=hosts, errors=errors)


class LastKnownGood:
    """The last snapshot that loaded cleanly, kept under engine/ for when a cycle is skipped."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, raw: Mapping[str, bytes]) -> None:
        """One file holding every host's validated world document (host -> its bytes), byte for byte."""
        atomic_write_bytes(self.path, self._chunks(raw))  # written piece by piece: never a second copy

    @staticmethod
    def _chunks(raw: Mapping[str, bytes]) -> Iterator[bytes]:
        yield b'{"hosts": {'
        for i, host in enumerate(sorted(raw)):
            yield (b",\n" if i else b"") + json.dumps(host).encode() + b": "
            yield raw[host]
        yield b"}}\n"

    def load(self) -> WorldSnapshot:
        try:
            doc = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return WorldSnapshot()
        return WorldSnapshot(hosts=doc.get("hosts", {}))
