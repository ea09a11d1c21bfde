"""Run observe.yml (all hosts or one) and journal that it happened."""

from __future__ import annotations

import time
from datetime import timedelta

from steward.ansible.runner import RunOutcome, run_playbook
from steward.desired.cached import PersistedDesired, load_desired_cached
from steward.desired.inventory import (
    DesiredStateError,
    NoHostMatched,
    error_fields,
    hosts_matching,
)
from steward.state.journal import Journal, utcnow
from steward.state.memory import read_memory
from steward.state.settings import Settings
from steward.state.world import parse_time


def new_cycle_id() -> str:
    return f"{utcnow():%Y%m%dT%H%M%S%fZ}"


def wait_until_a_look_counts(settings: Settings) -> float:
    """Sleep until a look now would count as a new observation (seconds slept, 0 mostly).

    The engine counts two observations less than steward_policy.confirm_interval apart as one;
    `steward observe` run right after another one (or after an event-triggered look) waits the
    rest of that interval instead of looking in vain.
    """
    try:
        interval = load_desired_cached(settings.inventory, PersistedDesired(settings.paths)).policy.confirm_interval
    except DesiredStateError:
        return 0.0
    seen = [h.observed_at for h in read_memory(settings.paths).hosts.values()]
    times = [parse_time(t) for t in seen if isinstance(t, str)]
    if not times:
        return 0.0
    wait = (max(times) + timedelta(seconds=interval) - utcnow()).total_seconds()
    if 0 < wait <= interval:
        time.sleep(wait)
        return wait
    return 0.0


def check_before_observing(settings: Settings, journal: Journal, limit: str | None) -> list[str]:
    """The hosts this observe will look at, or DesiredStateError (journaled) when it must not run.

    An inventory that does not parse, changed while read or names no Steward host, and a --limit
    that matches no host of it, are errors: never an observe that "succeeds" watching nothing.
    The limit is resolved by Ansible's own pattern code against the same inventory."""
    try:
        desired = load_desired_cached(settings.inventory, PersistedDesired(settings.paths))
        if limit is None:
            return sorted(desired.hosts)
        matched = [limit] if limit in desired.hosts else hosts_matching(settings.inventory, limit)
        if not matched:
            raise NoHostMatched(limit, settings.inventory, f"its hosts are {', '.join(sorted(desired.hosts))}")
        return matched
    except NoHostMatched as exc:
        journal.append("observe_refused", limit=limit, reason=str(exc))
        raise
    except DesiredStateError as exc:
        fields = error_fields(exc)
        journal.append(
            "cycle_skipped", reported=True, **{**fields, "reason": fields["reason"] + "; nothing observed"}, limit=limit
        )
        raise


def observe(settings: Settings, journal: Journal, limit: str | None = None, wait: bool = True) -> RunOutcome:
    """One observe.yml run; `wait`: first let confirm_interval pass, so the look counts in the engine.

    DesiredStateError (journaled, nothing run) when the inventory or the limit cannot be used."""
    paths = settings.paths.ensure()
    check_before_observing(settings, journal, limit)
    if wait:
        wait_until_a_look_counts(settings)
    cycle = new_cycle_id()
    outcome = run_playbook(
        settings,
        settings.project_dir / "observe.yml",
        paths.runs / "observe",
        limit=limit,
        extravars={"steward_cycle": cycle},
        rotate_artifacts=20,
    )
    outcome.cycle = cycle
    journal.append(
        "observe_completed", cycle=cycle, limit=limit, status=outcome.status, rc=outcome.rc, hosts=sorted(outcome.hosts)
    )
    return outcome
