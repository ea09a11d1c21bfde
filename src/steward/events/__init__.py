"""The event bus: every journal event is also published to the Redis stream `steward:events`.

`journal.jsonl` stays the record of truth (steward.state.journal.Journal writes it first). When
`STEWARD_REDIS_URL` is set, the journal hands each event to an :class:`EventBus`, which XADDs it
to the stream. Redis being slow, down or restarted never blocks or fails the caller: short
socket timeouts, and an event that could not be sent goes to the outbox spool
(`engine/outbox.jsonl`), which is delivered, in order, before any newer event (at-least-once;
consumers dedup on the event's `id`). Every XADD trims with the one stream-length policy
(`DEFAULT_MAXLEN`, MAXLEN ~ 100 000); a Redis that does not authenticate its clients is refused.
"""

from __future__ import annotations

from steward.events.bus import (
    DEFAULT_MAXLEN,
    STREAM,
    EventBus,
    RedisRefused,
    bus_from_env,
    new_event_id,
    stream_fields,
)
from steward.events.outbox import Outbox

__all__ = [
    "DEFAULT_MAXLEN",
    "STREAM",
    "EventBus",
    "Outbox",
    "RedisRefused",
    "bus_from_env",
    "new_event_id",
    "stream_fields",
]
