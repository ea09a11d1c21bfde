"""Reuse never changes a decision: a long-running engine (looks and comparisons kept in memory), a new
engine per cycle (taken from the state folder's copy) and a new engine per cycle with nothing reused,
over the same sequence of world files and inventory edits, cycle for cycle."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from helpers import container, make_settings, service, world_doc, write_inventory
from steward.core.atomic import atomic_write_json
from steward.desired import cached
from steward.plan import propose
from steward.plan.engine import Engine

HOSTS = {f"h{i}": [service(f"s{j}") for j in range(3)] for i in range(6)}
BASE = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _journal(settings) -> list[tuple]:
    if not settings.paths.journal.exists():
        return []
    lines = [json.loads(line) for line in settings.paths.journal.read_text().splitlines()]
    return [(e["type"], e.get("key"), e.get("host"), e.get("percent")) for e in lines]


def _decisions(settings, report) -> dict:
    return {
        "skipped": report.skipped,
        "reason": report.reason,
        "cycle": report.cycle,
        "drifts": report.drifts,
        "confirming": report.confirming,
        "held": report.held,
        "new": report.new_actions,
        "expired": report.expired,
        "storm": report.storm,
        "memory": settings.paths.memory.read_text() if settings.paths.memory.exists() else None,
        "pending": sorted(p.name for p in (settings.paths.actions / "pending").iterdir()),
        "expired_files": sorted(p.name for p in (settings.paths.actions / "expired").glob("*.yml")),
        "journal": _journal(settings),
    }


def _script(seed: int, cycles: int) -> list[dict]:
    """Per cycle, per host: what the observer does. 'keep' leaves the file's bytes as they are."""
    rng = random.Random(seed)
    steps = []
    for c in range(cycles):
        step: dict = {}
        for host in HOSTS:
            if host == "h0":  # a flapping container: a new look every cycle, s0 up and down
                step[host] = ("look", ("exited" if c % 2 else "running", "running", "running"))
            elif host == "h1":  # a steady drift: confirmed, an action, then the same evidence again and again
                step[host] = ("look", ("exited", "running", "running")) if c % 3 == 0 else ("keep", None)
            elif host == "h5" and c > 4:  # never looked at again: goes stale while its bytes stay the same
                step[host] = ("keep", None)
            else:
                roll = rng.random()
                states = tuple(rng.choice(("running", "running", "exited")) for _ in range(3))
                if roll < 0.45:
                    step[host] = ("keep", None)
                elif roll < 0.55:
                    step[host] = ("unreachable", None)
                elif roll < 0.6:
                    step[host] = ("blind", None)
                else:
                    step[host] = ("look", states)
        if c == 8:
            step["h9"] = ("look", ("running", "running", "running"))  # a world file the inventory has no host for
        if c == 12:
            step["h4"] = ("delete", None)  # its world file gone (no opinion) ... and back at its next look
        if c == 17:
            step["h2"] = ("torn", None)  # a half-written file mid-sequence: the cycle is skipped
        if c == 18:
            step["h2"] = ("keep", None)  # ... and stays torn one more cycle
        steps.append(step)
    return steps


def _new_process(settings) -> None:
    """Forget this state folder's desired state in memory: the next engine takes it from the state folder."""
    cached._cache.pop(settings.inventory, None)
    cached._current.difference_update({c for c in cached._current if c[0] == settings.inventory})


