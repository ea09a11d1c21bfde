"""homelab.steward.redis_events: Steward's events from a Redis stream, through a consumer group."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from dataclasses import dataclass
from typing import Any

DOCUMENTATION = r"""
---
short_description: Read Steward events from a Redis stream through a consumer group
description:
  - Reads the Redis stream Steward writes its events to (C(steward:events) by default) as one
    member of a consumer group, and puts each event on the ansible-rulebook queue.
  - Each stream entry carries a field C(event) holding the JSON event
    C({id, type, at, host, key, action, ...}). The event is put on the queue as it is, plus
    C(meta.redis_id) (the entry id), C(meta.stream) and, when the event names a host,
    C(meta.hosts) so that C(run_playbook) limits the play to that host.
  - The group is created on first use (C(XGROUP CREATE ... 0 MKSTREAM)), so a new group reads the
    whole stream. An entry is acknowledged (C(XACK)) only after it was put on the queue; on start
    and after every reconnect the source first re-delivers its own pending (unacknowledged) entries,
    then reads new ones. Delivery is at least once, nothing is lost while the source is down.
    An entry handed over whose acknowledgement was cut off by a lost connection is acknowledged
    after the reconnect, not handed over again; only a source stopped between the two (a killed
    ansible-rulebook) hands that one entry over twice after its restart.
  - For nothing to be lost when Redis itself crashes, run it with the append-only file on
    (C(appendonly yes), C(appendfsync always)); without persistence a restarted Redis is empty.
  - An entry without a valid JSON object in C(event) is logged and acknowledged (never retried).
  - When Redis is unreachable the source retries with exponential backoff
    (C(retry_delay) doubling up to C(retry_max_delay)); it never exits on its own.
  - One connection per source.
