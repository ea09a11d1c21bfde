"""homelab.steward.redis_events against a real redis-server, and rulebooks/steward.yml under a real
ansible-rulebook: nothing is lost (ack only after the queue took the event), a restart re-delivers
what was not acknowledged, a lost Redis is reconnected to, and a burst of container events for one
host starts a bounded number of playbook runs."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.homelab.steward.extensions.eda.plugins.event_source import redis_events

redis = pytest.importorskip("redis", reason="redis-py is not installed (pip install redis)")
from redis_server import RedisServer, missing  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STREAM = "steward:events"
GROUP = "steward-eda"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if missing():
        pytest.skip(str(missing()))
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """Append-only file with fsync on every write (what operations.md asks for): a killed and
    restarted server keeps its data."""
    if missing():
        pytest.skip(str(missing()))
    server = RedisServer(tmp_path / "redis", persistent=True).start()
    yield server
    server.stop()


def inventory_file(folder: Path, *hosts: str) -> str:
    """An inventory the source checks an event's host against (hosts on ansible_connection=local)."""
    path = folder / "hosts.yml"
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    path.write_text(json.dumps({"all": {"hosts": {h: local for h in hosts}}}))
    return str(path)


def existing_group(client: Any) -> None:
    """The group as a source that ran before left it, at the start of the stream: what is added
    from now on (or was already there) is the group's to read. A brand-new group starts at $."""
    client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)


def ledger_entry(state: Path, action: str, host: str, summary: str = "", key: str = "") -> None:
    """What the engine writes for a pending action: the ledger entry notify reads."""
    from steward.state.ledger import Ledger
    from steward.state.paths import StatePaths

    Ledger(StatePaths(state).ensure()).record(action, b"- hosts: x\n", {"host": host, "key": key, "summary": summary})


def xadd(client: Any, **event: Any) -> str:
    return str(client.xadd(STREAM, {"event": json.dumps(event)}))


def pending(client: Any) -> int:
    return int(client.xpending(STREAM, GROUP)["pending"])