def _apply(settings, step: dict, at: datetime) -> None:
    for host, (what, states) in step.items():
        path = settings.paths.world / f"{host}.json"
        if what == "keep":
            continue
        if what == "delete":
            path.unlink(missing_ok=True)
            continue
        if what == "torn":
            path.write_bytes(path.read_bytes()[:40])
            continue
        if what == "look":
            containers = [container(f"s{j}", state=s) for j, s in enumerate(states)]
            doc = world_doc(host, containers, observed_at=at)
        elif what == "unreachable":
            doc = world_doc(host, None, observed_at=at, reachable=False)
        else:
            doc = world_doc(host, [], observed_at=at, docker_status="engine_unreachable")
        atomic_write_json(path, doc)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_cycle_with_reuse_decides_exactly_what_a_cycle_without_it_decides(tmp_path, monkeypatch, seed) -> None:
    """Three state folders, the same files: one long-running engine (reuse in memory), a new engine per
    cycle (a new process: reuse from the state folder's copy), a new engine per cycle without the copy."""
    monkeypatch.setattr(propose.secrets, "token_hex", lambda n: "ab" * n)  # action ids comparable across runs
    for kind in ("reused", "restored", "fresh"):
        (tmp_path / kind).mkdir()
    folders = {kind: make_settings(tmp_path / kind, HOSTS) for kind in ("reused", "restored", "fresh")}
    reused, restored, fresh = folders.values()
    engine = Engine(reused)
    first = {h: [container(f"s{j}") for j in range(3)] for h in HOSTS}
    for settings in folders.values():
        for host, containers in first.items():
            atomic_write_json(settings.paths.world / f"{host}.json", world_doc(host, containers, observed_at=BASE))
    seen_reuse = seen_restored = seen_skip = 0
    for c, step in enumerate(_script(seed, 40)):
        at = BASE + timedelta(minutes=c + 1)
        now = at + timedelta(seconds=5)
        for settings in folders.values():
            _apply(settings, step, at)
            if c in (22, 30):  # the inventory edited: h3 wants one more service, then no longer
                extra = [service("s9")] if c == 22 else []
                write_inventory(settings.inventory, {**HOSTS, "h3": [*HOSTS["h3"], *extra]})
        a = engine.plan(now)
        _new_process(restored)
        again = Engine(restored)
        b = again.plan(now)
        fresh.paths.world_looks.unlink(missing_ok=True)  # nothing reused: every file parsed, every host compared
        f = Engine(fresh).plan(now)
        assert _decisions(reused, a) == _decisions(restored, b) == _decisions(fresh, f), f"cycle {c}"
        seen_reuse += engine.looks.reused
        seen_restored += again.looks.reused
        seen_skip += a.skipped
        if c == 2:  # a second plan of the same files: nothing new is counted, by any engine
            fresh.paths.world_looks.unlink(missing_ok=True)
            twice = _decisions(reused, engine.plan(now))
            assert (
                twice == _decisions(restored, Engine(restored).plan(now)) == _decisions(fresh, Engine(fresh).plan(now))
            )
    journal = [e[0] for e in _journal(reused)]
    # the sequence exercised what it claims to: reuse (both kinds), a skipped cycle, flapping, confirmed actions
    assert seen_reuse > 40 and seen_restored > 40 and seen_skip >= 2
    assert "flapping" in journal and "action_pending" in journal and "drift_resolved" in journal


def test_unchanged_world_files_are_not_parsed_again_and_a_changed_one_is(tmp_path) -> None:
    settings = make_settings(tmp_path, HOSTS)
    for host in HOSTS:
        atomic_write_json(settings.paths.world / f"{host}.json", world_doc(host, [container("s0")], observed_at=BASE))
    engine = Engine(settings)
    now = BASE + timedelta(seconds=30)
    engine.plan(now)
    assert engine.looks.parsed == len(HOSTS) and engine.looks.reused == 0
    engine.plan(now)
    assert engine.looks.parsed == 0 and engine.looks.reused == len(HOSTS)
    atomic_write_json(settings.paths.world / "h3.json", world_doc("h3", [], observed_at=BASE + timedelta(seconds=9)))
    report = engine.plan(now)
    assert engine.looks.parsed == 1 and engine.looks.reused == len(HOSTS) - 1
    assert "h3/docker/s0/missing" in {d["key"] for d in report.drifts}
    # a torn file: the cycle is skipped as without the cache, and the next good bytes are parsed afresh
    path = settings.paths.world / "h3.json"
    good = path.read_bytes()
    path.write_bytes(good[:30])
    assert engine.plan(now).skipped
    path.write_bytes(good)
    assert not engine.plan(now).skipped and engine.looks.parsed == 1
    # the inventory changes, no world file does: every host is compared again (its document read again:
    # only its look and comparison were kept), and the new want is seen
    write_inventory(settings.inventory, {h: [*services, service("s9")] for h, services in HOSTS.items()})
    report = engine.plan(now)
    assert engine.looks.parsed == len(HOSTS) and engine.looks.reused == 0
    assert {f"{h}/docker/s9/missing" for h in HOSTS} <= {d["key"] for d in report.drifts}


