"""Hostile input on the event path: whoever can XADD to the stream (any node credential, a
compromised node) tries to run code on the controller, widen a --limit, beat the throttle, make
the source replay the stream, or make a producer trim what a consumer has not read.

Real parts: redis-server with ACL users, the real homelab.steward.redis_events source, the real
rulebooks/steward.yml under a real ansible-rulebook, the real playbooks/notify.yml (through
ansible-rulebook and through ansible-playbook), Steward's real bus and the real node agent. The
observe run is a stand-in playbook that only records which host it ran on.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from redis_server import RedisServer, free_port, missing  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STREAM = "steward:events"
GROUP = "steward-eda"
JINJA = "{{ lookup('ansible.builtin.pipe', 'touch %s') }}"

STAND_IN = """\
- name: Stand-in for observe.yml - record the host it ran on (nothing of the event)
  hosts: all
  gather_facts: false
  tasks:
    - name: Record the run
      ansible.builtin.shell: echo "{{{{ inventory_hostname }}}}" >> {marker}
      delegate_to: localhost
      changed_when: true
"""


def rulebook_missing() -> str | None:
    if missing():
        return missing()
    if not (BIN / "ansible-rulebook").exists():
        return "ansible-rulebook is not installed (pip install ansible-rulebook)"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "ansible-rulebook needs Java 17+ (apt-get install openjdk-17-jre-headless)"
    return None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    if missing():
        pytest.skip(str(missing()))
    srv = RedisServer(tmp_path / "redis", nodes=("saturn", "piha")).start()
    yield srv
    srv.stop()


class Lab:
    """A state folder, an inventory of two local hosts, a stand-in observe playbook, the rulebook."""

    def __init__(self, tmp_path: Path, server: RedisServer) -> None:
        self.tmp, self.server = tmp_path, server
        self.state = tmp_path / "state"
        (self.state / "engine").mkdir(parents=True)
        self.marker = tmp_path / "PWNED"  # created only if a template from the stream is rendered
        self.runs = tmp_path / "observed.txt"
        self.inventory = tmp_path / "hosts.yml"
        local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        self.inventory.write_text(
            json.dumps({"all": {"children": {"lab": {"hosts": {"saturn": local, "piha": local}}}}})
        )
        (tmp_path / "pb").mkdir()
        stand_in = tmp_path / "pb" / "observe_stand_in.yml"
        stand_in.write_text(STAND_IN.format(marker=self.runs))
        self.vars = tmp_path / "vars.yml"
        self.vars.write_text(json.dumps({"steward_observe_playbook": str(stand_in)}))
        self.client = server.client()
        self.log_path = tmp_path / "rulebook.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"),
            "STEWARD_REDIS_URL": self.server.url,
            "STEWARD_STATE_DIR": str(self.state),
            "STEWARD_INVENTORY": str(self.inventory),
        }

    def ledger(self, action: str, host: str, summary: str) -> None:
        from steward.state.ledger import Ledger
        from steward.state.paths import StatePaths

        paths = StatePaths(self.state).ensure()
        Ledger(paths).record(action, b"- hosts: x\n", {"host": host, "key": f"{host}/docker/web/x", "summary": summary})
        (paths.folder("pending") / f"{action}.yml").write_text("- hosts: x\n")

    def xadd(self, event: Any, raw: str | None = None) -> str:
        return str(self.client.xadd(STREAM, {"event": raw if raw is not None else json.dumps(event)}))

    def start(self) -> None:
        cmd = [str(BIN / "ansible-rulebook"), "--rulebook", str(ROOT / "rulebooks" / "steward.yml")]
        cmd += ["-i", str(self.inventory), "--vars", str(self.vars), "-E", "STEWARD_REDIS_URL"]
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(cmd, cwd=self.tmp, env=self.env(), stdout=self.log, stderr=subprocess.STDOUT)
        self.wait(lambda: self.consumers() > 0, 60, "the source to read the stream")

    def consumers(self) -> int:
        try:
            return len(self.client.xinfo_consumers(STREAM, GROUP))
        except Exception:  # no stream or group yet
            return 0

    def wait(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert self.proc is not None and self.proc.poll() is None, self.tail()
            assert time.monotonic() < deadline, f"timed out waiting for {what}\n{self.tail()}"
            time.sleep(0.1)

    def done(self) -> bool:
        """Every entry handed over and acknowledged."""
        try:
            group = next(g for g in self.client.xinfo_groups(STREAM) if g["name"] == GROUP)
        except (StopIteration, Exception):
            return False
        return group["pending"] == 0 and group["lag"] == 0

    def observed(self) -> list[str]:
        return self.runs.read_text().split() if self.runs.exists() else []

    def notified(self) -> list[dict[str, Any]]:
        path = self.state / "notify.log"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

    def journal(self, type_: str) -> list[dict[str, Any]]:
        path = self.state / "journal.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [e for e in map(json.loads, lines) if e.get("type") == type_]

    def tail(self) -> str:
        return self.log_path.read_text()[-5000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.log.close()


@pytest.fixture
def lab(tmp_path: Path, server: RedisServer) -> Iterator[Lab]:
    why = rulebook_missing()
    if why:
        pytest.skip(why)
    lab = Lab(tmp_path, server)
    yield lab
    lab.stop()


def pending(action_id: str, **over: Any) -> dict[str, Any]:
    host = over.get("host", "saturn")
    event = {"id": f"ev-{action_id}", "type": "action_pending", "at": "2026-12-01T22:00:00Z", "host": "saturn"}
    event.update(action=action_id, key=f"{host}/docker/web/not_running", summary="web is exited, want running")
    event.update(over)
    return event


def die(n: int, **over: Any) -> dict[str, Any]:
    host, container = over.get("host", "saturn"), over.get("container", "web")
    event = {"id": f"die-{n}", "type": "container_die", "at": "2026-12-01T22:00:00Z", "host": "saturn"}
    event.update(container="web", key=f"{host}/docker/{container}", source="node_agent", action="die")
    event.update(over)
    return event


def test_hostile_events_through_the_real_rulebook_run_no_template_no_second_host_and_the_throttle_holds(
    lab: Lab, fault: Any
) -> None:
    marker = str(lab.marker)
    secret = lab.tmp / "secret-hosts"
    secret.write_text("piha\n")  # `--limit @file` reads host names from a file: piha would be observed
    lab.ledger("a-good", "saturn", "web is exited {{ not a template }} \x1b[2J\nsecond line")
    lab.start()
    # 1. Jinja in every field of an action_pending event, and of a container event (the Why 1)
    for field in ("id", "type", "at", "host", "key", "action", "cycle", "summary", "container", "image", "reason"):
        lab.xadd(pending("a-good", **{field: JINJA % marker}))
        lab.xadd(die(100, **{field: JINJA % marker}))
    lab.xadd(pending("a-good", meta={"hosts": JINJA % marker}, extra={"x": JINJA % marker}))
    fault.inject("Jinja (pipe lookup) in each of 11 fields of action_pending and container_die, in meta, in extra")
    # 2. newlines, control characters, oversized fields, wrong types
    lab.xadd(die(101, container="web\n---\n- hosts: localhost"))
    lab.xadd(die(102, image="x" * 600))
    lab.xadd(pending("a-good", summary="s" * 100_000))
    lab.xadd(None, raw=json.dumps(die(103)) + " " * 20_000)
    lab.xadd(die(104, host=["saturn", "piha"]))
    fault.inject("newline play in a container name, 600-char image, 100 kB summary, 20 kB entry, host as a list")
    # 3. host patterns (the Why 3): each would widen --limit or read a file
    for host in ("saturn,piha", f"@{secret}", "piha:&saturn", "all", "lab", "sat*", "!saturn", "~.*", "pi[h-i]a"):
        lab.xadd(die(200, host=host))
    lab.xadd(die(201, meta={"hosts": "piha"}))  # forged meta on a saturn event
    lab.xadd(die(202, host=None, meta={"hosts": "piha"}))  # no host, forged meta
    fault.inject("hosts saturn,piha / @file / piha:&saturn / all / group / sat* / !saturn / ~.* / range; forged meta")
    # 4. the throttle (Why 3): saturn, saturn, and ,saturn and ten invented container names in one second
    for n, host in enumerate(("saturn", "saturn,", ",saturn")):
        lab.xadd(die(300 + n, host=host))
    for n in range(10):
        lab.xadd(die(310 + n, container=f"invented{n}"))
    fault.inject("saturn, 'saturn,', ',saturn' and 10 invented container names within a second")
    # 5. one valid pending action: announced from the ledger, inert
    lab.xadd(pending("a-good"))
    lab.wait(lab.done, 120, "every entry acknowledged")
    lab.wait(lambda: len(lab.notified()) >= 1 and len(lab.observed()) >= 1, 60, "the valid reactions")
    time.sleep(3)  # runs go side by side: a surplus run gets time to show up

    fault.check(not lab.marker.exists(), "no template from the stream was rendered (marker file absent)")
    fault.check(set(lab.observed()) == {"saturn"}, f"only saturn observed, never piha: {lab.observed()}")
    fault.check(len(lab.observed()) == 1, f"one observe run for saturn within the throttle: {lab.observed()}")
    notes = lab.notified()
    # the valid event; the one whose forged meta and undocumented field were dropped is folded by the
    # per-action notify throttle (one announcement per action a minute)
    fault.check([n["action"] for n in notes] == ["a-good"], f"only the valid pending action announced, once: {notes}")
    fault.check(notes[0]["summary"].startswith("web is exited {{ not a template }}"), "summary from the ledger")
    rejected = lab.journal("event_rejected")
    fault.check(len(rejected) >= 10, f"rejections journaled ({len(rejected)}, at most 10 a minute)")
    log = lab.log_path.read_text()
    fault.check("\x1b[2J" not in log, "no terminal escape from a node reached the rulebook's output")
    fault.check(all(s not in log for s in lab.server.secrets), "no Redis password in the rulebook's output")


def test_notify_run_by_hand_with_jinja_in_every_event_field_templates_nothing(tmp_path: Path, fault: Any) -> None:
    """The issue's reproduction: `ansible-playbook playbooks/notify.yml -e @ev.json` as root."""
    marker = tmp_path / "PWNED"
    state = tmp_path / "state"
    from steward.state.ledger import Ledger
    from steward.state.paths import StatePaths

    Ledger(StatePaths(state).ensure()).record(
        "a1", b"x", {"host": "localhost", "key": "localhost/docker/web/not_running", "summary": "web is exited"}
    )
    jinja = JINJA % marker
    event = {"type": "action_pending", "action": "a1", "host": jinja, "key": jinja, "summary": jinja}
    event["meta"] = {"redis_id": jinja, "hosts": jinja}
    ev = tmp_path / "ev.json"
    ev.write_text(json.dumps({"ansible_eda": {"event": event}}))
    fault.inject("Jinja pipe lookup in host, key, summary, meta of the event given to notify.yml as extra vars")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "STEWARD_STATE_DIR": str(state)}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"))
    cmd = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(ROOT / "playbooks" / "notify.yml")]
    proc = subprocess.run([*cmd, "-e", f"@{ev}"], env=env, capture_output=True, text=True, timeout=120)
    fault.check(not marker.exists(), "no template of the event rendered (marker absent)")
    fault.check(proc.returncode == 0, f"notify ran: {proc.stdout[-1500:]}{proc.stderr[-500:]}")
    (line,) = [json.loads(x) for x in (state / "notify.log").read_text().splitlines()]
    fault.check((line["host"], line["summary"]) == ("localhost", "web is exited"), "shown from the ledger")
    # a forged id (a path, a template) never reaches a file name or a template
    for action in ("../../engine/hmac", jinja, "a1\n"):
        ev.write_text(json.dumps({"ansible_eda": {"event": {"type": "action_pending", "action": action}}}))
        bad = subprocess.run([*cmd, "-e", f"@{ev}"], env=env, capture_output=True, text=True, timeout=120)
        fault.check(bad.returncode != 0 and "is not an action id" in bad.stdout, f"id {action!r} refused")
    fault.check(not marker.exists(), "still no marker")


