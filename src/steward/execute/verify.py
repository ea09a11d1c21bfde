"""After a run: re-observe the host and judge the drift key on that observation only.

Verified (drift gone) and not fixed (still there) are recorded as the key's outcome, which feeds
the engine's backoff and escalation; a look that cannot tell (the host unreachable, the check
blind, the inventory invalid) is journaled as unverified and counts no failure.
"""

from __future__ import annotations

from typing import Any

from steward.ansible.observe import observe
from steward.areas import check_problem
from steward.desired.cached import PersistedDesired, load_desired_cached
from steward.desired.inventory import DesiredStateError
from steward.execute.judge import collateral, fixed
from steward.state.journal import Journal, utcnow
from steward.state.outcomes import Outcomes
from steward.state.settings import Settings
from steward.state.world import WorldFileError, validate_world


def verify(
    settings: Settings,
    journal: Journal,
    outcomes: Outcomes,
    action_id: str,
    meta: dict[str, Any],
    before: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The verdict ({verified: True/False/None, reason, ...}), journaled and recorded.

    ``before`` is the look taken right before the run: what else the run changed is judged against it."""
    host = meta["host"]
    try:
        outcome = observe(settings, journal, limit=host)
    except Exception as exc:
        reason = f"could not verify: the re-observation failed ({exc!r})"
        journal.append("action_unverified", action=action_id, key=meta["key"], host=host, reason=reason)
        return {"verified": None, "reason": reason}
    verdict: dict[str, Any] = {"verified": None, "observe_rc": outcome.rc}
    try:
        desired = load_desired_cached(settings.inventory, PersistedDesired(settings.paths))
    except DesiredStateError as exc:
        desired, verdict["reason"] = None, f"could not verify: inventory invalid: {exc}"
    # Judge on what this re-observation saw (node_observe's result in the run's events), not on
    # world/<host>.json: an event-triggered observe may have rewritten that file meanwhile.
    world = None
    if desired:
        seen = outcome.worlds.get(host)
        try:
            world = validate_world(seen, host, check_problem) if seen is not None else None
        except WorldFileError as exc:
            verdict["reason"] = f"could not verify: the re-observation returned an unusable world ({exc})"
        else:
            if world is None:
                verdict["reason"] = "could not verify: the re-observation did not observe the host"
    if desired and world:
        verdict["observed_at"] = world["observed_at"]
        verdict["verified"], verdict["reason"] = fixed(meta, desired, world, utcnow())
        also = collateral(meta["key"], before, world) if verdict["verified"] else None
        if also:
            verdict["verified"], verdict["reason"] = False, f"drift gone, but {also}"
    if verdict["verified"] is None:  # undetermined: journaled, but no failure is counted
        journal.append("action_unverified", action=action_id, key=meta["key"], host=host, reason=verdict["reason"])
        return verdict
    escalate_after = desired.policy.escalate_after if desired else 3
    record = outcomes.record(meta["key"], action_id, bool(verdict["verified"]), escalate_after)
    verdict["failures_in_a_row"] = record["failures"]
    journal.append(
        "action_verified" if verdict["verified"] else "action_not_fixed",
        action=action_id,
        key=meta["key"],
        host=host,
        reason=verdict["reason"],
    )
    if not verdict["verified"] and record["failures"] == escalate_after:
        journal.append(
            "escalated",
            key=meta["key"],
            host=host,
            failures=record["failures"],
            summary=f"{record['failures']} remediations did not fix {meta['key']}: no more "
            f"actions for it until `steward clear {meta['key']}`",
        )
    return verdict
