"""Shared value types: drift items, remedies and desired-state problems."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

Problem = tuple[str, str, str]  # (host, variable, message)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class DesiredStateError(ValueError):
    """Malformed desired state. `problems` lists (host, variable, message)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"host {h!r}: {v}: {m}" for h, v, m in problems))


@dataclass(frozen=True)
class Drift:
    """One difference between desired and observed, keyed host/area/target/kind."""

    host: str
    area: str
    target: str
    kind: str
    summary: str
    desired: dict[str, Any] = field(default_factory=dict)
    observed: dict[str, Any] = field(default_factory=dict)
    notice_only: bool = False
    # other names an operator may give the target in a silence or a maintenance window (a disk
    # drift's mount path, whose slug is the target): the area says, so silences need no area
    also_called: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.host}/{self.area}/{self.target}/{self.kind}"

    @property
    def fingerprint(self) -> str:
        """Stable across observations while the evidence is the same (no timestamps in it)."""
        blob = json.dumps({"key": self.key, "desired": self.desired, "observed": self.observed}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Remedy:
    """What a remediation playbook does: a one-line description and its tasks."""

    what: str
    tasks: list[dict[str, Any]]
    modules: str  # the modules it uses, for the header


def could_not_look(host: str, area: str, target: str, check: dict[str, Any], what: str) -> Drift:
    """The one notice for a check that ran but could not look; never per-item drift."""
    status = str(check.get("status"))
    return Drift(
        host,
        area,
        target,
        status,
        f"{what} on {host} could not be read ({status}): {check.get('error')}",
        observed={"status": status, "error": check.get("error")},
        notice_only=True,
    )


def slug(text: str) -> str:
    """A key/file-name-safe form of a mount path or peer name ('/' -> 'root', '/var/lib' -> 'var_lib')."""
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", text.strip("/")).strip("_.")
    return s or "root"


def check_type(
    problems: list[Problem], host: str, var: str, value: Any, types: type | tuple[type, ...], what: str
) -> bool:
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in _as_tuple(types))
    if not ok:
        problems.append((host, var, f"must be {what}, got {value!r}"))
    return ok


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)
