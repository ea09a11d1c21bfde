"""The event bus without a Redis server: outbox spool, ordering, the journal hook, `events tail`."""

from __future__ import annotations

import json
import time

import pytest

from steward.bus import EventBus, Outbox, bus_from_env, new_event_id, stream_fields
from steward.cli import main
from steward.journal import Journal


class FakeRedis:
    """Records XADDs; `down` makes every pipeline fail like a refused connection."""

    def __init__(self) -> None:
        self.entries: list[dict[str, str]] = []
        self.down = False
        self.calls: list[tuple[str, int, bool]] = []

    def pipeline(self, transaction: bool = True) -> FakeRedis._Pipe:
        return FakeRedis._Pipe(self)

    class _Pipe:
        def __init__(self, owner: FakeRedis) -> None:
            self.owner = owner
            self.queued: list[dict[str, str]] = []

        def xadd(self, stream: str, fields: dict[str, str], maxlen: int, approximate: bool) -> None:
            self.owner.calls.append((stream, maxlen, approximate))
            self.queued.append(fields)

        def execute(self) -> None:
            if self.owner.down:
                raise ConnectionError("Connection refused")
            self.owner.entries.extend(self.queued)

    class _Pool:
        def disconnect(self) -> None:
            pass

    connection_pool = _Pool()

    def ids(self) -> list[str]:
        return [e["id"] for e in self.entries]


@pytest.fixture(autouse=True)
def no_redis_env(monkeypatch):
    for name in ("STEWARD_REDIS_URL", "STEWARD_REDIS_MAXLEN", "STEWARD_REDIS_STREAM"):
        monkeypatch.delenv(name, raising=False)


def make_bus(tmp_path, fake: FakeRedis, retry_after: float = 0.0) -> EventBus:
    bus = EventBus("redis://127.0.0.1:1/0", tmp_path / "engine" / "outbox.jsonl", retry_after=retry_after)
    bus._client = fake
    return bus


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


def test_events_go_straight_to_redis_with_approximate_maxlen(tmp_path) -> None:
    fake = FakeRedis()
    bus = make_bus(tmp_path, fake)
    events = [ev(i) for i in range(3)]
    bus.publish(events)
    assert fake.ids() == [e["id"] for e in events]
    assert fake.calls[0] == ("steward:events", 100_000, True)
    assert not bus.outbox.path.exists()


def test_redis_down_spools_then_delivers_the_outbox_first_in_order(tmp_path) -> None:
    fake = FakeRedis()
    bus = make_bus(tmp_path, fake)
    fake.down = True
    spooled = [ev(i) for i in range(5)]
    for e in spooled:
        bus.publish([e])  # never raises
    assert fake.entries == []
    assert [json.loads(x)["id"] for x in bus.outbox.path.read_text().splitlines()] == [e["id"] for e in spooled]
    fake.down = False
    later = ev(99)
    bus.publish([later])
    assert fake.ids() == [e["id"] for e in spooled] + [later["id"]]
    assert not bus.outbox.path.exists() and not bus.outbox.pos_path.exists()


def test_a_second_process_sees_the_outbox_and_keeps_order(tmp_path) -> None:
    fake = FakeRedis()
    fake.down = True
    first = make_bus(tmp_path, fake)
    old = [ev(i) for i in range(3)]
    first.publish(old)
    fake.down = False
    second = make_bus(tmp_path, fake)  # a fresh process: knows nothing but the files
    new = ev(3)
    second.publish([new])
    assert fake.ids() == [e["id"] for e in old] + [new["id"]]


def test_retry_after_skips_connection_attempts_but_keeps_events(tmp_path) -> None:
    fake = FakeRedis()
    bus = make_bus(tmp_path, fake, retry_after=60)
    fake.down = True
    bus.publish([ev(0)])
    fake.down = False
    bus.publish([ev(1)])  # still within retry_after: spooled, not sent
    assert fake.entries == []
    assert bus.drain() is False  # drain respects the back-off as well
    bus._down_until = 0.0
    assert bus.drain() is True
    assert [json.loads(e["event"])["n"] for e in fake.entries] == [0, 1]


def test_delivered_position_is_recorded_per_batch(tmp_path, monkeypatch) -> None:
    import steward.bus.bus as busmod

    monkeypatch.setattr(busmod, "BATCH", 2)
    fake = FakeRedis()
    bus = make_bus(tmp_path, fake)
    fake.down = True
    events = [ev(i) for i in range(5)]
    bus.publish(events)

    sent = 0
    real_execute = FakeRedis._Pipe.execute

    def flaky(pipe: FakeRedis._Pipe) -> None:  # the second batch fails: the first stays delivered
        nonlocal sent
        sent += 1
        if sent == 2:
            raise ConnectionError("gone")
        real_execute(pipe)

    monkeypatch.setattr(FakeRedis._Pipe, "execute", flaky)
    fake.down = False
    bus.drain()
    assert fake.ids() == [e["id"] for e in events[:2]]
    remaining, _ = bus.outbox.read(100)
    assert [e["id"] for e in remaining] == [e["id"] for e in events[2:]]
    bus.drain()
    assert fake.ids() == [e["id"] for e in events]


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


def test_journal_hook_publishes_each_event_and_a_batch_once_per_cycle(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STEWARD_REDIS_URL", "redis://127.0.0.1:1/0")
    fake = FakeRedis()
    journal = Journal(tmp_path / "journal.jsonl")
    assert journal._bus is not None
    journal._bus._client = fake
    single = journal.append("escalation_cleared", key="piha/docker/mqtt/missing", via="cli")
    assert fake.ids() == [single["id"]]
    with journal.batched():
        a = journal.append("cycle_started", cycle="c1")
        b = journal.append("drift_seen", cycle="c1", host="piha")
        assert fake.ids() == [single["id"]]  # nothing published before the cycle's write
    assert fake.ids() == [single["id"], a["id"], b["id"]]
    assert [e["id"] for e in journal.events()] == fake.ids()


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


def test_a_large_cycle_is_sent_in_batches_and_only_the_failed_rest_is_spooled(tmp_path, monkeypatch) -> None:
    import steward.bus.bus as busmod

    monkeypatch.setattr(busmod, "BATCH", 3)
    fake = FakeRedis()
    bus = make_bus(tmp_path, fake)
    calls = 0
    real_execute = FakeRedis._Pipe.execute

    def second_fails(pipe: FakeRedis._Pipe) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("gone")
        real_execute(pipe)

    monkeypatch.setattr(FakeRedis._Pipe, "execute", second_fails)
    events = [ev(i) for i in range(8)]
    bus.publish(events)
    assert fake.ids() == [e["id"] for e in events[:3]]
    assert [e["id"] for e in bus.outbox.read(100)[0]] == [e["id"] for e in events[3:]]
    assert bus.drain() is True
    assert fake.ids() == [e["id"] for e in events]


def test_events_tail_says_so_when_redis_is_unreachable(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("STEWARD_REDIS_URL", "redis://127.0.0.1:1/0")
    assert main(["--state-dir", str(tmp_path), "events", "tail"]) == 1
    assert "error:" in capsys.readouterr().err
