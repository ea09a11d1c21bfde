"""The event path's health as the controller sees it in Redis (`steward status`, `/metrics`).

Read only, a handful of commands as the controller's ACL user (`+@stream +ping`): XLEN, XINFO GROUPS
and XINFO CONSUMERS of the rulebook's group, the first entry it has not read, and XREVRANGE over the
last hour for each node agent's newest `agent_heartbeat` (at most HEARTBEAT_SCAN entries). What a
node wrote is untrusted: a heartbeat counts only with a host the caller expects and integer counts,
and every text shown is made inert by the caller's renderer.

Plain problems, one line each: Redis unreachable or refusing the login; the rulebook's group
missing, not reading (its newest consumer idle for long), or behind (unread entries older than
LAG_GRACE seconds); an agent silent for more than 3 heartbeat intervals; an agent holding events
it cannot deliver or whose events Redis refused as malformed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from steward.events.bus import EventBus, RedisRefused, redacted

GROUP = "steward-eda"  # the rulebook's consumer group (rulebooks/steward.yml)
HEARTBEAT = "agent_heartbeat"
HEARTBEAT_WINDOW = 3600.0  # seconds of the stream searched for heartbeats
HEARTBEAT_SCAN = 20_000  # most entries read for them
SILENT_AFTER = 3  # heartbeat intervals without one: the agent is silent
LAG_GRACE = 60.0  # seconds an unread entry may wait before the group counts as behind
IDLE_GRACE = 60.0  # seconds the group's newest consumer may go without reading


@dataclass(frozen=True)
class AgentHealth:
    last_heartbeat_age: float | None  # seconds; None: none in the last hour
    queued: int | None = None  # events waiting in the agent for Redis (its last heartbeat)
    dropped: int | None = None  # events Redis refused as malformed since the agent started


@dataclass(frozen=True)
class EventPathHealth:
    url: str  # password shown as ***
    reachable: bool
    error: str | None = None
    stream_length: int | None = None
    group: str = GROUP
    group_exists: bool | None = None
    group_pending: int | None = None  # handed to a consumer, not acknowledged
    group_lag: int | None = None  # in the stream, not read by the group
    oldest_unread_age: float | None = None  # seconds
    consumer_idle: float | None = None  # seconds since the group's most recent read
    agents: dict[str, AgentHealth] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ms(entry_id: Any) -> float | None:
    try:
        return int(str(entry_id).split("-", 1)[0]) / 1000
    except ValueError:
        return None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _age(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def event_path_health(
    bus: EventBus, expected: Mapping[str, float], *, group: str = GROUP, now: float | None = None
) -> EventPathHealth:
    """`expected`: host -> its agent's heartbeat interval in seconds (0: sends none)."""
    now = time.time() if now is None else now
    try:
        client = bus.client()
        client.ping()
        length = int(client.xlen(bus.stream))
    except RedisRefused as exc:
        return EventPathHealth(bus.shown_url, False, str(exc), problems=[f"event path: {exc}"])
    except Exception as exc:  # redis-py's errors and OSError: Redis is down or refuses us
        why = redacted(exc, bus.url)
        return EventPathHealth(
            bus.shown_url, False, why, problems=[f"event path: Redis at {bus.shown_url} unusable: {why}"]
        )
    problems: list[str] = []
    info = _group(client, bus.stream, group, now, problems)
    agents = _agents(client, bus.stream, expected, now, problems)
    return EventPathHealth(bus.shown_url, True, None, length, group, agents=agents, problems=problems, **info)


def _group(client: Any, stream: str, group: str, now: float, problems: list[str]) -> dict[str, Any]:
    try:
        groups = client.xinfo_groups(stream)
    except Exception as exc:  # no stream yet ("no such key"), or our user may not ask
        if "no such key" not in str(exc).lower():
            problems.append(f"rulebook group {group}: cannot be read ({type(exc).__name__}: {exc})")
            return {}
        groups = []
    mine = next((g for g in groups if _text(g.get("name")) == group), None)
    if mine is None:
        problems.append(f"rulebook group {group} does not exist: the rulebook has never read this stream")
        return {"group_exists": False}
    lag, pending = _count(mine.get("lag")), _count(mine.get("pending"))
    info: dict[str, Any] = {"group_exists": True, "group_pending": pending, "group_lag": lag}
    if lag:
        first = client.xrange(stream, min=f"({_text(mine.get('last-delivered-id'))}", count=1)
        if not first:
            # Redis's lag is a counter (entries added - entries read) that a restart from the append-only
            # file can leave off (seen on the lab: lag 5, nothing past the group's last-delivered id): the
            # entries themselves are the truth
            info["group_lag"] = 0
        born = _ms(_text(first[0][0])) if first else None
        if born is not None:
            info["oldest_unread_age"] = round(max(now - born, 0.0), 1)
            if now - born > LAG_GRACE:
                problems.append(f"rulebook group {group} lag {lag}: unread for {_age(now - born)} (is it running?)")
    try:
        consumers = client.xinfo_consumers(stream, group)
    except Exception:
        consumers = []
    idles = [c.get("idle") for c in consumers if isinstance(c.get("idle"), int)]
    if idles:
        idle = min(idles) / 1000
        info["consumer_idle"] = round(idle, 1)
        if idle > IDLE_GRACE:
            problems.append(f"rulebook group {group}: nothing read for {_age(idle)} (is the rulebook running?)")
    return info


def _agents(
    client: Any, stream: str, expected: Mapping[str, float], now: float, problems: list[str]
) -> dict[str, AgentHealth]:
    wanted = {h for h, every in expected.items() if every > 0}
    newest: dict[str, tuple[float, dict[str, Any]]] = {}
    if wanted:
        since = f"{int((now - HEARTBEAT_WINDOW) * 1000)}-0"
        for entry_id, fields in client.xrevrange(stream, max="+", min=since, count=HEARTBEAT_SCAN):
            if _text(fields.get(b"type", fields.get("type"))) != HEARTBEAT:
                continue
            beat = _beat(fields)
            host = beat.get("host")
            at = _ms(_text(entry_id))
            if isinstance(host, str) and host in wanted and host not in newest and at is not None:
                newest[host] = (at, beat)
            if len(newest) == len(wanted):
                break
    agents: dict[str, AgentHealth] = {}
    for host in sorted(wanted):
        if host not in newest:
            agents[host] = AgentHealth(None)
            problems.append(f"agent {host} silent: no heartbeat in the last {HEARTBEAT_WINDOW / 60:.0f} min")
            continue
        at, beat = newest[host]
        age = max(now - at, 0.0)
        health = AgentHealth(round(age, 1), _count(beat.get("queued")), _count(beat.get("dropped")))
        agents[host] = health
        if age > SILENT_AFTER * expected[host]:
            problems.append(f"agent {host} silent for {_age(age)}")
        if health.queued:
            problems.append(f"agent {host} holds {health.queued} event(s) it could not deliver yet")
        if health.dropped:
            problems.append(f"agent {host}: {health.dropped} event(s) refused by Redis as malformed and dropped")
    return agents


def _beat(fields: Mapping[Any, Any]) -> dict[str, Any]:
    raw = fields.get(b"event", fields.get("event"))
    try:
        beat = json.loads(raw) if raw is not None else None
    except (TypeError, ValueError):
        return {}
    return beat if isinstance(beat, dict) else {}


def _text(value: Any) -> str:
    return value.decode(errors="backslashreplace") if isinstance(value, bytes) else str(value)
