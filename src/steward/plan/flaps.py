"""Flap detection: a drift key that keeps changing state is noise, and noise never becomes an action.

Each counted observation of a host adds one sample (present or not) to the history of every key
of the areas it spoke for (plan/streaks.py decides which). Above flap_start_pct (Nagios-style
weighted state changes, steward.desired.policy.flap_percent) the key is flapping: journaled once,
its pending action withdrawn, and the gates hold it (plan/gates.py) until it drops below
flap_stop_pct. A key quiet for a whole window is forgotten.
"""

from __future__ import annotations

from steward.desired.policy import Policy, flap_percent
from steward.plan.expiry import Expiry
from steward.plan.keys import area_of
from steward.state.journal import Journal
from steward.state.memory import FlapEntry


def sample_flaps(
    flap: dict[str, FlapEntry],
    host: str,
    known: set[str],
    spoken: set[str],
    present: set[str],
    policy: Policy,
    journal: Journal,
    expiry: Expiry,
) -> list[str]:
    """One observation of `host` added to the histories; returns the pending actions withdrawn as flapping.

    `known`: the host's keys in `flap` (plan/keys.py `keys_by_host`)."""
    tracked = {k for k in known if area_of(k) in spoken} | {k for k in present if area_of(k) != "host"}
    expired: list[str] = []
    for key in sorted(tracked):
        entry = flap.setdefault(key, FlapEntry())
        entry.samples = (entry.samples + [key in present])[-policy.flap_window :]
        pct = flap_percent(entry.samples, policy.flap_window)  # judged unrounded, remembered rounded
        entry.pct = round(pct, 1)
        if not entry.flapping and pct > policy.flap_start_pct:
            entry.flapping = True
            journal.append(
                "flapping",
                key=key,
                host=host,
                percent=entry.pct,
                summary=f"{key} changes state too often ({entry.pct} %): no action until it settles",
            )
            # a plan written from a flapping target acts on noise: withdraw it
            expired.extend(expiry.expire_key(key, f"target is flapping ({entry.pct} % state change)"))
        elif entry.flapping and pct < policy.flap_stop_pct:
            entry.flapping = False
            journal.append("flapping_stopped", key=key, host=host, percent=entry.pct)
        if not entry.flapping and not any(entry.samples):
            flap.pop(key)  # quiet for a whole window: forget it
    return expired
