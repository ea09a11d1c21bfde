"""The comparison of a host that did not change, reused: the cheap half of a cycle over a quiet fleet.

A host's area drift is a function of two things only (plan/drift.py `area_drift`): its desired value
and its validated world document. While the desired value is the very same object as in the cycle
before (the signature cache, desired/inventory.py) and the world file's bytes have the same sha256
(state/world.py `WorldCache`: same bytes, same document), the items are the ones computed then, so
they are not computed again. Only digests are kept, never the documents: a changed host's old
document is freed before its new one is parsed. Only the comparison is reused: the host-level verdict (reachable,
stale: it depends on the clock) is judged afresh every cycle, and every piece of bookkeeping (is this a
new observation, streaks, flap samples, confirmations, the report) runs on the items exactly as it runs
on freshly computed ones, so a cycle with reuse decides what a cycle without it decides.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from steward.desired.host import HostDesired
from steward.plan.drift import Drift, area_drift, host_level_drift


class DriftReuse:
    """Per host: (the desired value, the world file's digest, the area drift computed from them)."""

    def __init__(self) -> None:
        self._by_host: dict[str, tuple[HostDesired, bytes, tuple[Drift, ...]]] = {}
        self.reused = 0  # hosts whose comparison the last cycle reused (for tests and benchmarks)

    def start(self) -> None:
        self.reused = 0

    def drift(
        self, desired: HostDesired, world: dict[str, Any], digest: bytes | None, now: datetime, stale_after: int
    ) -> list[Drift]:
        """compute_drift(desired, world, now, stale_after), the area part reused when nothing changed.

        `digest` is the sha256 of the bytes `world` was parsed from (None: unknown, never reused)."""
        blocked = host_level_drift(desired.host, world, now, stale_after)
        if blocked is not None:
            return [blocked]
        hit = self._by_host.get(desired.host)
        # the desired value by identity (it is kept alive here, so its id is never another's), the world by digest
        if digest is not None and hit is not None and hit[0] is desired and hit[1] == digest:
            self.reused += 1
            return list(hit[2])  # Drift is frozen; a new list, so a caller's list is its own
        drifts = area_drift(desired, world)
        if digest is None:
            self._by_host.pop(desired.host, None)
        else:
            self._by_host[desired.host] = (desired, digest, tuple(drifts))
        return drifts

    def keep_only(self, hosts: set[str]) -> None:
        """Forget the hosts not looked at in this cycle (left the inventory, no world file)."""
        for host in [h for h in self._by_host if h not in hosts]:
            del self._by_host[host]
