"""The plan cycle's read of the world folder: each host's look and its area comparison, computed once
per (world file bytes, desired value) and then kept as those two small things, not as the document.

A plan cycle needs two things of a world document (plan/engine.py):
- its *look*: the envelope (host, observed_at, cycle, reachable, error) and each check's status and
  error (state/world.py `look_of`): what the host-level verdict, the observation bookkeeping
  (plan/streaks.py, plan/flaps.py) and a proposal (its evidence line) read;
- its *area comparison*: `area_drift(desired, document)` (plan/drift.py), a function of the desired
  value and the document alone, no clock (but for the wording of a Compose config_changed summary,
  which names what the compose hash cache knew then: keys and evidence are the document's).

So every file is read and hashed (sha256) on every cycle. One whose bytes are those of the last
load, for a host whose desired value is the very same object as then (the signature cache,
desired/cached.py), is not parsed, validated or compared again: same bytes, same verdict, same look,
and the comparison computed then. Otherwise (new bytes, or an inventory read anew) it is parsed,
validated and compared. The document itself is let go as soon as both are taken from it: a
long-running engine holds a look, a digest and a (usually empty) tuple of drift items per
host, not 10 000 parsed documents (and the garbage collector has nothing big to walk after a cycle).
A file that fails is forgotten, so it is judged afresh; what it decides is exactly what a fresh read
decides (tests/unit/test_engine_reuse.py runs both, cycle for cycle).

A new process (`steward plan` from cron is one every cycle) starts from the copy the last cycle left
in the state folder (`engine/world-looks.bin`, a pickle signed like the desired-state cache:
state/signed_pickle.py), but only when its desired state is the very read those comparisons were made
against: the desired-state cache's copy of it, same `generation`. Any doubt (another read of the
inventory, other code, another key, a damaged copy) and every file is parsed as without it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steward.desired.host import DesiredState, HostDesired
from steward.plan.drift import Drift, area_drift
from steward.state.signed_pickle import SignedPickle, code_stamp
from steward.state.world import (
    SCHEMA_FILE,
    CheckProblem,
    WorldFileError,
    look_of,
    parse_world_bytes,
    read_world_bytes,
)

# the code whose output the copy holds: validation (the schema, the areas), looks, comparisons
CODE_PACKAGES = ("areas", "core", "desired", "plan", "state")


@dataclass
class LookedWorld:
    """One read of the world folder: usable only if no file is in `errors`."""

    looks: dict[str, dict[str, Any]] = field(default_factory=dict)  # host -> its look (state/world.py look_of)
    areas: dict[str, tuple[Drift, ...]] = field(default_factory=dict)  # host in the inventory -> its area drift
    errors: dict[str, str] = field(default_factory=dict)  # file name -> why it cannot be used
    raw: dict[str, bytes] = field(default_factory=dict, repr=False)  # the validated bytes (last-known-good)

    @property
    def usable(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class _Seen:
    digest: bytes
    look: dict[str, Any]
    desired: HostDesired | None  # the value `areas` was computed for (kept alive: its id is never another's)
    areas: tuple[Drift, ...]


class WorldLooks:
    """What the last load found, per file; `load` reads the folder again, reusing what did not change."""

    def __init__(self, check_problem: CheckProblem, copy: SignedPickle | None = None) -> None:
        self.check_problem = check_problem
        self.copy = copy  # the state folder's copy, for the next process
        self._seen: dict[str, _Seen] = {}
        self._generation = ""  # the desired state's read `_seen` was compared against, when known
        self._saved = True  # the copy holds `_seen` (nothing to write)
        self.parsed = 0  # files the last load parsed and validated (for tests and benchmarks)
        self.reused = 0  # hosts in the inventory whose comparison the last load did not compute again

    def load(self, world_dir: Path, desired: DesiredState) -> LookedWorld:
        """Every `<host>.json` in world_dir (dot-prefixed temp files ignored), each host compared with its
        desired value (a host the inventory does not have is looked at, not compared)."""
        world = LookedWorld()
        seen: dict[str, _Seen] = {}
        self.parsed = self.reused = 0
        if not self._seen and self.copy is not None:
            self._restore(desired)
        names = sorted(os.listdir(world_dir)) if world_dir.is_dir() else []  # names, not Paths: sorting 10 000 costs
        for name in names:
            if name.startswith(".") or not name.endswith(".json"):
                continue
            host = name[: -len(".json")]
            try:
                raw = read_world_bytes(world_dir / name)
                entry = self._look(host, raw, desired.hosts.get(host))
            except WorldFileError as exc:
                world.errors[name] = str(exc)
                continue
            seen[name] = entry
            world.looks[host], world.raw[host] = entry.look, raw
            if entry.desired is not None:
                world.areas[host] = entry.areas
        same = not self.parsed and seen.keys() == self._seen.keys() and desired.generation == self._generation
        self._saved = self._saved and same
        self._seen = seen  # files gone or unusable are forgotten
        self._generation = desired.generation
        return world

    def save(self) -> None:
        """Leave this load's looks and comparisons for the next process (when they changed since)."""
        stamp = _stamp()
        if self.copy is None or self._saved or not self._generation or stamp is None:
            return
        entries = {name: (e.digest, e.look, None if e.desired is None else e.areas) for name, e in self._seen.items()}
        self._saved = self.copy.save({"stamp": stamp, "generation": self._generation, "entries": entries})

    def _restore(self, desired: DesiredState) -> None:
        stamp = _stamp()
        doc: Any = self.copy.load() if self.copy is not None and desired.generation and stamp is not None else None
        if not isinstance(doc, dict) or doc.get("generation") != desired.generation or doc.get("stamp") != stamp:
            return
        try:
            for name, (digest, look, areas) in doc["entries"].items():
                host = desired.hosts.get(name[: -len(".json")])
                if (areas is None) != (host is None):  # cannot be, for the same read: not used
                    continue
                self._seen[name] = _Seen(digest, look, host, areas or ())
        except Exception:  # not the shape this code writes (it is signed: cannot be, but doubt is a miss)
            self._seen = {}
            return
        self._generation, self._saved = desired.generation, True

    def _look(self, host: str, raw: bytes, desired: HostDesired | None) -> _Seen:
        digest = hashlib.sha256(raw).digest()  # sha256: the fastest here (CPU instructions), and no collisions
        last = self._seen.get(host + ".json")
        if last is not None and last.digest == digest and last.desired is desired:
            self.reused += desired is not None
            return last
        # new bytes, or the same bytes and a new desired value: the comparison needs the document again
        self.parsed += 1
        doc = parse_world_bytes(host, raw, self.check_problem)
        return _Seen(digest, look_of(doc), desired, tuple(area_drift(desired, doc)) if desired is not None else ())


def _stamp() -> str | None:
    return code_stamp(CODE_PACKAGES, (SCHEMA_FILE,))