def test_the_engine_keeps_each_hosts_look_and_comparison_not_its_document(tmp_path) -> None:
    settings = make_settings(tmp_path, HOSTS)
    for host in HOSTS:
        containers = [container("s0", state="exited"), container("s1"), container("s2")]
        atomic_write_json(settings.paths.world / f"{host}.json", world_doc(host, containers, observed_at=BASE))
    engine = Engine(settings)
    report = engine.plan(BASE + timedelta(seconds=30))
    assert {d["key"] for d in report.drifts} == {f"{h}/docker/s0/not_running" for h in HOSTS}
    kept = engine.looks._seen["h1.json"]
    # the envelope and each check's status: no container list (10 000 of those are what filled the memory)
    assert kept.look == {
        "host": "h1",
        "observed_at": BASE.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cycle": kept.look["cycle"],
        "reachable": True,
        "error": None,
        "checks": {"docker": {"status": "ok", "error": None}},
    }
    assert [d.key for d in kept.areas] == ["h1/docker/s0/not_running"]
    assert "containers" not in json.dumps(kept.look)


def test_a_new_process_takes_the_copy_only_for_the_same_read_of_the_inventory(tmp_path, monkeypatch) -> None:
    settings = make_settings(tmp_path, HOSTS)
    for host in HOSTS:
        atomic_write_json(settings.paths.world / f"{host}.json", world_doc(host, [container("s0")], observed_at=BASE))
    now = BASE + timedelta(seconds=30)
    first = Engine(settings).plan(now)

    def new_process() -> Engine:  # nothing in memory: the desired state, too, comes from the state folder
        monkeypatch.setattr(cached, "_cache", {})
        monkeypatch.setattr(cached, "_current", set())
        engine = Engine(settings)
        engine.plan(now)
        return engine

    engine = new_process()
    assert engine.looks.parsed == 0 and engine.looks.reused == len(HOSTS)
    # one flipped byte in the copy: not this key's MAC, every file parsed (and the copy written anew)
    data = settings.paths.world_looks.read_bytes()
    settings.paths.world_looks.write_bytes(data[:-5] + bytes([data[-5] ^ 1]) + data[-4:])
    assert new_process().looks.parsed == len(HOSTS)
    assert new_process().looks.parsed == 0
    # another read of the inventory (a file rewritten, the same content): another generation, no reuse
    settings.inventory.write_text(settings.inventory.read_text())
    engine = new_process()
    assert engine.looks.parsed == len(HOSTS) and engine.looks.reused == 0
    assert {d["key"] for d in engine.plan(now).drifts} == {d["key"] for d in first.drifts}


def test_code_that_cannot_be_looked_at_is_no_copy_and_no_error(tmp_path, monkeypatch) -> None:
    from steward.plan import looks
    from steward.state.signed_pickle import code_stamp

    assert code_stamp(("plan",), (tmp_path / "removed-mid-pull.py",)) is None
    assert code_stamp(("plan",)) == code_stamp(("plan",)) is not None
    settings = make_settings(tmp_path, HOSTS)
    for host in HOSTS:
        atomic_write_json(settings.paths.world / f"{host}.json", world_doc(host, [container("s0")], observed_at=BASE))
    monkeypatch.setattr(looks, "_stamp", lambda: None)
    report = Engine(settings).plan(BASE + timedelta(seconds=30))
    assert not report.skipped and report.drifts and not settings.paths.world_looks.exists()
