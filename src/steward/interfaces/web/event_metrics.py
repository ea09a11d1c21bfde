"""The event path on /metrics (set only when STEWARD_REDIS_URL is): the same figures `steward status`
shows, from steward.app.status.event_path. Host names are inventory names (a heartbeat counts only
for an expected host); nothing else a node wrote becomes a label.

    steward_event_path_up                                 1 when Redis answered our login
    steward_event_path_problems                           plain problems `steward status` lists
    steward_event_stream_length                           entries in steward:events
    steward_event_group_lag                               entries the rulebook's group has not read
    steward_event_group_pending                           read by the rulebook, not acknowledged
    steward_event_group_oldest_unread_age_seconds         age of the oldest unread entry (0: none)
    steward_agent_last_heartbeat_age_seconds{host}        since each agent's last heartbeat (absent: none in 1 h)
    steward_agent_queued_events{host}                     events waiting in the agent for Redis
    steward_agent_dropped_events{host}                    refused by Redis as malformed since the agent started
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from steward.app.settings import Settings
from steward.app.status import event_path


def add_event_path(settings: Settings, registry: CollectorRegistry) -> None:
    health = event_path(settings)
    if health is None:
        return
    Gauge("steward_event_path_up", "1 when Redis answered our login", registry=registry).set(int(health.reachable))
    Gauge("steward_event_path_problems", "Problems steward status lists", registry=registry).set(len(health.problems))
    if not health.reachable:
        return
    for name, text, value in (
        ("steward_event_stream_length", "Entries in the stream", health.stream_length),
        ("steward_event_group_lag", "Entries the rulebook's group has not read", health.group_lag),
        ("steward_event_group_pending", "Read by the rulebook, not acknowledged", health.group_pending),
        ("steward_event_group_oldest_unread_age_seconds", "Age of the oldest unread entry", health.oldest_unread_age),
    ):
        Gauge(name, text, registry=registry).set(value or 0)
    age = Gauge(
        "steward_agent_last_heartbeat_age_seconds", "Since the agent's last heartbeat", ["host"], registry=registry
    )
    queued = Gauge("steward_agent_queued_events", "Events waiting in the agent for Redis", ["host"], registry=registry)
    dropped = Gauge("steward_agent_dropped_events", "Events Redis refused as malformed", ["host"], registry=registry)
    for host, agent in health.agents.items():
        if agent.last_heartbeat_age is not None:
            age.labels(host).set(agent.last_heartbeat_age)
        queued.labels(host).set(agent.queued or 0)
        dropped.labels(host).set(agent.dropped or 0)