def _source(queue: Any, url: str, inventory: Path, journal: Path, **extra: Any) -> asyncio.Task[None]:
    args = {"url": url, "consumer": "c1", "block_ms": 50, "retry_delay": 0.05, "retry_max_delay": 0.2}
    args.update(inventory=str(inventory), journal=str(journal), state_dir=str(journal.parent), **extra)
    args = {k: v for k, v in args.items() if k in redis_events._KNOWN}  # (also runs against an older source)
    return asyncio.create_task(redis_events.main(queue, args))


async def _until(predicate: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def _inventory(tmp_path: Path) -> Path:
    path = tmp_path / "hosts.yml"
    path.write_text(json.dumps({"all": {"hosts": {"saturn": {}, "piha": {}}}}))
    return path


def _journal(path: Path, type_: str) -> list[dict[str, Any]]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [e for e in map(json.loads, lines) if e["type"] == type_]


def test_a_destroyed_group_is_recreated_where_the_source_was_never_at_0(
    server: RedisServer, tmp_path: Path, fault: Any
) -> None:
    client = server.client()
    old = [client.xadd(STREAM, {"event": json.dumps(die(n, host="piha"))}) for n in range(30)]
    journal = tmp_path / "journal.jsonl"

    async def run() -> list[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        task = _source(queue, server.url, _inventory(tmp_path), journal)
        await _until(lambda: bool(client.xinfo_groups(STREAM)))
        # a brand-new group starts at $: the 30 old entries are not replayed
        first = client.xadd(STREAM, {"event": json.dumps(die(100))})
        await _until(lambda: queue.qsize() == 1)
        client.xgroup_destroy(STREAM, GROUP)
        fault.inject("XGROUP DESTROY of the source's group (30 old entries in the stream)")
        after = client.xadd(STREAM, {"event": json.dumps(die(101))})  # before the source notices
        await _until(lambda: queue.qsize() >= 2)
        await asyncio.sleep(0.5)  # a replay from 0 would put 30 more on the queue now
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        got = []
        while not queue.empty():
            got.append(queue.get_nowait())
        assert [e["meta"]["redis_id"] for e in got] == [first, after]
        return got

    got = asyncio.run(run())
    fault.check(len(got) == 2, "no replay from 0: only the two new entries, once each")
    fault.check(all(e["meta"]["redis_id"] not in old for e in got), "none of the 30 old entries")
    gaps = _journal(journal, "stream_gap")
    causes = [(g["cause"], g["skipped"]) for g in gaps]
    fault.check(causes == [("created", 30), ("recreated", 0)], f"creation at $ and the recreation journaled: {gaps}")


def test_12000_agent_events_never_trim_the_unread_action_pending_and_a_shorter_maxlen_is_reported(
    server: RedisServer, tmp_path: Path, fault: Any
) -> None:
    """Issue 10's Why 4: one MAXLEN for every producer; a consumer told when it lost entries."""
    spec = importlib.util.spec_from_file_location(
        "steward_node_agent", ROOT / "roles" / "node_agent" / "files" / "steward_node_agent.py"
    )
    assert spec is not None and spec.loader is not None
    agent = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(agent)
    from steward.events import EventBus

    client = server.client()
    journal = tmp_path / "journal.jsonl"

    def caught_up(consumer: str) -> bool:
        """This consumer read everything (lag 0) and holds nothing pending (c1's batch stays pending: c1 is gone)."""
        groups = client.xinfo_groups(STREAM)
        mine = [c for g in groups for c in client.xinfo_consumers(STREAM, g["name"]) if c["name"] == consumer]
        return bool(mine) and mine[0]["pending"] == 0 and all(g["lag"] == 0 for g in groups)

    async def first_unread(consumer: str = "c1", count: int = 1) -> list[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=count)
        task = _source(queue, server.url, _inventory(tmp_path), journal, consumer=consumer)
        if not count:  # only create the group and catch up (nothing pending, no lag), then go down
            await _until(lambda: caught_up(consumer), timeout=60)
        else:
            await _until(queue.full)
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return [queue.get_nowait() for _ in range(queue.qsize())]

    ledger = tmp_path / "engine" / "ledger"  # the source forwards action_pending only for actions the engine wrote
    ledger.mkdir(parents=True)
    for action in ("a-lagging", "a-trimmed"):
        (ledger / f"{action}.json").write_text("{}")
    client.xadd(STREAM, {"event": json.dumps(die(0))})
    asyncio.run(first_unread(count=0))  # the rulebook ran, caught up, then went down
    bus = EventBus(server.url, tmp_path / "engine" / "outbox.jsonl")
    bus.publish([pending("a-lagging")])
    password = server.node_passwords["saturn"]
    import yaml

    # what the role deploys on every node
    maxlen = int(
        yaml.safe_load((ROOT / "roles" / "node_agent" / "defaults" / "main.yml").read_text())["node_agent_maxlen"]
    )
    node = agent.RedisPublisher("127.0.0.1", server.port, maxlen, 10, password=password, username="node-saturn")
    raw = {"Type": "container", "Action": "die", "Actor": {"ID": "ab12", "Attributes": {"name": "web"}}}
    for n in range(12_000):
        node.xadd(agent.map_event({**raw, "timeNano": 1_796_000_000_000_000_000 + n}, "saturn"))
    fault.inject("12 000 node-agent events (the agent's own MAXLEN) after an action_pending nobody read")
    (event,) = asyncio.run(first_unread())
    fault.check(event["type"] == "action_pending" and event["action"] == "a-lagging", "the action_pending delivered")
    trimmed = [e for e in _journal(journal, "stream_gap") if e["cause"] == "trimmed"]
    fault.check(trimmed == [], "nothing reported lost")

    # a producer that trims shorter than the policy: the loss is reported, never silent
    asyncio.run(first_unread(consumer="c2", count=0))  # caught up again (reads the 12 000), then down
    bus.publish([pending("a-trimmed")])
    short = agent.RedisPublisher("127.0.0.1", server.port, 1000, 10, password=password, username="node-saturn")
    for n in range(3000):
        short.xadd(agent.map_event({**raw, "timeNano": 1_797_000_000_000_000_000 + n}, "saturn"))
    fault.inject("a producer with MAXLEN ~ 1000 adds 3 000 events after another unread action_pending")
    (event,) = asyncio.run(first_unread(consumer="c3"))
    gaps = [e for e in _journal(journal, "stream_gap") if e["cause"] == "trimmed"]
    fault.check(event.get("action") != "a-trimmed", "(the trimmed action_pending is gone from the stream)")
    fault.check(len(gaps) == 1 and (gaps[0]["skipped"] or 0) >= 1000, f"the loss journaled as stream_gap: {gaps}")
    node.close()
    short.close()


def test_no_password_in_any_log_line_or_message(
    server: RedisServer, tmp_path: Path, fault: Any, caplog: Any, capsys: Any
) -> None:
    """Issue 10's Why 5: the source (every retry), the bus, `steward events tail`."""
    from steward.events import EventBus
    from steward.interfaces.cli.main import main

    secret = "pw-must-not-show-7f3a"
    dead = f"redis://steward:{secret}@127.0.0.1:{free_port()}/0"
    fault.inject(f"Redis URLs holding the password {secret!r}, Redis unreachable")
    caplog.set_level(logging.DEBUG)

    async def refused_at_start() -> str:
        task = _source(asyncio.Queue(), dead, _inventory(tmp_path), tmp_path / "journal.jsonl")
        with pytest.raises(redis_events.Refused) as err:
            await task
        return str(err.value)

    refusal = asyncio.run(refused_at_start())  # Redis unreachable at start: the source stops, saying why
    fault.check("steward:***@" in refusal and secret not in refusal, "the start-up refusal shows ***")
    # Redis lost while the source runs: it retries, and no retry line shows the password
    lost = RedisServer(tmp_path / "lost").start()

    async def retry_a_while() -> None:
        task = _source(asyncio.Queue(), lost.url, _inventory(tmp_path), tmp_path / "journal.jsonl")
        await asyncio.sleep(0.5)
        lost.stop()
        await asyncio.sleep(0.8)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(retry_a_while())
    finally:
        lost.stop()
    retries = [r for r in caplog.records if "unavailable" in r.getMessage()]
    fault.check(len(retries) >= 2 and "steward:***@" in retries[0].getMessage(), "the source's retries logged")
    EventBus(dead, tmp_path / "outbox.jsonl").publish([pending("a1")])
    wrong = f"redis://steward:{secret}@127.0.0.1:{server.port}/0"  # a wrong password for a live Redis
    EventBus(wrong, tmp_path / "outbox2.jsonl").publish([pending("a1")])
    os.environ["STEWARD_REDIS_URL"] = dead
    try:
        rc = main(["--state-dir", str(tmp_path / "state"), "events", "tail"])
    finally:
        del os.environ["STEWARD_REDIS_URL"]
    out, err = capsys.readouterr()
    lines = [r.getMessage() for r in caplog.records] + [str(r.exc_info) for r in caplog.records if r.exc_info]
    lines += [out, err]
    fault.check(rc == 0 and "notice: event stream" in err, "events tail says so and falls back to the journal")
    lines.append(refusal)
    fault.check(not any(secret in line or lost.password in line for line in lines), "the password in no log line")
    fault.check(sum("***" in line for line in lines) >= 3, "the URLs shown with ***")


def test_a_non_utf8_entry_and_a_forged_action_pending_are_dropped_and_the_source_lives_on(
    server: RedisServer, tmp_path: Path, fault: Any
) -> None:
    """Review: bytes that are not UTF-8 (any node credential can XADD them) killed the source, again on
    every restart; an action_pending for an id the engine never wrote was announced."""
    client = server.client()
    state = tmp_path / "state"
    (state / "engine" / "ledger").mkdir(parents=True)
    (state / "engine" / "ledger" / "real-1.json").write_text("{}")
    journal = state / "journal.jsonl"
    client.xadd(STREAM, {"event": json.dumps(die(0))})  # the stream exists (a new group starts after it)

    async def run() -> list[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        task = _source(queue, server.url, _inventory(tmp_path), journal)
        await _until(lambda: bool(client.xinfo_groups(STREAM)))
        client.xadd(STREAM, {b"event": b"\xff\xfe{not utf-8", b"\xff": b"\xfe"})
        fault.inject("an entry of bytes that are not UTF-8, in a field name and a value")
        client.xadd(STREAM, {"event": json.dumps(pending("forged-1"))})
        fault.inject("action_pending for an id with no ledger entry")
        real = client.xadd(STREAM, {"event": json.dumps(pending("real-1"))})
        after = client.xadd(STREAM, {"event": json.dumps(die(7))})
        await _until(lambda: queue.qsize() >= 2)
        await asyncio.sleep(0.3)
        fault.check(not task.done(), "the source is still running")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        got = [queue.get_nowait() for _ in range(queue.qsize())]
        fault.check([e["meta"]["redis_id"] for e in got] == [real, after], f"only the real ones: {got}")
        return got

    asyncio.run(run())
    info = client.xinfo_groups(STREAM)[0]
    fault.check(info["pending"] == 0, "every entry acknowledged: nothing comes back on a restart")
    reasons = [e.get("reason", "") for e in _journal(journal, "event_rejected")]
    fault.check(any("ledger" in r for r in reasons), f"the forged one is journaled: {reasons}")
