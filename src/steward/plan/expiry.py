"""Withdrawing pending actions: past their TTL, drift resolved, target flapping, host left the inventory.

Every expiry is pending/ -> expired/ under the action's lock (ActionQueue.expire_pending). One that
a human or an executor moved first is journaled as not expired: never an error of the cycle.
"""

from __future__ import annotations

from datetime import datetime

from steward.desired.inventory import DesiredState
from steward.state.actions import ActionQueue, QueueError
from steward.state.journal import Journal, isotime
from steward.state.memory import EngineMemory
from steward.state.world import parse_time


class Expiry:
    def __init__(self, queue: ActionQueue, journal: Journal) -> None:
        self.queue = queue
        self.journal = journal

    def expire(self, action_id: str, reason: str) -> list[str]:
        """[action_id] once it is in expired/; [] when someone moved it first (journaled, not an error)."""
        try:
            self.queue.expire_pending(action_id, reason)
        except QueueError as exc:
            self.journal.append("action_not_expired", action=action_id, reason=f"{reason}; not expired: {exc}")
            return []
        return [action_id]

    def expire_key(self, key: str, reason: str) -> list[str]:
        """Every pending action for this drift key."""
        out = []
        for info in self.queue.list(("pending",)):
            if info.key == key:
                out.extend(self.expire(info.id, reason))
        return out

    def expire_past_ttl(self, now: datetime) -> list[str]:
        """Pending actions nobody approved before their expires_at: expired, never read as a rejection."""
        out = []
        for info in self.queue.list(("pending",)):
            if info.expires_at and parse_time(info.expires_at) <= now:
                out.extend(self.expire(info.id, f"expired: not approved before {info.expires_at} (TTL)"))
        return out

    def hosts_left_inventory(self, memory: EngineMemory, desired: DesiredState, now: datetime) -> list[str]:
        """Hosts the desired state no longer names: journaled once, their memory dropped (a host that
        comes back starts afresh), and - once they stayed away for confirm_after cycles in a row, so
        one shorter read of a valid inventory (another branch checked out for a moment) ends
        nothing - their pending actions expired: never run against an inventory that does not
        name the host. Pending actions of hosts this state folder never saw in the inventory are
        left to their TTL (the executor refuses to run them meanwhile)."""
        left = sorted(set(memory.inventory_hosts or ()) - set(desired.hosts))
        wait = desired.policy.confirm_after
        if left:
            self.journal.append(
                "host_left_inventory",
                hosts=left,
                summary=f"left the inventory: {', '.join(left)}; their pending actions expire "
                f"if they stay away for {wait} cycles",
            )
            for host in left:
                memory.hosts.pop(host, None)
                memory.left_inventory[host] = isotime(now)
        absent = memory.absent_cycles
        for host in [h for h in memory.left_inventory if h in desired.hosts]:
            memory.left_inventory.pop(host)  # back in the inventory
        for host in list(absent):
            if host not in memory.left_inventory:
                absent.pop(host)
        for host in memory.left_inventory:
            absent[host] = absent.get(host, 0) + 1
        memory.inventory_hosts = sorted(desired.hosts)
        expired = []
        for info in self.queue.list(("pending",)):
            if info.host and info.host not in desired.hosts and absent.get(info.host, 0) >= wait:
                reason = f"host {info.host} left the inventory ({absent[info.host]} cycles in a row)"
                expired.extend(self.expire(info.id, reason))
        return expired
