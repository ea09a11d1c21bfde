"""The event bus against a real Debian ``redis-server`` on 127.0.0.1 (free port, no persistence).

Redis is started by the fixture and stopped by PID. The outage test SIGKILLs it mid-run while
200 events are appended, then restarts it on the same port: no append fails or waits, the
outbox is delivered first and in order, no event is lost, duplicates stay bounded.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from steward.events import STREAM
from steward.events.bus import BATCH
from steward.interfaces.cli.main import main
from steward.state.journal import Journal

redis = pytest.importorskip("redis", reason="redis-py is not installed")
from redis_server import RedisServer, missing  # noqa: E402

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))


@pytest.fixture
def server(tmp_path) -> Iterator[RedisServer]:
    srv = RedisServer(tmp_path / "redis").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def state(tmp_path, server, monkeypatch) -> Path:
    monkeypatch.setenv("STEWARD_REDIS_URL", server.url)
    monkeypatch.setenv("STEWARD_REDIS_RETRY_AFTER", "0.2")
    monkeypatch.delenv("STEWARD_REDIS_MAXLEN", raising=False)
    monkeypatch.delenv("STEWARD_REDIS_STREAM", raising=False)
    folder = tmp_path / "state"
    folder.mkdir()
    return folder


def stream_ids(srv: RedisServer) -> list[str]:
    return [fields["id"] for _sid, fields in srv.client().xrange(STREAM)]


def test_events_appear_in_the_stream_with_the_schema(server, state) -> None:
    journal = Journal(state / "journal.jsonl")
    one = journal.append("escalation_cleared", key="piha/docker/mqtt/missing", via="cli")
    with journal.batched():
        cycle = [journal.append("drift_seen", cycle="c1", host="piha", key=f"piha/disk/m{i}/x") for i in range(3)]
    entries = server.client().xrange(STREAM)
    assert [f["id"] for _sid, f in entries] == [one["id"]] + [e["id"] for e in cycle]
    event = json.loads(entries[1][1]["event"])
    assert {"id", "type", "at", "host", "key", "action", "cycle"} <= set(event)
    assert event["type"] == "drift_seen" and event["cycle"] == "c1" and event["action"] is None
    assert not (state / "engine" / "outbox.jsonl").exists()


def test_maxlen_trims_approximately(server, state, monkeypatch) -> None:
    monkeypatch.setenv("STEWARD_REDIS_MAXLEN", "100")
    journal = Journal(state / "journal.jsonl")
    with journal.batched():
        for i in range(1000):
            journal.append("test", n=i)
    length = server.client().xlen(STREAM)
    assert 100 <= length < 1000


def test_redis_killed_mid_run_then_restarted_loses_nothing(server, state, capsys) -> None:
    journal = Journal(state / "journal.jsonl")
    before_kill: list[str] = []
    durations: list[float] = []
    appended: list[str] = []
    for i in range(200):
        if i == 50:
            before_kill = stream_ids(server)  # what Redis acknowledged; it has no persistence
            server.stop()
        started = time.monotonic()
        appended.append(journal.append("test", host="piha", n=i)["id"])
        durations.append(time.monotonic() - started)
    assert max(durations) < 1.0, f"slowest append {max(durations):.3f}s"
    assert before_kill == appended[:50]
    outbox = state / "engine" / "outbox.jsonl"
    spooled = [json.loads(x)["id"] for x in outbox.read_text().splitlines()]
    assert spooled == appended[50:]  # in order, every event since the kill
    assert [e["id"] for e in journal.events()] == appended  # the journal never missed one

    server.start()  # same port, empty (no persistence)
    time.sleep(0.3)  # past STEWARD_REDIS_RETRY_AFTER
    started = time.monotonic()
    last = journal.append("test", host="piha", n=200)["id"]
    assert time.monotonic() - started < 1.0
    after = stream_ids(server)
    assert after == appended[50:] + [last]  # the outbox first, in order, then the new event
    assert not outbox.exists()
    delivered = Counter(before_kill + after)
    assert set(delivered) == set(appended + [last])  # no event lost
    assert sum(n - 1 for n in delivered.values()) <= BATCH  # duplicates bounded

    assert main(["--state-dir", str(state), "events", "tail", "-n", "500", "--json"]) == 0
    shown = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [e["id"] for e in shown] == after
    assert all(e["type"] == "test" and e["host"] == "piha" and e["stream_id"] for e in shown)


def test_a_hung_redis_costs_at_most_the_timeout(server, state) -> None:
    journal = Journal(state / "journal.jsonl")
    journal.append("test", n=0)
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGSTOP)  # accepts connections (kernel backlog), never answers
    try:
        durations = []
        for i in range(1, 6):
            started = time.monotonic()
            journal.append("test", n=i)
            durations.append(time.monotonic() - started)
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
    assert max(durations) < 1.0, durations
    time.sleep(0.3)
    journal.append("test", n=6)
    ns = [json.loads(f["event"])["n"] for _sid, f in server.client().xrange(STREAM)]
    # at-least-once: a batch whose reply timed out may be there twice, but every event is, in order
    assert sorted(set(ns)) == list(range(7))
    assert [n for i, n in enumerate(ns) if n not in ns[:i]] == list(range(7))


def test_events_tail_follow_reads_new_stream_entries(server, state) -> None:
    from steward.events import bus_from_env
    from steward.events.tail import stream_events

    journal = Journal(state / "journal.jsonl")
    first = journal.append("test", n=0)
    bus = bus_from_env(state)
    assert bus is not None
    seen: list[dict] = []
    events = stream_events(bus, 10, follow=True, block_ms=200, stop=lambda: len(seen) >= 2)
    seen.append(next(events))
    second = journal.append("test", n=1)
    seen.append(next(events))
    assert [e["id"] for e in seen] == [first["id"], second["id"]]
