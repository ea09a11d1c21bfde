"""The gates between a confirmed drift and its action: an ordered tuple, the first that holds wins.

`GATES`, in the order they are applied (each returns why it holds the drift, or None):

1. `in_progress`: an executor holds the host (running or verifying an action): it speaks first
2. `one_per_target`: another action for the same host/area/target is open: one at a time
3. `flapping`: the key changes state too often (plan/flaps.py)
4. `rejected_this_episode`: a human rejected an action for this episode of the drift
5. `silenced`: an active silence (`steward silence add`) matches
6. `maintenance_window`: one of the host's windows is active and covers the target
7. `escalated`: escalate_after remediations failed; `steward clear KEY` once a human has looked
8. `backing_off`: the last remediation did not fix it; wait 1, 3, 9 ... observations of the host

Before the gates: one open action per drift key (a key with an open action is not confirmed
again, Engine). After them: the storm breaker judges what passed, as a whole (plan/storm.py).
Each reason is journaled once (`action_held`), not every cycle it holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from steward.desired.inventory import DesiredState
from steward.plan.drift import Drift
from steward.plan.keys import target_of
from steward.state.actions import ActionQueue
from steward.state.journal import Journal
from steward.state.memory import EngineMemory, Streak
from steward.state.silences import matches, target_names


@dataclass(frozen=True)
class Confirmed:
    """A drift seen confirm_after observations in a row, with its streak and the look that confirmed it."""

    drift: Drift
    streak: Streak
    world: dict[str, Any]


@dataclass
class GateContext:
    """What the gates judge by, read once per cycle."""

    desired: DesiredState
    memory: EngineMemory
    now: datetime
    queue: ActionQueue
    busy_hosts: set[str] = field(default_factory=set)  # hosts an executor holds
    open_targets: set[str] = field(default_factory=set)  # host/area/target with an open action
    silences: list[dict[str, Any]] = field(default_factory=list)  # the active ones
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> remediation outcomes

    @cached_property
    def rejections(self) -> dict[tuple[str | None, str], str]:
        """(drift key, episode start) -> the first rejected action for it; read when a gate first asks."""
        out: dict[tuple[str | None, str], str] = {}
        for info in self.queue.list(("rejected",)):
            evidence = (self.queue.ledger.entry(info.id) or {}).get("evidence")
            since = evidence.get("since") if isinstance(evidence, dict) else None
            if isinstance(since, str):
                out.setdefault((info.key, since), info.id)
        return out


Gate = Callable[[Drift, GateContext], str | None]


def in_progress(drift: Drift, ctx: GateContext) -> str | None:
    if drift.host in ctx.busy_hosts:
        return f"a remediation is in progress on {drift.host} (run or verification): it speaks first"
    return None


def one_per_target(drift: Drift, ctx: GateContext) -> str | None:
    if target_of(drift.key) in ctx.open_targets:
        return f"another action for {target_of(drift.key)} is open: one at a time per target"
    return None


def flapping(drift: Drift, ctx: GateContext) -> str | None:
    entry = ctx.memory.flap.get(drift.key)
    return "flapping" if entry and entry.flapping else None


def rejected_this_episode(drift: Drift, ctx: GateContext) -> str | None:
    """A human rejected an action for this key after the drift started: do not ask again until it resolves."""
    streak = ctx.memory.host(drift.host).keys.get(drift.key)
    rejected = ctx.rejections.get((drift.key, streak.since if streak else ""))
    if rejected:
        return f"rejected by a human ({rejected}); not proposed again until the drift resolves"
    return None


def silenced(drift: Drift, ctx: GateContext) -> str | None:
    for silence in ctx.silences:
        if matches(silence, drift):
            return f"silenced until {silence['expires_at']} ({silence['reason']})"
    return None


def maintenance_window(drift: Drift, ctx: GateContext) -> str | None:
    for window in ctx.desired.hosts[drift.host].windows:
        if window.active(ctx.now) and (not window.targets or target_names(drift) & set(window.targets)):
            return f"maintenance window {window.name}"
    return None


def escalated(drift: Drift, ctx: GateContext) -> str | None:
    outcome = ctx.outcomes.get(drift.key)
    if outcome and outcome.get("escalated"):
        return (
            f"escalated after {outcome.get('failures')} failed remediations: "
            f"run `steward clear {drift.key}` once a human has looked"
        )
    return None


def backing_off(drift: Drift, ctx: GateContext) -> str | None:
    outcome = ctx.outcomes.get(drift.key)
    if not outcome or outcome.get("failures", 0) <= 0:
        return None
    # counted in observations of the host since the failed action was written, not in plan runs
    policy = ctx.desired.policy
    observed = ctx.memory.host(drift.host).observations
    mark = ctx.memory.backoff.get(drift.key)
    written = mark.observation if mark else observed
    wait = min(policy.backoff_base ** (outcome["failures"] - 1), policy.backoff_cap_cycles)
    if observed - written <= wait:
        more = wait - (observed - written) + 1
        return f"backoff: the last remediation did not fix it; waiting {more} more observation(s)"
    return None


GATES: tuple[Gate, ...] = (
    in_progress,
    one_per_target,
    flapping,
    rejected_this_episode,
    silenced,
    maintenance_window,
    escalated,
    backing_off,
)


def hold_reason(drift: Drift, ctx: GateContext) -> str | None:
    """Why the first gate that holds this drift holds it; None when every gate lets it through."""
    for gate in GATES:
        why = gate(drift, ctx)
        if why is not None:
            return why
    return None


def apply_gates(
    confirmed: list[Confirmed], ctx: GateContext, journal: Journal
) -> tuple[list[Confirmed], dict[str, str]]:
    """The confirmed drifts every gate lets through, and key -> why for the others."""
    held_before = ctx.memory.held
    held: dict[str, str] = {}
    passed = []
    for item in confirmed:
        why = hold_reason(item.drift, ctx)
        if why is None:
            passed.append(item)
            continue
        held[item.drift.key] = why
        if held_before.get(item.drift.key) != why:  # journal each reason once, not every cycle
            journal.append("action_held", key=item.drift.key, host=item.drift.host, reason=why)
    return passed, held
