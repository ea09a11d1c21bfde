"""The event path's health (steward.events.health, `steward status`) against a real redis-server
with the ACL users of docs/operations.md: heartbeats written by a node's own user, the rulebook's
group read and left behind as a stopped rulebook leaves it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_server import RedisServer, free_port, missing

from steward.events import EventBus
from steward.events import health as health_module
from steward.events.health import GROUP, event_path_health
from steward.interfaces.cli.main import main

STREAM = "steward:events"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    if missing():
        pytest.skip(str(missing()))
    srv = RedisServer(tmp_path / "redis", nodes=("saturn", "piha")).start()
    yield srv
    srv.stop()


def beat(server: RedisServer, host: str, as_user: str | None = None, **extra: object) -> str:
    """An agent_heartbeat XADDed with the node's own ACL user (as the agent sends it)."""
    import redis

    event = {"id": f"hb-{time.time_ns()}", "type": "agent_heartbeat", "host": host, "source": "node_agent"}
    event.update({"status": "alive", "queued": 0, "dropped": 0, **extra})
    client = redis.Redis.from_url(server.node_url(as_user or host))
    return client.xadd(STREAM, {"id": event["id"], "type": "agent_heartbeat", "event": json.dumps(event)}).decode()


def bus(tmp_path: Path, server: RedisServer, url: str | None = None) -> EventBus:
    return EventBus(url or server.url, tmp_path / "outbox.jsonl", timeout=2)


def test_a_healthy_path_has_no_problem_and_each_agents_age(tmp_path: Path, server: RedisServer) -> None:
    admin = server.client()
    admin.xgroup_create(STREAM, GROUP, id="$", mkstream=True)
    beat(server, "saturn")
    beat(server, "piha")
    admin.xreadgroup(GROUP, "controller", {STREAM: ">"})  # the rulebook read both
    health = event_path_health(bus(tmp_path, server), {"saturn": 30, "piha": 30})
    assert health.problems == []
    assert (health.reachable, health.stream_length, health.group_exists, health.group_lag) == (True, 2, True, 0)
    assert set(health.agents) == {"saturn", "piha"}
    assert all(a.last_heartbeat_age is not None and a.last_heartbeat_age < 5 for a in health.agents.values())
    assert health.consumer_idle is not None and health.consumer_idle < 5


def test_a_lag_counter_with_nothing_unread_is_no_lag(tmp_path: Path, server: RedisServer) -> None:
    """Seen on the lab after Redis came back from its append-only file: XINFO GROUPS said lag 5 while
    nothing followed the group's last-delivered id. The same state, made with Redis's own command."""
    admin = server.client()
    admin.xgroup_create(STREAM, GROUP, id="$", mkstream=True)
    for host in ("saturn", "piha", "saturn"):
        beat(server, host)
    admin.xreadgroup(GROUP, "controller", {STREAM: ">"})
    admin.execute_command("XGROUP", "SETID", STREAM, GROUP, "$", "ENTRIESREAD", 0)  # the counter, now wrong
    assert admin.xinfo_groups(STREAM)[0]["lag"] == 3, "Redis itself reports a lag"
    health = event_path_health(bus(tmp_path, server), {"saturn": 30, "piha": 30})
    assert (health.group_lag, health.problems) == (0, [])
    beat(server, "piha")  # one really unread entry: the counter is believed again
    assert event_path_health(bus(tmp_path, server), {"saturn": 30, "piha": 30}).group_lag == 4