options:
  url:
    description:
      - Redis URL (C(redis://), C(rediss://) or C(unix://)). Mutually exclusive with O(host)/O(port).
      - Default C(redis://127.0.0.1:6379/0) when neither O(url) nor O(host) is given.
    type: str
  host:
    description: Redis host name or address.
    type: str
  port:
    description: Redis port (1-65535), used with O(host).
    type: int
    default: 6379
  stream:
    description: Stream key to read.
    type: str
    default: steward:events
  group:
    description: Consumer group name.
    type: str
    default: steward-eda
  consumer:
    description:
      - Consumer name within the group. Keep it stable across restarts, so a restarted source
        finds its own unacknowledged entries.
    type: str
    default: the host name
  batch:
    description: Most entries read per call (C(COUNT)), 1-10000.
    type: int
    default: 100
  block_ms:
    description: How long one read waits for new entries (C(BLOCK)), 1-600000 ms.
    type: int
    default: 1000
  claim_idle_ms:
    description:
      - On start and after every reconnect, first take over (C(XAUTOCLAIM)) the entries other
        consumers of the group left pending for at least this long, e.g. a consumer that was
        renamed or is gone for good, then re-deliver them. C(0) switches this off. An entry that
        is merely slow on a live consumer may be delivered twice, so keep this well above the time
        a rule's action needs to take an event.
    type: int
    default: 0
  retry_delay:
    description: First wait in seconds after a connection failure (> 0).
    type: float
    default: 1.0
  retry_max_delay:
    description: Longest wait in seconds between reconnection attempts (>= O(retry_delay)).
    type: float
    default: 30.0
"""

EXAMPLES = r"""
- name: React to Steward's events
  hosts: all
  sources:
    - homelab.steward.redis_events:
        url: redis://127.0.0.1:6379/0
        stream: steward:events
        group: steward-eda
  rules:
    - name: Show every event
      condition: event.type is defined
      action:
        debug:
"""

log = logging.getLogger(__name__)

_KNOWN = {
    "url",
    "host",
    "port",
    "stream",
    "group",
    "consumer",
    "batch",
    "block_ms",
    "claim_idle_ms",
    "retry_delay",
    "retry_max_delay",
}
_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True)
class Options:
    url: str
    stream: str
    group: str
    consumer: str
    batch: int
    block_ms: int
    claim_idle_ms: int
    retry_delay: float
    retry_max_delay: float


def _string(args: dict[str, Any], name: str, default: str) -> str:
    value = args.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"redis_events: '{name}' must be a non-empty string, got {value!r}")
    return value


def _int(args: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = args.get(name, default)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"redis_events: '{name}' must be an integer from {low} to {high}, got {value!r}")
    return value


def _number(args: dict[str, Any], name: str, default: float) -> float:
    value = args.get(name, default)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"redis_events: '{name}' must be a number of seconds > 0, got {value!r}")
    return float(value)


def parse_args(args: dict[str, Any] | None) -> Options:
    """Validate the source's arguments; ValueError with a clear message on the first bad one."""
    args = dict(args or {})
    unknown = sorted(set(args) - _KNOWN)
    if unknown:
        raise ValueError(f"redis_events: unknown argument(s) {', '.join(unknown)}; known: {', '.join(sorted(_KNOWN))}")
    if "url" in args and ("host" in args or "port" in args):
        raise ValueError("redis_events: give either 'url' or 'host'/'port', not both")
    if "url" in args:
        url = _string(args, "url", "")
        if not url.startswith(_SCHEMES):
            raise ValueError(f"redis_events: 'url' must start with one of {', '.join(_SCHEMES)}, got {url!r}")
    elif "host" in args or "port" in args:
        host = _string(args, "host", "127.0.0.1")
        port = _int(args, "port", 6379, 1, 65535)
        url = f"redis://[{host}]:{port}/0" if ":" in host else f"redis://{host}:{port}/0"
    else:
        url = "redis://127.0.0.1:6379/0"
    retry_delay = _number(args, "retry_delay", 1.0)
    retry_max_delay = _number(args, "retry_max_delay", 30.0)
    if retry_max_delay < retry_delay:
        raise ValueError(
            f"redis_events: 'retry_max_delay' ({retry_max_delay}) must be >= 'retry_delay' ({retry_delay})"
        )
    return Options(
        url=url,
        stream=_string(args, "stream", "steward:events"),
        group=_string(args, "group", "steward-eda"),
        consumer=_string(args, "consumer", socket.gethostname() or "steward-eda"),
        batch=_int(args, "batch", 100, 1, 10000),
        block_ms=_int(args, "block_ms", 1000, 1, 600000),
        claim_idle_ms=_int(args, "claim_idle_ms", 0, 0, 2**31 - 1),
        retry_delay=retry_delay,
        retry_max_delay=retry_max_delay,
    )


def _decode(entry_id: str, fields: dict[str, str] | None, stream: str) -> dict[str, Any] | None:
    raw = (fields or {}).get("event")
    if raw is None:
        log.warning("redis_events: entry %s of %s has no 'event' field; acknowledged and skipped", entry_id, stream)
        return None
    try:
        event = json.loads(raw)
    except ValueError as exc:
        log.warning("redis_events: entry %s of %s is not JSON (%s); acknowledged and skipped", entry_id, stream, exc)
        return None
    if not isinstance(event, dict):
        log.warning("redis_events: entry %s of %s is not a JSON object; acknowledged and skipped", entry_id, stream)
        return None
    meta = event.get("meta") if isinstance(event.get("meta"), dict) else {}
    meta = {**meta, "redis_id": entry_id, "stream": stream}
    if isinstance(event.get("host"), str) and event["host"]:
        meta["hosts"] = event["host"]
    event["meta"] = meta
    return event


async def _ensure_group(client: Any, opts: Options) -> None:
    from redis.exceptions import ResponseError

    try:
        await client.xgroup_create(opts.stream, opts.group, id="0", mkstream=True)
        log.info("redis_events: created group %s on %s", opts.group, opts.stream)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def _consume(client: Any, queue: Any, opts: Options, handed_over: set[str]) -> None:
    """Pending entries of this consumer first (cursor from 0), then new ones (>); forever.

    `handed_over` holds the entries put on the queue whose XACK did not get through (Redis went
    away in between); when they come back as pending after the reconnect they are acknowledged,
    not put on the queue a second time.
    """
    await _ensure_group(client, opts)
    if opts.claim_idle_ms:
        start = "0-0"
        while True:
            reply = await client.xautoclaim(
                opts.stream,
                opts.group,
                opts.consumer,
                opts.claim_idle_ms,
                start_id=start,
                count=opts.batch,
                justid=True,
            )
            if reply and reply[1]:
                log.info("redis_events: took over %d idle entries of other consumers", len(reply[1]))
            start = reply[0] if reply else "0-0"
            if start in ("0-0", b"0-0"):
                break
    cursor = "0"
    while True:
        replies = await client.xreadgroup(
            opts.group,
            opts.consumer,
            {opts.stream: cursor},
            count=opts.batch,
            block=None if cursor != ">" else opts.block_ms,
        )
        entries = replies[0][1] if replies else []
        if cursor != ">" and not entries:
            log.debug("redis_events: no pending entries left for %s, reading new ones", opts.consumer)
            cursor = ">"
            continue
        for entry_id, fields in entries:
            if entry_id not in handed_over:
                event = _decode(entry_id, fields, opts.stream)
                if event is not None:
                    await queue.put(event)
                handed_over.add(entry_id)
            # only now: an entry that was not handed over stays pending and comes back
            await client.xack(opts.stream, opts.group, entry_id)
            handed_over.discard(entry_id)
            if cursor != ">":
                cursor = entry_id


async def main(queue: Any, args: dict[str, Any]) -> None:
    """ansible-rulebook entry point."""
    opts = parse_args(args)
    from redis import asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import ResponseError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    client = aioredis.Redis.from_url(
        opts.url,
        decode_responses=True,
        single_connection_client=True,
        socket_connect_timeout=5,
        socket_timeout=opts.block_ms / 1000 + 10,
    )
    delay = opts.retry_delay
    handed_over: set[str] = set()
    try:
        while True:
            try:
                await _consume(client, queue, opts, handed_over)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("redis_events: Redis at %s unavailable (%s); retrying in %.1f s", opts.url, exc, delay)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # Redis restarted empty or the group was deleted: create it again
                log.warning("redis_events: group %s is gone (%s); recreating it", opts.group, exc)
                handed_over.clear()  # its pending entries went with it
                continue
            else:  # pragma: no cover - _consume never returns
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, opts.retry_max_delay)
            try:
                await client.ping()
            except (RedisConnectionError, RedisTimeoutError, OSError):
                continue
            log.info("redis_events: reconnected to %s", opts.url)
            delay = opts.retry_delay
    finally:
        await client.aclose()


if __name__ == "__main__":  # pragma: no cover - manual try-out
    import sys

    class _Print:
        async def put(self, event: dict[str, Any]) -> None:
            print(json.dumps(event))

    asyncio.run(main(_Print(), {"url": sys.argv[1]} if len(sys.argv) > 1 else {}))
