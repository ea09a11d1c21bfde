"""Drift: desired (inventory) versus actual (world state) for one host, compared with deepdiff.

Each drift item has a stable key `host/area/target/kind`. A host that could not be
looked at (unreachable, stale world file, Docker engine not readable) yields exactly one
host-level, notice-only item and never per-container items: "could not look" is not
"absent".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deepdiff import DeepDiff

from steward.desired import HostDesired
from steward.store.world import parse_time

# Per container, the most significant kind wins: recreating from the desired image
# also starts it, so one action per container is enough.
KIND_RANK = ("missing", "wrong_image", "not_running", "should_be_stopped", "unhealthy", "should_be_absent")

RUNNING_STATES = {"running"}


@dataclass(frozen=True)
class Drift:
    host: str
    area: str
    target: str
    kind: str
    summary: str
    desired: dict[str, Any] = field(default_factory=dict)
    observed: dict[str, Any] = field(default_factory=dict)
    notice_only: bool = False

    @property
    def key(self) -> str:
        return f"{self.host}/{self.area}/{self.target}/{self.kind}"

    @property
    def fingerprint(self) -> str:
        """Stable across observations while the evidence is the same (no timestamps in it)."""
        blob = json.dumps({"key": self.key, "desired": self.desired, "observed": self.observed}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _actual_projection(container: dict[str, Any]) -> dict[str, Any]:
    state = container.get("state")
    return {
        "state": "running" if state in RUNNING_STATES else "stopped",
        "image": container.get("image"),
        "health": container.get("health"),
    }


def host_level_drift(host: str, world: dict[str, Any] | None, now: datetime, stale_after: int) -> Drift | None:
    if world is None:
        return None
    if not world.get("reachable"):
        return Drift(
            host,
            "host",
            "-",
            "unreachable",
            f"{host} could not be reached: {world.get('error')}",
            observed={"error": world.get("error")},
            notice_only=True,
        )
    age = (now - parse_time(world["observed_at"])).total_seconds()
    if age > stale_after:
        return Drift(
            host,
            "host",
            "-",
            "stale",
            f"world state of {host} is {int(age)} s old (limit {stale_after} s)",
            observed={"observed_at": world["observed_at"]},
            notice_only=True,
        )
    docker = world.get("checks", {}).get("docker")
    if docker is not None and docker.get("status") != "ok":
        return Drift(
            host,
            "docker",
            "engine",
            docker["status"],
            f"Docker engine on {host} could not be read ({docker['status']}): {docker.get('error')}",
            observed={"status": docker["status"], "error": docker.get("error")},
            notice_only=True,
        )
    return None


def compute_drift(desired: HostDesired, world: dict[str, Any] | None, now: datetime, stale_after: int) -> list[Drift]:
    """All drift items for one host. No world file yet -> no opinion (empty list)."""
    if world is None:
        return []
    blocked = host_level_drift(desired.host, world, now, stale_after)
    if blocked is not None:
        return [blocked]
    docker = world.get("checks", {}).get("docker")
    if docker is None:  # the docker check did not run this time: nothing to compare
        return []
    return _docker_drift(desired, docker["containers"])


def _docker_drift(desired: HostDesired, containers: list[dict[str, Any]]) -> list[Drift]:
    actual_by_name = {c["name"]: c for c in containers}
    want: dict[str, dict[str, Any]] = {}
    have: dict[str, dict[str, Any]] = {}
    for svc in desired.services:
        actual = actual_by_name.get(svc.name)
        if svc.state == "absent":
            if actual is not None:
                have[svc.name] = _actual_projection(actual)
            continue
        want[svc.name] = {"state": svc.state, "image": svc.image}
        if svc.healthy:
            want[svc.name]["health"] = "healthy"
        if actual is not None:
            proj = _actual_projection(actual)
            have[svc.name] = {k: proj[k] for k in want[svc.name]}
    found: dict[str, set[str]] = {}
    diff = DeepDiff(want, have, view="tree")
    for change, items in diff.items():
        for item in items:
            path = item.path(output_format="list")
            name = str(path[0])
            found.setdefault(name, set()).add(_kind(change, path, want, have))
    drifts: list[Drift] = []
    for name, kinds in sorted(found.items()):
        kinds.discard("")
        if not kinds:
            continue
        kind = min(kinds, key=KIND_RANK.index)
        service = desired.service(name)
        assert service is not None
        actual = actual_by_name.get(name)
        observed = _evidence(actual)
        drifts.append(
            Drift(
                desired.host,
                "docker",
                name,
                kind,
                _summary(kind, name, service.image, observed),
                desired={"state": service.state, "image": service.image, "healthy": service.healthy},
                observed=observed,
            )
        )
    return drifts


def _kind(change: str, path: list[Any], want: dict[str, Any], have: dict[str, Any]) -> str:
    name = path[0]
    if change == "dictionary_item_removed" and len(path) == 1:
        return "missing"
    if change == "dictionary_item_added" and len(path) == 1:
        return "should_be_absent"
    if len(path) < 2:
        return ""
    attr = path[1]
    if attr == "image":
        return "wrong_image"
    if attr == "state":
        return "not_running" if want[name]["state"] == "running" else "should_be_stopped"
    if attr == "health":
        # only "unhealthy" is a finding; "starting" or no HEALTHCHECK is not evidence of trouble
        return "unhealthy" if have[name].get("health") == "unhealthy" else ""
    return ""


def _evidence(actual: dict[str, Any] | None) -> dict[str, Any]:
    if actual is None:
        return {"present": False}
    keys = ("state", "health", "image", "exit_code")
    return {"present": True, **{k: actual.get(k) for k in keys}}


def _summary(kind: str, name: str, image: str | None, observed: dict[str, Any]) -> str:
    state = observed.get("state")
    return {
        "missing": f"container {name} does not exist (desired: running {image})",
        "wrong_image": f"container {name} runs image {observed.get('image')}, desired {image}",
        "not_running": f"container {name} is {state} (exit code {observed.get('exit_code')}), desired running",
        "should_be_stopped": f"container {name} is {state}, desired stopped",
        "unhealthy": f"container {name} is unhealthy, desired healthy",
        "should_be_absent": f"container {name} exists ({state}), desired absent",
    }[kind]