def test_a_silent_agent_and_a_lagging_group_are_named_plainly(
    tmp_path: Path, server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = server.client()
    admin.xgroup_create(STREAM, GROUP, id="$", mkstream=True)
    beat(server, "saturn")
    beat(server, "piha")
    admin.xreadgroup(GROUP, "controller", {STREAM: ">"})  # read (and acknowledged or not: lag counts unread)
    for n in range(120):  # the rulebook stopped: 120 entries nobody reads
        admin.xadd(STREAM, {"event": json.dumps({"id": f"e{n}", "type": "container_die", "host": "piha"})})
    beat(server, "saturn")
    later = time.time() + 240  # four minutes on: saturn's agent kept beating (the last beat is "now")
    health = event_path_health(bus(tmp_path, server), {"saturn": 300, "piha": 30}, now=later)
    assert health.group_lag == 121
    assert "agent piha silent for 4 min" in health.problems
    assert not any("saturn" in p for p in health.problems), "its interval is 300 s: 4 min is not silent"
    assert any(p.startswith(f"rulebook group {GROUP} lag 121: unread for 4 min") for p in health.problems)
    assert not any("nothing read" in p for p in health.problems), "its consumer read a moment ago"
    monkeypatch.setattr(health_module, "IDLE_GRACE", 0.2)  # Redis measures idleness itself: wait, not pretend
    time.sleep(0.5)
    again = event_path_health(bus(tmp_path, server), {"saturn": 300, "piha": 30})
    assert any(p.startswith(f"rulebook group {GROUP}: nothing read for") for p in again.problems)


def test_an_agent_never_heard_of_holding_or_dropping_events(tmp_path: Path, server: RedisServer) -> None:
    server.client().xgroup_create(STREAM, GROUP, id="$", mkstream=True)
    beat(server, "saturn", queued=7, dropped=2)
    beat(server, "saturn", as_user="piha")  # piha's credential claiming saturn: counts as saturn's (docs say so)
    beat(server, "piha", queued="lots", dropped=-1)  # odd counts from a node are not counts
    health = event_path_health(bus(tmp_path, server), {"saturn": 30, "piha": 30, "mars": 30, "off": 0})
    assert set(health.agents) == {"saturn", "piha", "mars"}, "an agent with heartbeats off is not expected"
    assert "agent mars silent: no heartbeat in the last 60 min" in health.problems
    assert (health.agents["piha"].queued, health.agents["piha"].dropped) == (None, None)
    assert health.agents["saturn"].queued == 0, "the newest heartbeat counts"
    assert not any(p.startswith(("agent saturn", "agent piha")) for p in health.problems)
    beat(server, "piha", queued=3, dropped=1)
    again = event_path_health(bus(tmp_path, server), {"piha": 30})
    assert again.problems == [
        "agent piha holds 3 event(s) it could not deliver yet",
        "agent piha: 1 event(s) refused by Redis as malformed and dropped",
    ]


def test_no_group_and_redis_down_or_refusing_us(tmp_path: Path, server: RedisServer) -> None:
    beat(server, "saturn")
    health = event_path_health(bus(tmp_path, server), {"saturn": 30})
    assert health.group_exists is False
    assert f"rulebook group {GROUP} does not exist: the rulebook has never read this stream" in health.problems
    wrong = event_path_health(bus(tmp_path, server, server.url.replace(server.password, "pw-wrong")), {})
    assert not wrong.reachable and "pw-wrong" not in str(wrong.as_dict())
    assert wrong.problems[0].startswith("event path: Redis at redis://steward:***@127.0.0.1:")
    down = event_path_health(bus(tmp_path, server, f"redis://steward:pw-x@127.0.0.1:{free_port()}/0"), {})
    assert not down.reachable and "unusable" in down.problems[0]


def test_steward_status_shows_the_event_path(tmp_path: Path, server: RedisServer, monkeypatch, capsys) -> None:
    inventory = tmp_path / "hosts.yml"
    hosts = {"saturn": {}, "piha": {}, "nas": {"node_agent_enabled": False}}
    inventory.write_text(json.dumps({"all": {"vars": {"steward_disk": {"/": 95}}, "hosts": hosts}}))
    server.client().xgroup_create(STREAM, GROUP, id="$", mkstream=True)
    beat(server, "saturn")
    monkeypatch.setenv("STEWARD_REDIS_URL", server.url)
    state = tmp_path / "state"
    assert main(["--state-dir", str(state), "--inventory", str(inventory), "status"]) == 0
    out = capsys.readouterr().out
    assert "event path: Redis redis://steward:***@" in out and f"rulebook group {GROUP}: lag 1, pending 0" in out
    assert "EVENT PATH PROBLEM: agent piha silent: no heartbeat in the last 60 min" in out
    assert "nas" not in out and server.password not in out
    assert main(["--state-dir", str(state), "--inventory", str(inventory), "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["event_path"]["agents"]["saturn"]["last_heartbeat_age"] < 10
    monkeypatch.setenv("STEWARD_REDIS_URL", f"redis://steward:pw-x@127.0.0.1:{free_port()}/0")
    assert main(["--state-dir", str(state), "--inventory", str(inventory), "status"]) == 0
    assert "EVENT PATH DOWN: event path: Redis at redis://steward:***@" in capsys.readouterr().out


def test_metrics_carry_the_event_path(tmp_path: Path, server: RedisServer, monkeypatch) -> None:
    pytest.importorskip("prometheus_client")
    from prometheus_client import generate_latest

    from steward.interfaces.web.metrics import figures
    from steward.state.settings import Settings

    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        json.dumps({"all": {"vars": {"steward_disk": {"/": 95}}, "hosts": {"saturn": {}, "piha": {}}}})
    )
    server.client().xgroup_create(STREAM, GROUP, id="$", mkstream=True)
    beat(server, "saturn", queued=2)
    settings = Settings(project_dir=tmp_path, inventory=inventory, state_dir=tmp_path / "state")
    monkeypatch.delenv("STEWARD_REDIS_URL", raising=False)
    assert b"steward_event_path_up" not in generate_latest(figures(settings)), "no Redis configured: no figures"
    monkeypatch.setenv("STEWARD_REDIS_URL", server.url)
    text = generate_latest(figures(settings)).decode()
    assert "steward_event_path_up 1.0" in text
    assert "steward_event_stream_length 1.0" in text and "steward_event_group_lag 1.0" in text
    assert 'steward_agent_queued_events{host="saturn"} 2.0' in text
    assert 'steward_agent_last_heartbeat_age_seconds{host="saturn"}' in text
    assert 'steward_agent_last_heartbeat_age_seconds{host="piha"}' not in text, "none: absent, not 0"
    assert "steward_event_path_problems 2.0" in text  # piha silent, saturn holding 2 events
    assert server.password not in text
    monkeypatch.setenv("STEWARD_REDIS_URL", f"redis://steward:pw-x@127.0.0.1:{free_port()}/0")
    down = generate_latest(figures(settings)).decode()
    assert "steward_event_path_up 0.0" in down and "steward_event_stream_length" not in down