async def _wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def drain(queue: asyncio.Queue[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


def test_ack_only_after_put_and_a_restart_redelivers_the_rest(redis_server: RedisServer, tmp_path: Path) -> None:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    existing_group(client)
    ids = [xadd(client, id=f"e{i}", type="container_die", host="h1") for i in range(10)]
    args = {
        "url": redis_server.url,
        "consumer": "c1",
        "block_ms": 100,
        "state_dir": str(tmp_path),
        "inventory": inventory_file(tmp_path, "h1", "h2"),
    }

    async def first_run() -> list[dict[str, Any]]:
        # a full queue (nobody consumes it) stops the source inside `await queue.put(...)`
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=3)
        task = asyncio.create_task(redis_events.main(queue, args))
        await _wait_for(lambda: queue.full() and pending(client) == 7)
        await asyncio.sleep(0.3)  # still blocked: nothing more was acknowledged
        assert pending(client) == 7
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return drain(queue)

    got = asyncio.run(first_run())
    assert [e["meta"]["redis_id"] for e in got] == ids[:3]
    # the 4th event was read but never handed over: it and the rest of the batch stay pending
    assert pending(client) == 7
    assert client.xpending_range(STREAM, GROUP, "-", "+", 100, consumername="c1")[0]["message_id"] == ids[3]

    async def second_run() -> list[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        task = asyncio.create_task(redis_events.main(queue, args))
        await _wait_for(lambda: queue.qsize() == 7 and pending(client) == 0)
        late = xadd(client, id="late", type="container_oom", host="h2")
        await _wait_for(lambda: queue.qsize() == 8)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        events = drain(queue)
        assert events[-1]["meta"]["redis_id"] == late
        return events

    again = asyncio.run(second_run())
    assert [e["meta"]["redis_id"] for e in again[:7]] == ids[3:]
    all_ids = [e["id"] for e in got + again]
    assert all_ids == [f"e{i}" for i in range(10)] + ["late"]  # none lost, none twice
    assert pending(client) == 0
    assert again[0]["meta"]["hosts"] == "h1" and again[0]["type"] == "container_die"
    assert again[-1]["meta"]["hosts"] == "h2"


def test_malformed_entries_are_acknowledged_and_skipped(redis_server: RedisServer, tmp_path: Path) -> None:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    existing_group(client)
    client.xadd(STREAM, {"event": "{not json"})
    client.xadd(STREAM, {"other": "x"})
    client.xadd(STREAM, {"event": "[1, 2]"})
    good = xadd(client, id="ok", type="action_pending", host="h1", action="a1")
    ledger_entry(tmp_path, "a1", "h1")  # an action the engine wrote: the source checks the ledger

    async def run() -> list[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        args = {
            "url": redis_server.url,
            "block_ms": 50,
            "state_dir": str(tmp_path),
            "inventory": inventory_file(tmp_path, "h1"),
        }
        task = asyncio.create_task(redis_events.main(queue, args))
        await _wait_for(lambda: queue.qsize() == 1 and pending(client) == 0)
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return drain(queue)

    events = asyncio.run(run())
    assert [e["meta"]["redis_id"] for e in events] == [good]


def test_entries_left_by_a_gone_consumer_are_taken_over_only_with_claim_idle_ms(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    ids = [xadd(client, id=f"o{i}", type="container_die", host="h1") for i in range(3)]
    client.xgroup_create(STREAM, GROUP, id="0")
    client.xreadgroup(GROUP, "old-name", {STREAM: ">"}, count=10)  # read, never acknowledged

    async def run(**extra: Any) -> list[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        args = {"url": redis_server.url, "consumer": "new-name", "block_ms": 50, **extra}
        args["inventory"] = inventory_file(tmp_path, "h1")
        args["state_dir"] = str(tmp_path)
        task = asyncio.create_task(redis_events.main(queue, args))
        if extra:
            await _wait_for(lambda: queue.qsize() == 3 and pending(client) == 0)
        else:
            await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return drain(queue)

    assert asyncio.run(run()) == []
    assert pending(client) == 3
    time.sleep(0.05)
    assert [e["meta"]["redis_id"] for e in asyncio.run(run(claim_idle_ms=20))] == ids


def test_reconnects_when_redis_comes_back(redis_server: RedisServer, tmp_path: Path) -> None:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    existing_group(client)
    xadd(client, id="before", type="container_die", host="h1")
    args = {"url": redis_server.url, "block_ms": 100, "retry_delay": 0.05, "retry_max_delay": 0.2}
    args["inventory"] = inventory_file(tmp_path, "h1")
    args["state_dir"] = str(tmp_path)

    async def run() -> list[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        task = asyncio.create_task(redis_events.main(queue, args))
        await _wait_for(lambda: queue.qsize() == 1)
        redis_server.stop()
        await asyncio.sleep(0.5)  # several failed reconnects
        assert not task.done()
        redis_server.start()  # same port, empty: no stream, no group
        fresh = redis.Redis.from_url(redis_server.url, decode_responses=True)
        await asyncio.sleep(0.3)
        xadd(fresh, id="after", type="container_oom", host="h1")
        await _wait_for(lambda: queue.qsize() == 2, timeout=15)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return drain(queue)

    assert [e["id"] for e in asyncio.run(run())] == ["before", "after"]


def test_an_entry_whose_ack_was_cut_off_is_acknowledged_after_the_reconnect_not_handed_over_again(
    durable_redis: RedisServer, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(durable_redis.url, decode_responses=True)
    existing_group(client)
    ids = [xadd(client, id=f"k{i}", type="container_die", host="h1") for i in range(3)]
    args = {"url": durable_redis.url, "consumer": "c1", "block_ms": 100, "retry_delay": 0.05, "retry_max_delay": 0.2}
    args["inventory"] = inventory_file(tmp_path, "h1")
    args["state_dir"] = str(tmp_path)

    class KillsRedisOnFirstPut(asyncio.Queue):  # type: ignore[type-arg]
        """The rulebook took k0; Redis dies before the source can acknowledge it."""

        killed = False

        async def put(self, item: dict[str, Any]) -> None:
            await super().put(item)
            if not self.killed:
                self.killed = True
                durable_redis.stop()  # kill -9: the entry stays pending in the append-only file

    async def run() -> list[dict[str, Any]]:
        queue = KillsRedisOnFirstPut()
        task = asyncio.create_task(redis_events.main(queue, args))
        await _wait_for(lambda: queue.killed)
        await asyncio.sleep(0.3)  # failed XACK, failed reconnects
        durable_redis.start()  # same port and folder: the stream, the group and k0 pending are back
        fresh = redis.Redis.from_url(durable_redis.url, decode_responses=True)
        await _wait_for(lambda: queue.qsize() >= 3 and pending(fresh) == 0, timeout=15)
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return drain(queue)

    got = asyncio.run(run())
    assert [e["meta"]["redis_id"] for e in got] == ids  # k0 once, although it was pending again
    assert pending(durable_redis.client()) == 0


# --- the rulebook, under a real ansible-rulebook -------------------------------------------------

MARKER_PLAYBOOK = """\
- name: Stand-in for observe.yml - record the run
  hosts: all
  gather_facts: false
  tasks:
    - name: Append to the marker file
      ansible.builtin.shell: echo "{{{{ inventory_hostname }}}} {{{{ ansible_eda.event.type }}}}" >> {marker}
      delegate_to: localhost
      changed_when: true
"""


def _rulebook_missing() -> str | None:
    if missing():
        return missing()
    if not (BIN / "ansible-rulebook").exists() and shutil.which("ansible-rulebook") is None:
        return "ansible-rulebook is not installed (pip install ansible-rulebook)"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "ansible-rulebook needs Java 17+ (apt-get install openjdk-17-jre-headless)"
    return None


class Rulebook:
    """ansible-rulebook running rulebooks/steward.yml; on exit SIGINT, then SIGKILL after 15 s."""

    def __init__(self, tmp_path: Path, inventory: Path, env: dict[str, str], *args: str) -> None:
        self.log_path = tmp_path / "rulebook.log"
        self.cmd = [str(BIN / "ansible-rulebook"), "--rulebook", str(ROOT / "rulebooks" / "steward.yml")]
        self.cmd += ["-i", str(inventory), *args, "-E", "STEWARD_REDIS_URL"]
        self.env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"),
            **env,
        }
        self.cwd = tmp_path

    def __enter__(self) -> Rulebook:
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def wait_until(self, predicate: Any, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert self.proc.poll() is None, self.log_path.read_text()[-6000:]
            assert time.monotonic() < deadline, self.log_path.read_text()[-6000:]
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


@pytest.mark.slow
def test_rulebook_burst_is_throttled_per_host_and_pending_actions_notify(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    why = _rulebook_missing()
    if why:
        pytest.skip(why)
    marker = tmp_path / "observed.txt"
    state = tmp_path / "state"
    state.mkdir()
    (tmp_path / "pb").mkdir()
    stand_in = tmp_path / "pb" / "observe_stand_in.yml"
    stand_in.write_text(MARKER_PLAYBOOK.format(marker=marker))
    (tmp_path / "vars.yml").write_text(json.dumps({"steward_observe_playbook": str(stand_in)}))
    inventory = tmp_path / "hosts.yml"
    hosts = {
        h: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        for h in ("host1", "host2", "host3")
    }
    inventory.write_text(json.dumps({"all": {"hosts": hosts}}))

    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    existing_group(client)
    burst = client.pipeline(transaction=False)
    for i in range(1000):  # a crash-looping container: 1 000 events for one host
        event = {"id": f"die{i}", "type": "container_die", "host": "host1", "container": f"web{i % 3}"}
        burst.xadd(STREAM, {"event": json.dumps(event)})
    burst.execute()
    xadd(client, id="oom2", type="container_oom", host="host2", container="db")
    # Steward's own events, also about docker drift: never an observe run (no self-triggering)
    xadd(client, id="s1", type="observe_completed", host="host3", cycle="c1")
    xadd(client, id="s2", type="drift_detected", host="host3", key="host3/docker/db/not_running")
    xadd(client, id="s3", type="action_verified", host="host3", action="a0")
    xadd(client, id="s4", type="playbook_result", host="host3", status="failed")
    xadd(
        client,
        id="p1",
        type="action_pending",
        host="host1",
        action="a1",
        key="host1/docker/web0/state",
        summary="web0 is exited, want running",
    )
    xadd(client, id="p2", type="action_pending", host="host3", action="a2", key="host3/disk/root/usage")

    env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "STEWARD_REDIS_URL": redis_server.url}
    env["STEWARD_STATE_DIR"] = str(state)
    env["STEWARD_INVENTORY"] = str(inventory)
    ledger_entry(state, "a1", "host1", "web0 is exited, want running", "host1/docker/web0/state")
    ledger_entry(state, "a2", "host3", "", "host3/disk/root/usage")
    notify_log = state / "notify.log"
    started = time.monotonic()

    def lines(path: Path) -> int:
        return len(path.read_text().splitlines()) if path.exists() else 0

    with Rulebook(tmp_path, inventory, env, "--vars", str(tmp_path / "vars.yml")) as rulebook:
        rulebook.wait_until(lambda: lines(notify_log) >= 2 and lines(marker) >= 2)
        elapsed = time.monotonic() - started
        time.sleep(3)  # the actions run side by side: give a surplus run time to show up

    # one line per host the stand-in played on: one run per host, each limited to the event's host
    runs = sorted(marker.read_text().splitlines()) if marker.exists() else []
    # throttled per host: 1 000 events about 3 containers of host1 -> 1 run
    assert runs == ["host1 container_die", "host2 container_oom"], runs
    notified = sorted((json.loads(line) for line in notify_log.read_text().splitlines()), key=lambda n: n["action"])
    assert [(n["action"], n["host"]) for n in notified] == [("a1", "host1"), ("a2", "host3")]
    assert notified[0]["summary"] == "web0 is exited, want running"
    assert notified[0]["redis_id"]
    # every entry was handed over and acknowledged
    group = client.xinfo_groups(STREAM)[0]
    assert (group["pending"], group["lag"]) == (0, 0)
    print(f"rulebook: 1 006 events -> 2 observe runs + 2 notify runs in {elapsed:.1f} s")


@pytest.mark.slow
@pytest.mark.parametrize("inventory_env", [True, False], ids=["STEWARD_INVENTORY set", "STEWARD_INVENTORY unset"])
def test_rulebook_defaults_run_the_real_observe_and_plan_for_that_host_only(
    redis_server: RedisServer, tmp_path: Path, inventory_env: bool
) -> None:
    why = _rulebook_missing()
    if why:
        pytest.skip(why)
    state = tmp_path / "state"
    state.mkdir()
    inventory = tmp_path / "hosts.yml"
    hosts = {
        h: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable} for h in ("host1", "host2")
    }
    inventory.write_text(json.dumps({"all": {"hosts": hosts}}))
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    existing_group(client)
    xadd(client, id="x1", type="container_oom", host="host1", container="db")

    env = {
        "ANSIBLE_CALLBACKS_ENABLED": "homelab.steward.events",
        "STEWARD_REDIS_URL": redis_server.url,
        "STEWARD_STATE_DIR": str(state),
        "STEWARD_INVENTORY": str(inventory) if inventory_env else "",
    }

    def finished() -> list[dict[str, Any]]:
        journal = state / "journal.jsonl"
        lines = journal.read_text().splitlines() if journal.exists() else []
        return [e for e in map(json.loads, lines) if e["type"] == "playbook_finished"]

    with Rulebook(tmp_path, inventory, env) as rulebook:
        if not inventory_env:
            # the source checks every event's host against STEWARD_INVENTORY: without it, it refuses
            # to start (and observe.yml would refuse to plan from a temporary inventory copy anyway)
            rulebook.proc.wait(timeout=60)
            log = rulebook.log_path.read_text()
            assert rulebook.proc.returncode != 0 and "STEWARD_INVENTORY" in log, log[-3000:]
            assert not finished() and not (state / "world").exists()
            assert not (state / "engine" / "observations.json").exists()
            return
        rulebook.wait_until(finished)
    (recap,) = finished()
    worlds = sorted(p.name for p in (state / "world").glob("*.json")) if (state / "world").exists() else []
    if inventory_env:
        assert recap["recap"] == {
            "host1": {"ok": recap["recap"]["host1"]["ok"], "changed": 0, "failed": 0, "unreachable": 0}
        }, recap
        assert worlds == ["host1.json"]  # observed that host only, then planned
        assert (state / "engine" / "observations.json").exists()
    else:
        # a temporary copy of the inventory would lose group_vars/: refused before looking at anything
        assert recap["recap"]["host1"]["failed"] == 1, recap
        assert worlds == []
        assert not (state / "engine" / "observations.json").exists()


@pytest.mark.slow
def test_redis_killed_and_restarted_mid_run_loses_no_event_and_the_rulebook_gets_each_once(
    durable_redis: RedisServer, tmp_path: Path
) -> None:
    """Steward publishes through its real bus while the rulebook runs; Redis is killed -9 in the
    middle and restarted. Every event reaches the rulebook's notify rule exactly once, in order."""
    why = _rulebook_missing()
    if why:
        pytest.skip(why)
    from steward.events import EventBus
    from steward.state.journal import Journal

    state = tmp_path / "state"
    (state / "engine").mkdir(parents=True)
    inventory = tmp_path / "hosts.yml"
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory.write_text(json.dumps({"all": {"hosts": {"host1": local}}}))
    env = {"STEWARD_REDIS_URL": durable_redis.url, "STEWARD_STATE_DIR": str(state)}
    env["STEWARD_INVENTORY"] = str(inventory)
    existing_group(durable_redis.client())
    journal = Journal(state / "journal.jsonl", bus=EventBus(durable_redis.url, state / "engine" / "outbox.jsonl"))
    total = 12
    for i in range(total):
        ledger_entry(state, f"a{i}", "host1", key=f"host1/docker/s{i}/not_running")
    notify_log = state / "notify.log"

    def notified() -> list[dict[str, Any]]:
        return [json.loads(x) for x in notify_log.read_text().splitlines()] if notify_log.exists() else []

    with Rulebook(tmp_path, inventory, env) as rulebook:
        for i in range(total):
            if i == 4:
                # the rulebook is busy with the first notifications: kill Redis under it
                rulebook.wait_until(lambda: len(notified()) >= 1)
                durable_redis.stop()
            if i == 8:
                durable_redis.start()  # same port, same append-only file
                time.sleep(1.1)  # the bus retries a lost Redis after 1 s
            journal.append("action_pending", action=f"a{i}", host="host1", key=f"host1/docker/s{i}/not_running")
            time.sleep(0.2)
        rulebook.wait_until(lambda: len(notified()) >= total, 180)
        time.sleep(2)  # anything delivered twice would show up now

    actions = [n["action"] for n in notified()]
    # none lost, none twice (the rule's runs overlap, so notify.log need not be in order; the
    # stream ids show the order in which the source handed the events over)
    assert sorted(actions, key=lambda a: int(a[1:])) == [f"a{i}" for i in range(total)], actions
    by_stream_id = [n["action"] for n in sorted(notified(), key=lambda n: tuple(map(int, n["redis_id"].split("-"))))]
    assert by_stream_id == [f"a{i}" for i in range(total)], by_stream_id
    assert len({n["redis_id"] for n in notified()}) == total
    client = durable_redis.client()
    assert client.xlen(STREAM) == total
    group = client.xinfo_groups(STREAM)[0]
    assert (group["pending"], group["lag"]) == (0, 0)
    assert [e["action"] for e in journal.events()] == by_stream_id  # the journal has them all too
    outbox = state / "engine" / "outbox.jsonl"
    assert not outbox.exists() or not outbox.read_bytes()  # what was spooled while Redis was down: delivered
    print(f"redis killed after 4 events, restarted after 8: {total} notified once each, in order")


def test_heartbeats_are_acknowledged_and_never_reach_the_rules(redis_server: RedisServer, tmp_path: Path) -> None:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    existing_group(client)
    beat = {"type": "agent_heartbeat", "host": "h1", "source": "node_agent", "status": "alive", "queued": 0}
    xadd(client, id="hb1", **beat)
    xadd(client, id="die", type="container_die", host="h1")
    xadd(client, id="hb2", **{**beat, "queued": "many"})  # a wrong type: rejected as any other field
    args = {"url": redis_server.url, "block_ms": 50, "state_dir": str(tmp_path)}
    args["inventory"] = inventory_file(tmp_path, "h1")

    async def run() -> list[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        task = asyncio.create_task(redis_events.main(queue, args))
        await _wait_for(lambda: queue.qsize() == 1 and pending(client) == 0)
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return drain(queue)

    assert [e["id"] for e in asyncio.run(run())] == ["die"]
    rejected = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    assert [(e["type"], "queued" in e["reason"]) for e in rejected] == [("event_rejected", True)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"state_dir": None}, "STEWARD_STATE_DIR (or the source's 'state_dir') must name the state folder"),
        ({"state_dir": "state"}, "must be an absolute path, got 'state'"),
        ({"state_dir": "/nonexistent/steward-state"}, "the state folder /nonexistent/steward-state does not exist"),
        ({"password": "pw-wrong-one"}, "refused the login: invalid username-password pair"),
        ({"port": 1}, "cannot reach Redis at redis://steward:***@127.0.0.1:1/0 at start"),
    ],
)
def test_the_source_refuses_to_start_with_the_reason_and_acknowledges_nothing(
    redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, Any], message: str
) -> None:
    monkeypatch.delenv("STEWARD_STATE_DIR", raising=False)
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    existing_group(client)
    xadd(client, id="waiting", type="container_die", host="h1")
    url = redis_server.url
    if "password" in change:
        url = url.replace(redis_server.password, change["password"])
    if "port" in change:
        url = url.replace(f":{redis_server.port}/", f":{change['port']}/")
    args: dict[str, Any] = {
        "url": url,
        "block_ms": 50,
        "retry_delay": 0.05,
        "inventory": inventory_file(tmp_path, "h1"),
    }
    if change.get("state_dir", str(tmp_path)) is not None:
        args["state_dir"] = change.get("state_dir", str(tmp_path))
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def run() -> None:
        await asyncio.wait_for(redis_events.main(queue, args), 15)

    with pytest.raises((ValueError, redis_events.Refused)) as err:
        asyncio.run(run())
    assert message in str(err.value)
    assert redis_server.password not in str(err.value) and "pw-wrong-one" not in str(err.value)
    assert queue.empty()
    group = client.xinfo_groups(STREAM)[0]
    assert (group["entries-read"], group["pending"]) == (None, 0), "nothing read, nothing acknowledged"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("state_dir", "message"),
    [("state", "must be an absolute path, got 'state'"), (None, "STEWARD_STATE_DIR (or the source's 'state_dir')")],
    ids=["relative", "unset"],
)
def test_a_rulebook_without_an_absolute_state_dir_stops_at_start_and_acknowledges_nothing(
    redis_server: RedisServer, tmp_path: Path, state_dir: str | None, message: str
) -> None:
    """Issue 17, Why 3: it used to start without a word and lose the first event inside the playbook."""
    why = _rulebook_missing()
    if why:
        pytest.skip(why)
    inventory = Path(inventory_file(tmp_path, "h1"))
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    existing_group(client)
    xadd(client, id="waiting", type="container_die", host="h1")
    env = {"STEWARD_REDIS_URL": redis_server.url, "STEWARD_INVENTORY": str(inventory)}
    if state_dir is not None:
        env["STEWARD_STATE_DIR"] = state_dir
    rulebook = Rulebook(tmp_path, inventory, env)
    if state_dir is None:
        rulebook.env.pop("STEWARD_STATE_DIR", None)
    with rulebook:
        try:
            rc = rulebook.proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            rc = None
    log = rulebook.log_path.read_text()
    assert rc not in (None, 0), f"the rulebook kept running or exited 0:\n{log[-3000:]}"
    assert message in log, log[-3000:]
    assert redis_server.password not in log
    group = client.xinfo_groups(STREAM)[0]
    assert (group["entries-read"], group["pending"]) == (None, 0), "nothing read, nothing acknowledged"
