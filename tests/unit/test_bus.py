"""The event bus against a real redis-server (killed for "down"): outbox spool, ordering, the journal hook,
`events tail`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_server import RedisServer, missing

from steward.events import EventBus, Outbox, bus_from_env, new_event_id, stream_fields
from steward.interfaces.cli.main import main
from steward.state.journal import Journal

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_redis_env(monkeypatch):
    for name in ("STEWARD_REDIS_URL", "STEWARD_REDIS_MAXLEN", "STEWARD_REDIS_STREAM"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server(tmp_path) -> Iterator[RedisServer]:
    """A real redis-server; "Redis down" in these tests is this server killed, "back" restarted."""
    if missing():
        pytest.skip(str(missing()))
    srv = RedisServer(tmp_path / "redis").start()
    yield srv
    srv.stop()


def make_bus(tmp_path, server: RedisServer, retry_after: float = 0.0, **kw) -> EventBus:
    return EventBus(server.url, tmp_path / "engine" / "outbox.jsonl", retry_after=retry_after, **kw)


def ids(server: RedisServer) -> list[str]:
    return [fields["id"] for _sid, fields in server.client().xrange("steward:events")]


def fail_second_pipeline(monkeypatch) -> None:
    """Fault injection on the real client: the connection drops on the second pipeline sent."""
    from redis.client import Pipeline

    calls = 0
    real_execute = Pipeline.execute

    def second_fails(pipe, *args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 2:
            pipe.reset()
            raise ConnectionError("gone")
        return real_execute(pipe, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "execute", second_fails)


def ev(n: int) -> dict[str, object]:
    return {"id": new_event_id(), "type": "test", "at": "2026-11-27T00:00:00Z", "n": n}


def test_event_ids_are_unique_and_time_ordered() -> None:
    ids = [new_event_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert [i.split("-")[0] for i in ids] == sorted(i.split("-")[0] for i in ids)


def test_stream_fields_carry_the_stable_schema() -> None:
    fields = stream_fields({"id": "x1", "type": "drift_seen", "at": "t", "key": "piha/docker/mqtt/missing"})
    event = json.loads(fields["event"])
    assert fields["id"] == "x1" and fields["type"] == "drift_seen"
    assert set(event) >= {"id", "type", "at", "host", "key", "action", "cycle"}
    assert event["host"] is None and event["key"] == "piha/docker/mqtt/missing"


def test_without_the_env_var_there_is_no_bus_and_the_journal_is_unchanged(tmp_path) -> None:
    assert bus_from_env(tmp_path) is None
    journal = Journal(tmp_path / "journal.jsonl")
    event = journal.append("cycle_started", cycle="c1")
    (line,) = (tmp_path / "journal.jsonl").read_text().splitlines()
    assert json.loads(line) == event and event["id"] and event["type"] == "cycle_started"
    assert not (tmp_path / "engine").exists()


def test_env_configures_url_and_maxlen(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STEWARD_REDIS_URL", "redis://127.0.0.1:6399/0")
    monkeypatch.setenv("STEWARD_REDIS_MAXLEN", "500")
    bus = bus_from_env(tmp_path)
    assert bus is not None and bus.maxlen == 500 and bus.stream == "steward:events"
    assert bus.outbox.path == tmp_path / "engine" / "outbox.jsonl"


def test_events_go_straight_to_redis_with_approximate_maxlen(tmp_path, server) -> None:
    bus = make_bus(tmp_path, server)
    events = [ev(i) for i in range(3)]
    bus.publish(events)
    assert ids(server) == [e["id"] for e in events]
    assert not bus.outbox.path.exists()
    small = make_bus(tmp_path, server, maxlen=10)
    small.publish([ev(i) for i in range(1000)])
    assert server.client().xlen("steward:events") < 1003  # trimmed (approximately) to the bound


def test_redis_down_spools_then_delivers_the_outbox_first_in_order(tmp_path, server) -> None:
    bus = make_bus(tmp_path, server)
    server.stop()
    spooled = [ev(i) for i in range(5)]
    for e in spooled:
        bus.publish([e])  # never raises
    assert [json.loads(x)["id"] for x in bus.outbox.path.read_text().splitlines()] == [e["id"] for e in spooled]
    server.start()  # empty: nothing reached it while it was down
    later = ev(99)
    bus.publish([later])
    assert ids(server) == [e["id"] for e in spooled] + [later["id"]]
    assert not bus.outbox.path.exists() and not bus.outbox.pos_path.exists()


def test_a_second_process_sees_the_outbox_and_keeps_order(tmp_path, server) -> None:
    server.stop()
    first = make_bus(tmp_path, server)
    old = [ev(i) for i in range(3)]
    first.publish(old)
    server.start()
    second = make_bus(tmp_path, server)  # a fresh process: knows nothing but the files
    new = ev(3)
    second.publish([new])
    assert ids(server) == [e["id"] for e in old] + [new["id"]]


def test_retry_after_skips_connection_attempts_but_keeps_events(tmp_path, server) -> None:
    bus = make_bus(tmp_path, server, retry_after=60)
    server.stop()
    bus.publish([ev(0)])
    server.start()
    bus.publish([ev(1)])  # still within retry_after: spooled, not sent
    assert ids(server) == []
    assert bus.drain() is False  # drain respects the back-off as well
    bus._down_until = 0.0
    assert bus.drain() is True
    entries = server.client().xrange("steward:events")
    assert [json.loads(f["event"])["n"] for _sid, f in entries] == [0, 1]


def test_delivered_position_is_recorded_per_batch(tmp_path, server, monkeypatch) -> None:
    import steward.events.bus as busmod

    monkeypatch.setattr(busmod, "BATCH", 2)
    bus = make_bus(tmp_path, server)
    server.stop()
    events = [ev(i) for i in range(5)]
    bus.publish(events)
    server.start()
    fail_second_pipeline(monkeypatch)  # the second batch fails: the first stays delivered
    bus.drain()
    assert ids(server) == [e["id"] for e in events[:2]]
    remaining, _ = bus.outbox.read(100)
    assert [e["id"] for e in remaining] == [e["id"] for e in events[2:]]
    bus.drain()
    assert ids(server) == [e["id"] for e in events]


def test_outbox_survives_a_torn_line_and_a_stale_position(tmp_path) -> None:
    box = Outbox(tmp_path / "outbox.jsonl")
    box.append([ev(0)])
    with box.path.open("ab") as fh:
        fh.write(b'{"id": "torn", "ty')  # crash mid-write
    box.append([ev(1)])
    events, end = box.read(10)
    assert [e["n"] for e in events] == [0, 1]
    box.delivered(end)
    assert not box.path.exists()
    # crash between emptying the outbox and removing the position: the stale position is dropped
    box.pos_path.write_text("999")
    with box.locked():
        box.append([ev(2)])
    assert [e["n"] for e in box.read(10)[0]] == [2]


def test_journal_hook_publishes_each_event_and_a_batch_once_per_cycle(tmp_path, server, monkeypatch) -> None:
    monkeypatch.setenv("STEWARD_REDIS_URL", server.url)
    journal = Journal(tmp_path / "journal.jsonl")
    single = journal.append("escalation_cleared", key="piha/docker/mqtt/missing", via="cli")
    assert ids(server) == [single["id"]]
    with journal.batched():
        a = journal.append("cycle_started", cycle="c1")
        b = journal.append("drift_seen", cycle="c1", host="piha")
        assert ids(server) == [single["id"]]  # nothing published before the cycle's write
    assert ids(server) == [single["id"], a["id"], b["id"]]
    assert [e["id"] for e in journal.events()] == ids(server)


def test_journal_never_fails_or_waits_when_redis_is_unreachable(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STEWARD_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    journal = Journal(tmp_path / "journal.jsonl")
    started = time.monotonic()
    ids = [journal.append("test", n=i)["id"] for i in range(20)]
    assert time.monotonic() - started < 5
    assert [e["id"] for e in journal.events()] == ids
    spooled = [json.loads(x)["id"] for x in (tmp_path / "engine" / "outbox.jsonl").read_text().splitlines()]
    assert spooled == ids


def test_events_tail_reads_the_journal_without_redis(tmp_path, capsys) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    for i in range(5):
        journal.append("test", host="piha", n=i)
    assert main(["--state-dir", str(tmp_path), "events", "tail", "-n", "3", "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [e["n"] for e in lines] == [2, 3, 4]
    assert main(["--state-dir", str(tmp_path), "events", "tail"]) == 0
    out = capsys.readouterr().out
    assert out.count("test") == 5 and "host=piha" in out


def test_a_large_cycle_is_sent_in_batches_and_only_the_failed_rest_is_spooled(tmp_path, server, monkeypatch) -> None:
    import steward.events.bus as busmod

    monkeypatch.setattr(busmod, "BATCH", 3)
    bus = make_bus(tmp_path, server)
    fail_second_pipeline(monkeypatch)
    events = [ev(i) for i in range(8)]
    bus.publish(events)
    assert ids(server) == [e["id"] for e in events[:3]]
    assert [e["id"] for e in bus.outbox.read(100)[0]] == [e["id"] for e in events[3:]]
    assert bus.drain() is True
    assert ids(server) == [e["id"] for e in events]


def test_events_tail_says_so_when_redis_is_unreachable_and_reads_the_journal(tmp_path, monkeypatch, capsys) -> None:
    Journal(tmp_path / "journal.jsonl", bus=None).append("test", host="piha", summary="web\x1b[2J is\ndown")
    monkeypatch.setenv("STEWARD_REDIS_URL", "redis://steward:tail-pw-9@127.0.0.1:1/0")
    assert main(["--state-dir", str(tmp_path), "events", "tail"]) == 0
    out, err = capsys.readouterr()
    assert "notice: event stream steward:events at redis://steward:***@127.0.0.1:1/0 unavailable" in err
    assert "tail-pw-9" not in out + err
    assert "host=piha" in out and "\x1b" not in out


def test_a_redis_without_authentication_is_refused_and_events_wait_in_the_outbox(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("STEWARD_REDIS_ALLOW_UNAUTHENTICATED", raising=False)
    open_server = RedisServer(tmp_path / "open", acl=False).start()
    try:
        for url in (open_server.url, f"redis://steward:any-pw@127.0.0.1:{open_server.port}/0"):
            bus = EventBus(url, tmp_path / str(len(url)) / "outbox.jsonl", retry_after=0.0)
            event = ev(0)
            bus.publish([event])
            assert open_server.client().xlen("steward:events") == 0
            assert [e["id"] for e in bus.outbox.read(10)[0]] == [event["id"]]
        # the explicit development flag, on loopback only
        dev = EventBus(open_server.url, tmp_path / "dev" / "outbox.jsonl", allow_unauthenticated=True)
        dev.publish([ev(1)])
        assert open_server.client().xlen("steward:events") == 1
        far = EventBus("redis://198.51.100.9:6379/0", tmp_path / "far" / "outbox.jsonl", allow_unauthenticated=True)
        with pytest.raises(Exception, match="only accepted for a loopback"):
            far.client()
    finally:
        open_server.stop()


def test_one_stream_length_policy() -> None:
    # read as text: importing a collection plugin by its ansible_collections name fails once Ansible's
    # own collection loader is installed in this process (other tests install it)
    from steward.events import DEFAULT_MAXLEN

    agent = (ROOT / "roles" / "node_agent" / "files" / "steward_node_agent.py").read_text()
    defaults = (ROOT / "roles" / "node_agent" / "defaults" / "main.yml").read_text()
    callback = (ROOT / "plugins" / "callback" / "events.py").read_text()
    assert DEFAULT_MAXLEN == 100_000
    assert "\nMAXLEN = 100_000" in callback
    assert "MAXLEN = 100_000" in agent and "node_agent_maxlen: 100000" in defaults
