"""Writing the action for a confirmed drift that passed every gate: a signed playbook in pending/.

The remedy is the area's (steward.areas); the file is rendered by plan/render.py and checked with
the executor's own shape check before it is signed, so the engine never signs what the executor
would refuse to run.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from steward.areas import AREAS
from steward.desired.inventory import DesiredState
from steward.plan.drift import Drift
from steward.plan.gates import Confirmed
from steward.plan.playbook import load_playbook, shape_problem
from steward.plan.render import render_action
from steward.state.actions import ActionQueue
from steward.state.journal import Journal, isotime


def action_id_for(drift: Drift, now: datetime) -> str:
    """Readable and always a valid id: time, host, target (shortened), kind, random suffix."""
    target = re.sub(r"[^A-Za-z0-9_.-]", "_", drift.target)[:40].strip("._-") or "x"
    host = drift.host[:40]
    return f"{now:%Y%m%dT%H%M%SZ}-{host}-{target}-{drift.kind}-{secrets.token_hex(2)}"


def propose_action(
    queue: ActionQueue, journal: Journal, desired: DesiredState, confirmed: Confirmed, now: datetime
) -> str | None:
    """The new pending action's id; None when its area has no remedy or the remedy is not a shape Steward runs."""
    drift, streak, world = confirmed.drift, confirmed.streak, confirmed.world
    remedy = desired.hosts[drift.host].remedy(drift)
    if remedy is None:
        return None
    action_id = action_id_for(drift, now)
    meta = {
        "id": action_id,
        "key": drift.key,
        "host": drift.host,
        "summary": drift.summary,
        "created_at": isotime(now),
        "expires_at": isotime(now + timedelta(seconds=desired.policy.action_ttl)),
        "evidence": {
            "fingerprint": drift.fingerprint,
            "observed_at": world["observed_at"],
            "cycle": world["cycle"],
            "observations": streak.count,
            "since": streak.since,
            "desired": drift.desired,
            "observed": drift.observed,
        },
    }
    rel = queue.paths.actions
    hint = {
        "approve": f"mv {rel}/pending/{action_id}.yml {rel}/approved/",
        "approve_cli": f"steward approve {action_id}",
        "reject_cli": f"steward reject {action_id} --reason '...'",
    }
    text = render_action(drift, remedy, meta, hint)
    # the engine signs only what the executor would run: the same shape check, before signing
    problem = shape_problem(load_playbook(text.encode()), drift.host, action_id, AREAS[drift.area].remedy_modules)
    if problem:
        journal.append(
            "notice",
            key=drift.key,
            host=drift.host,
            summary=f"no action written for {drift.key}: its remedy is not a shape Steward runs ({problem})",
        )
        return None
    queue.write_pending(action_id, text, meta)
    return action_id
