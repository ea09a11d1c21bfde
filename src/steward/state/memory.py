"""engine/observations.json: what the plan cycle remembers from one cycle to the next, typed.

The plan cycle (steward.plan) is its only writer, under the engine lock; anyone may read it
without importing the engine (`steward observe` waits on the hosts' last counted looks,
`steward status` shows the hosts that left the inventory). The JSON keys on disk are the ones the
engine has always written, so an existing state folder loads unchanged and a file read and
written again is byte for byte the same. A missing or unreadable file is a fresh memory (the
engine starts counting afresh, as it always did); entries of the wrong shape are dropped, not
trusted. Top-level keys this version does not know are kept as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from steward.core.atomic import atomic_write_json, read_regular_file
from steward.state.paths import StatePaths


def _str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


@dataclass
class Streak:
    """One drift key seen in consecutive observations of its host."""

    count: int = 0  # observations in a row that showed it
    since: str = ""  # observed_at of the first one: the episode (a rejection holds for one episode)
    fingerprint: str = ""
    last_seen: str = ""
    cycle: str = ""  # the world file's cycle id of the last one

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "since": self.since,
            "fingerprint": self.fingerprint,
            "last_seen": self.last_seen,
            "cycle": self.cycle,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Streak:
        return cls(
            count=_int(doc.get("count")),
            since=_str(doc.get("since")),
            fingerprint=_str(doc.get("fingerprint")),
            last_seen=_str(doc.get("last_seen")),
            cycle=_str(doc.get("cycle")),
        )


@dataclass
class HostMemory:
    """One host: its last counted look, its drift streaks, and how long open actions' drifts stayed away."""

    observed_at: str | None = None  # the last look that counted as an observation
    keys: dict[str, Streak] = field(default_factory=dict)
    resolved: dict[str, int] = field(default_factory=dict)  # open action's key -> observations without it
    observations: int = 0  # looks counted so far (backoff waits in observations, not in cycles)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "observed_at": self.observed_at,
            "keys": {k: s.to_json() for k, s in self.keys.items()},
            "resolved": dict(self.resolved),
        }
        if self.observations:  # a host never counted has no count on disk (as the engine always wrote it)
            doc["observations"] = self.observations
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> HostMemory:
        observed_at = doc.get("observed_at")
        return cls(
            observed_at=observed_at if isinstance(observed_at, str) else None,
            keys={k: Streak.from_json(v) for k, v in _mapping(doc.get("keys")).items() if isinstance(v, dict)},
            resolved={k: _int(v) for k, v in _mapping(doc.get("resolved")).items()},
            observations=_int(doc.get("observations")),
        )


@dataclass
class FlapEntry:
    """A drift key's recent history (present or not, per observation) for flap detection."""

    samples: list[bool] = field(default_factory=lambda: [False])
    flapping: bool = False
    pct: float = 0.0  # weighted state-change percentage over the samples

    def to_json(self) -> dict[str, Any]:
        return {"samples": list(self.samples), "flapping": self.flapping, "pct": self.pct}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> FlapEntry:
        samples = doc.get("samples")
        pct = doc.get("pct")
        return cls(
            samples=[bool(s) for s in samples] if isinstance(samples, list) else [False],
            flapping=doc.get("flapping") is True,
            pct=pct if isinstance(pct, int | float) and not isinstance(pct, bool) else 0.0,
        )


@dataclass
class StormState:
    """The storm breaker is holding every new action, since this cycle, for this reason."""

    since_cycle: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"since_cycle": self.since_cycle, "reason": self.reason}

    @classmethod
    def from_json(cls, doc: Any) -> StormState | None:
        if not isinstance(doc, dict) or not doc:
            return None
        return cls(since_cycle=_int(doc.get("since_cycle")), reason=_str(doc.get("reason")))


@dataclass
class WrittenAction:
    """An action written within the storm window: the breaker counts it with the cycle's own."""

    at: str
    host: str
    key: str

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "host": self.host, "key": self.key}


@dataclass
class BackoffMark:
    """The last action written for a drift key, and the host's observation count at that moment."""

    observation: int
    action: str

    def to_json(self) -> dict[str, Any]:
        return {"observation": self.observation, "action": self.action}


