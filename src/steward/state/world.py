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

import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from steward.core.atomic import atomic_write_bytes


def _load_schema() -> ModuleType:
    """The collection's plugins/module_utils/_world_schema.py, loaded from this checkout by path.

    One definition of the world file for both sides: the node_observe action plugin imports it as
    ``ansible_collections.homelab.steward.plugins.module_utils._world_schema``; the controller
    package cannot import it by that name without Ansible's collection loader, so it loads the
    very same file (the package is an editable install of the repository that holds the
    collection: src/steward/state/world.py -> the repository root is three levels up).
    """
    path = Path(__file__).resolve().parents[3] / "plugins" / "module_utils" / "_world_schema.py"
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
    raw: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)  # the validated bytes
    # sha256 of each host's bytes, when loaded through a WorldCache: equal digests, equal documents
    digests: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)

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


class WorldCache:
    """The validated document of each world file, reused while the file's bytes are the same.

    A long-running reader (the engine) parses and validates only the files whose content changed
    since its last load: same bytes, same document (validation is a function of the bytes), so the
    object handed out is the very one validated before - callers treat world documents as read-only.
    Keyed on a content hash, never on mtime; a file that fails is forgotten, so it is judged afresh."""

    def __init__(self) -> None:
        self._docs: dict[str, tuple[bytes, dict[str, Any]]] = {}  # file name -> (sha256 of the bytes, doc)
        self.seen: dict[str, tuple[bytes, dict[str, Any]]] = {}  # the load under way
        self.reused = 0  # documents handed out again by the last load (for tests and benchmarks)

    def get(self, name: str, raw: bytes) -> tuple[bytes, dict[str, Any] | None]:
        key = hashlib.sha256(raw).digest()  # sha256: the fastest here (CPU instructions), and no collisions
        hit = self._docs.pop(name, None)  # a changed file's old document is let go before the new one is parsed
        return key, (hit[1] if hit is not None and hit[0] == key else None)

    def keep(self, seen: dict[str, tuple[bytes, dict[str, Any]]]) -> None:
        self._docs = seen


def load_world_file(path: Path, check_problem: CheckProblem) -> dict[str, Any]:
    return _load(path, check_problem)[0]


def _load(path: Path, check_problem: CheckProblem, cache: WorldCache | None = None) -> tuple[dict[str, Any], bytes]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise WorldFileError(f"unreadable: {exc.strerror}") from None
    if cache is not None:
        key, doc = cache.get(path.name, raw)
        if doc is None:
            doc = _parse(path, raw, check_problem)
        else:
            cache.reused += 1
        cache.seen[path.name] = (key, doc)
        return doc, raw
    return _parse(path, raw, check_problem), raw


def _parse(path: Path, raw: bytes, check_problem: CheckProblem) -> dict[str, Any]:
    if not raw.strip():
        raise WorldFileError("empty file")
    if len(raw) > MAX_WORLD_FILE_BYTES:
        raise WorldFileError(f"{len(raw)} bytes, larger than the {MAX_WORLD_FILE_BYTES} a world file may have")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorldFileError(f"not valid JSON ({exc})") from None
    return validate_world(doc, path.stem, check_problem)


def load_world(world_dir: Path, check_problem: CheckProblem, cache: WorldCache | None = None) -> WorldSnapshot:
    """Load every `<host>.json` in world_dir, each check judged by `check_problem`. Temp files
    (dot-prefixed) are ignored. With a `cache`, a file whose bytes did not change since the cache's
    last load is not parsed again (WorldCache); the snapshot is the same either way."""
    hosts: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    raw: dict[str, bytes] = {}
    digests: dict[str, bytes] = {}
    if cache is not None:
        cache.reused, cache.seen = 0, {}
    if not world_dir.is_dir():
        if cache is not None:
            cache.keep({})
        return WorldSnapshot()
    for name in sorted(os.listdir(world_dir)):  # names, not Paths: sorting 10 000 Paths costs
        if name.startswith(".") or not name.endswith(".json"):
            continue
        path = world_dir / name
        try:
            hosts[path.stem], raw[path.stem] = _load(path, check_problem, cache)
        except WorldFileError as exc:
            errors[path.name] = str(exc)
            continue
        if cache is not None:
            digests[path.stem] = cache.seen[name][0]
    if cache is not None:
        cache.keep(cache.seen)  # files gone or unusable are forgotten
    return WorldSnapshot(hosts=hosts, errors=errors, raw=raw, digests=digests)


class LastKnownGood:
    """The last snapshot that loaded cleanly, kept under engine/ for when a cycle is skipped."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, snapshot: WorldSnapshot) -> None:
        """One file holding every host's validated world document, byte for byte (no re-encoding)."""
        atomic_write_bytes(self.path, self._chunks(snapshot))  # written piece by piece: never a second copy

    @staticmethod
    def _chunks(snapshot: WorldSnapshot) -> Iterator[bytes]:
        yield b'{"hosts": {'
        for i, host in enumerate(sorted(snapshot.raw)):
            yield (b",\n" if i else b"") + json.dumps(host).encode() + b": "
            yield snapshot.raw[host]
        yield b"}}\n"

    def load(self) -> WorldSnapshot:
        try:
            doc = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return WorldSnapshot()
        return WorldSnapshot(hosts=doc.get("hosts", {}))