# every key the engine writes, in the order it writes them
KEYS = (
    "hosts",
    "cycle",
    "flap",
    "storm",
    "backoff",
    "held",
    "written",
    "inventory_hosts",
    "left_inventory",
    "absent_cycles",
)


@dataclass
class EngineMemory:
    hosts: dict[str, HostMemory] = field(default_factory=dict)
    cycle: int = 0  # plan cycles that ran (a skipped one does not count)
    flap: dict[str, FlapEntry] = field(default_factory=dict)
    storm: StormState | None = None
    backoff: dict[str, BackoffMark] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)  # key -> why the last cycle wrote no action for it
    written: list[WrittenAction] = field(default_factory=list)
    inventory_hosts: list[str] | None = None  # the desired state's hosts in the last cycle that ran
    left_inventory: dict[str, str] = field(default_factory=dict)  # host -> when it left (until it comes back)
    absent_cycles: dict[str, int] = field(default_factory=dict)  # host -> cycles in a row it was not named
    unknown: dict[str, Any] = field(default_factory=dict)  # top-level keys of a newer version, kept

    def host(self, name: str) -> HostMemory:
        return self.hosts.setdefault(name, HostMemory())

    def to_json(self) -> dict[str, Any]:
        return {
            "hosts": {h: m.to_json() for h, m in self.hosts.items()},
            "cycle": self.cycle,
            "flap": {k: e.to_json() for k, e in self.flap.items()},
            "storm": self.storm.to_json() if self.storm else None,
            "backoff": {k: b.to_json() for k, b in self.backoff.items()},
            "held": dict(self.held),
            "written": [w.to_json() for w in self.written],
            "inventory_hosts": None if self.inventory_hosts is None else list(self.inventory_hosts),
            "left_inventory": dict(self.left_inventory),
            "absent_cycles": dict(self.absent_cycles),
            **{k: v for k, v in self.unknown.items() if k not in KEYS},
        }

    @classmethod
    def from_json(cls, doc: Any) -> EngineMemory:
        if not isinstance(doc, dict):
            return cls()
        inventory_hosts = doc.get("inventory_hosts")
        return cls(
            cycle=_int(doc.get("cycle")),
            hosts={h: HostMemory.from_json(m) for h, m in _mapping(doc.get("hosts")).items() if isinstance(m, dict)},
            flap={k: FlapEntry.from_json(e) for k, e in _mapping(doc.get("flap")).items() if isinstance(e, dict)},
            storm=StormState.from_json(doc.get("storm")),
            backoff={
                k: BackoffMark(_int(b.get("observation")), _str(b.get("action")))
                for k, b in _mapping(doc.get("backoff")).items()
                if isinstance(b, dict)
            },
            held={k: _str(v) for k, v in _mapping(doc.get("held")).items()},
            written=[
                WrittenAction(_str(w.get("at")), _str(w.get("host")), _str(w.get("key")))
                for w in doc.get("written") or []
                if isinstance(w, dict) and isinstance(w.get("at"), str)
            ],
            inventory_hosts=(
                [h for h in inventory_hosts if isinstance(h, str)] if isinstance(inventory_hosts, list) else None
            ),
            left_inventory={k: _str(v) for k, v in _mapping(doc.get("left_inventory")).items()},
            absent_cycles={k: _int(v) for k, v in _mapping(doc.get("absent_cycles")).items()},
            unknown={k: v for k, v in doc.items() if k not in KEYS},
        )


def read_memory(paths: StatePaths) -> EngineMemory:
    """The engine's memory as the last cycle left it; a fresh one when there is none (or it is unreadable)."""
    try:
        doc = json.loads(read_regular_file(paths.memory))
    except (OSError, ValueError):
        doc = None
    return EngineMemory.from_json(doc)


def write_memory(paths: StatePaths, memory: EngineMemory) -> None:
    """Atomically (a reader sees the previous cycle's memory or this one's), compact: it is big and internal."""
    atomic_write_json(paths.memory, memory.to_json(), compact=True)
