"""Plan cycles: confirmation, dedup, skip on unusable world, bad inventory, pending playbooks."""

from __future__ import annotations

import json
import stat
from datetime import datetime

import pytest

from helpers import Clock, container, journal_types, make_settings, service, write_inventory, write_world
from steward.desired.inventory import DesiredStateError
from steward.plan.engine import Engine
from steward.plan.playbook import load_playbook
from steward.state.actions import ActionQueue
from steward.state.journal import Journal


@pytest.fixture
def lab(tmp_path):
    settings = make_settings(
        tmp_path, {"piha": [service("mqtt"), service("homeauto")], "saturn": [service("web"), service("worker")]}
    )
    return settings, Engine(settings), Clock()


def observe(settings, clock, piha=("running", "running"), saturn=("running", "running"), **kw):
    t = clock.tick()
    write_world(
        settings, "piha", [container("mqtt", state=piha[0]), container("homeauto", state=piha[1])], observed_at=t, **kw
    )
    write_world(
        settings, "saturn", [container("web", state=saturn[0]), container("worker", state=saturn[1])], observed_at=t
    )


def pending(settings):
    return sorted(p.name for p in (settings.paths.actions / "pending").iterdir())


def test_drift_needs_two_consecutive_observations_and_yields_one_action(lab) -> None:
    settings, engine, clock = lab
    observe(settings, clock)
    assert engine.plan().new_actions == []
    observe(settings, clock, piha=("exited", "running"))
    first = engine.plan()
    assert first.new_actions == [] and [d["key"] for d in first.drifts] == ["piha/docker/mqtt/not_running"]
    assert engine.plan().new_actions == []  # same observation planned twice does not count twice
    observe(settings, clock, piha=("exited", "running"))
    second = engine.plan()
    assert len(second.new_actions) == 1 and pending(settings) == [f"{second.new_actions[0]}.yml"]
    observe(settings, clock, piha=("exited", "running"))
    assert engine.plan().new_actions == []  # one open action per drift key
    assert len(pending(settings)) == 1
    types = journal_types(settings)
    assert types.count("drift_detected") == 1 and types.count("action_pending") == 1


def test_interrupted_streak_starts_over(lab) -> None:
    settings, engine, clock = lab
    observe(settings, clock, piha=("exited", "running"))
    engine.plan()
    observe(settings, clock)
    engine.plan()
    observe(settings, clock, piha=("exited", "running"))
    assert engine.plan().new_actions == []
    assert "drift_resolved" in journal_types(settings)


def test_unusable_world_file_skips_cycle_keeps_last_good_and_writes_nothing(lab, caplog) -> None:
    settings, engine, clock = lab
    observe(settings, clock, piha=("exited", "running"))
    engine.plan()
    memory_before = settings.paths.memory.read_bytes()
    last_good_before = json.loads(settings.paths.last_good.read_text())
    # the seed's outage: a half-written file, mid-cycle
    world = settings.paths.world / "piha.json"
    world.write_bytes(world.read_bytes()[:50])
    report = engine.plan()
    assert report.skipped and report.new_actions == []
    assert pending(settings) == []
    assert settings.paths.memory.read_bytes() == memory_before
    assert json.loads(settings.paths.last_good.read_text()) == last_good_before
    assert "cycle_skipped" in journal_types(settings)
    assert any(r.levelname == "WARNING" and "cycle_skipped" in r.getMessage() for r in caplog.records)
    # an empty file is no different: never read as "nothing is running"
    world.write_bytes(b"")
    assert engine.plan().skipped and pending(settings) == []
    # once the file is whole again the streak continues where it was
    observe(settings, clock, piha=("exited", "running"))
    assert len(engine.plan().new_actions) == 1


def test_unreachable_host_gives_one_notice_and_no_action(lab) -> None:
    settings, engine, clock = lab
    for _ in range(3):
        t = clock.tick()
        write_world(settings, "piha", None, observed_at=t, reachable=False)
        write_world(settings, "saturn", [container("web"), container("worker")], observed_at=t)
        report = engine.plan()
        assert report.new_actions == []
    assert [d["key"] for d in report.drifts] == ["piha/host/-/unreachable"]
    assert journal_types(settings).count("notice") == 1


def test_malformed_inventory_names_host_and_variable_and_writes_no_action(tmp_path, lab) -> None:
    settings, engine, clock = lab
    write_inventory(settings.inventory, {"piha": [service("mqtt", state="runing")], "saturn": "web"})
    observe(settings, clock, piha=("exited", "exited"))
    observe(settings, clock, piha=("exited", "exited"))
    with pytest.raises(DesiredStateError) as err:
        engine.plan()
    text = str(err.value)
    assert "host 'piha': steward_services[0] (mqtt).state" in text and "runing" in text
    assert "host 'saturn': steward_services: must be a list" in text
    assert pending(settings) == []


def test_pending_playbook_is_signed_readable_and_carries_metadata(lab) -> None:
    settings, engine, clock = lab
    for _ in range(2):
        observe(settings, clock, piha=("running", "exited"))
        report = engine.plan()
    (action_id,) = report.new_actions
    path = settings.paths.actions / "pending" / f"{action_id}.yml"
    text = path.read_text()
    assert "# What drifted : container homeauto is exited" in text
    assert f"steward approve {action_id}" in text and "mv " in text
    ((play,),) = load_playbook(text.encode())  # one document, one play
    meta = play["vars"]["steward_action"]
    assert meta["id"] == action_id and meta["key"] == "piha/docker/homeauto/not_running"
    assert meta["evidence"]["observations"] == 2
    task = play["tasks"][0]["community.docker.docker_container"]
    assert task["name"] == "homeauto" and task["state"] == "started"
    # a start never recreates: nothing is compared, no image or config is given
    assert task["comparisons"] == {"*": "ignore"} and "image" not in task and "network_mode" not in task
    assert play["hosts"] == "piha"
    queue = ActionQueue(settings.paths, Journal(settings.paths.journal))
    assert queue.ledger.verify(action_id, path.read_bytes()) is None
    assert stat.S_IMODE(settings.paths.hmac_key.stat().st_mode) == 0o600


def test_pending_action_expires_when_drift_resolves_twice(lab) -> None:
    settings, engine, clock = lab
    for _ in range(2):
        observe(settings, clock, saturn=("exited", "running"))
        engine.plan()
    assert len(pending(settings)) == 1
    observe(settings, clock)
    assert engine.plan().expired == []
    observe(settings, clock)
    (expired,) = engine.plan().expired
    result = json.loads((settings.paths.actions / "expired" / f"{expired}.result.json").read_text())
    assert "drift resolved" in result["reason"]
    assert pending(settings) == []


def test_unreachable_or_partial_observation_neither_resolves_nor_extends_other_areas(lab) -> None:
    settings, engine, clock = lab
    observe(settings, clock, piha=("exited", "running"))
    engine.plan()
    # the host drops off the network: we could not look, so the container drift is not "resolved"
    write_world(settings, "piha", None, observed_at=clock.tick(), reachable=False)
    assert engine.plan().new_actions == []
    # a disk-only observation (--tags disk) says nothing about containers either
    t = clock.tick()
    write_world(settings, "piha", None, observed_at=t, reachable=True)
    doc = json.loads((settings.paths.world / "piha.json").read_text())
    doc["checks"] = {"disk": {"status": "ok", "error": None, "mounts": []}}
    (settings.paths.world / "piha.json").write_text(json.dumps(doc))
    assert engine.plan().new_actions == []
    resolved = [e for e in journal_types(settings) if e == "drift_resolved"]
    assert resolved == ["drift_resolved"]  # only the host-level unreachable item, once the host is back
    observe(settings, clock, piha=("exited", "running"))
    (action,) = engine.plan().new_actions
    assert "mqtt-not_running" in action


def test_engine_that_could_not_be_read_neither_resolves_nor_expires_container_drift(lab) -> None:
    settings, engine, clock = lab
    for _ in range(2):
        observe(settings, clock, piha=("exited", "running"))
        report = engine.plan()
    (action,) = report.new_actions
    for _ in range(3):  # the docker socket says permission denied: we could not look
        write_world(settings, "piha", None, observed_at=clock.tick(), docker_status="permission_denied")
        report = engine.plan()
    assert report.expired == [] and pending(settings) == [f"{action}.yml"]
    assert "drift_resolved" not in journal_types(settings)


def test_rejected_action_is_not_proposed_again_until_the_drift_resolves(lab) -> None:
    settings, engine, clock = lab
    for _ in range(2):
        observe(settings, clock, piha=("exited", "running"))
        report = engine.plan()
    (action,) = report.new_actions
    engine.queue.reject(action, "I stopped it on purpose")
    for _ in range(4):
        observe(settings, clock, piha=("exited", "running"))
        assert engine.plan().new_actions == []
    observe(settings, clock)  # it resolves, then breaks again: a new episode gets a new proposal
    engine.plan()
    for _ in range(2):
        observe(settings, clock, piha=("exited", "running"))
        report = engine.plan()
    assert len(report.new_actions) == 1


def test_long_target_names_still_give_valid_action_ids(tmp_path) -> None:
    name = "c" * 120
    settings = make_settings(tmp_path, {"piha": [service(name)]})
    engine, clock = Engine(settings), Clock()
    for _ in range(2):
        write_world(settings, "piha", [container(name, state="exited")], observed_at=clock.tick())
        report = engine.plan()
    (action,) = report.new_actions
    assert len(action) < 100 and (settings.paths.actions / "pending" / f"{action}.yml").exists()


def test_two_plan_cycles_at_once_write_one_action(lab) -> None:
    import threading

    settings, engine, clock = lab
    observe(settings, clock, piha=("exited", "running"))
    engine.plan()
    observe(settings, clock, piha=("exited", "running"))
    results: list[list[str]] = []
    threads = [threading.Thread(target=lambda: results.append(Engine(settings).plan().new_actions)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(len(r) for r in results) == 1 and len(pending(settings)) == 1


def test_pending_action_expires_after_its_ttl_never_as_a_rejection(lab) -> None:
    from datetime import timedelta

    settings, engine, clock = lab
    for _ in range(2):
        observe(settings, clock, piha=("exited", "running"))
        report = engine.plan()
    (action,) = report.new_actions
    meta = engine.queue.ledger.entry(action)
    later = datetime.fromisoformat(meta["expires_at"].replace("Z", "+00:00")) + timedelta(seconds=1)
    assert engine.plan(now=later).expired == [action]
    result = json.loads((settings.paths.actions / "expired" / f"{action}.result.json").read_text())
    assert result["status"] == "expired" and "TTL" in result["reason"]
    assert not (settings.paths.actions / "rejected" / f"{action}.yml").exists()


def test_silence_cli_add_list_remove(lab, capsys) -> None:
    from steward.interfaces.cli.main import main

    settings, engine, clock = lab
    args = ["--state-dir", str(settings.state_dir), "-i", str(settings.inventory), "silence"]
    assert main([*args, "add", "--host", "piha", "--target", "mqtt", "--for", "2h", "--reason", "upgrade"]) == 0
    assert main([*args, "add", "--host", "piha", "--for", "soon", "--reason", "x"]) == 2
    capsys.readouterr()
    assert main([*args, "list", "--json"]) == 0
    (item,) = json.loads(capsys.readouterr().out)
    assert item["host"] == "piha" and item["target"] == "mqtt" and item["reason"] == "upgrade"
    assert main([*args, "remove", item["id"]]) == 0
    capsys.readouterr()
    assert main([*args, "list", "--json"]) == 0 and json.loads(capsys.readouterr().out) == []
    assert main([*args, "remove", item["id"]]) == 2


def test_confirming_lists_drifts_one_more_look_could_turn_into_actions(lab) -> None:
    settings, engine, clock = lab
    observe(settings, clock, piha=("exited", "running"))
    first = engine.plan()
    assert first.confirming == ["piha/docker/mqtt/not_running"] and first.new_actions == []
    assert (first.confirm_after, first.confirm_interval) == (2, 2)
    observe(settings, clock, piha=("exited", "running"))
    second = engine.plan()
    assert second.confirming == [] and len(second.new_actions) == 1  # confirmed: nothing left to look for
    observe(settings, clock, piha=("exited", "running"))
    assert engine.plan().confirming == []  # an open action is not "confirming"


def _event_style(settings, engine, hosts, start, looks=2, gap=2):
    """What observe.yml with steward_observe_plan does, host after host: look, plan, look, plan."""
    from datetime import timedelta

    written, storms, t = [], 0, start
    for h in hosts:
        for _ in range(looks):
            t += timedelta(seconds=gap)
            write_world(settings, h, [container("web", state="exited")], observed_at=t)
            report = engine.plan()
            written += report.new_actions
            storms += report.storm
    return written, storms


def test_a_fleet_outage_confirmed_host_by_host_still_trips_the_storm_breaker(tmp_path) -> None:
    from datetime import UTC, timedelta

    hosts = {f"h{i:02d}": [service("web")] for i in range(15)}
    settings = make_settings(tmp_path, hosts)
    engine = Engine(settings)
    start = datetime.now(UTC) - timedelta(minutes=5)
    for h in hosts:
        write_world(settings, h, [container("web")], observed_at=start)
    engine.plan()
    written, storms = _event_style(settings, engine, sorted(hosts), start + timedelta(seconds=10))
    assert len(written) == 10  # the limit; the 11th host trips the breaker (within storm_window)
    assert storms > 0 and journal_types(settings).count("storm") == 1


def test_looks_closer_than_confirm_interval_are_one_observation(lab) -> None:
    from datetime import timedelta

    settings, engine, clock = lab
    t = clock.tick().replace(microsecond=900_000)
    for offset in (0.0, 0.3):  # 0.3 s later, across a second boundary: observed_at 1 s apart
        write_world(
            settings,
            "piha",
            [container("mqtt", state="exited"), container("homeauto")],
            observed_at=t + timedelta(seconds=offset),
        )
        write_world(settings, "saturn", [container("web"), container("worker")], observed_at=t)
        report = engine.plan()
    assert report.new_actions == [] and report.confirming == ["piha/docker/mqtt/not_running"]
    # an older file written out of order is not an observation either
    write_world(settings, "piha", [container("mqtt", state="exited"), container("homeauto")], observed_at=t)
    assert engine.plan().new_actions == []
    later = t + timedelta(seconds=2)  # confirm_interval (2 s) after the first: a second observation
    write_world(settings, "piha", [container("mqtt", state="exited"), container("homeauto")], observed_at=later)
    assert len(engine.plan().new_actions) == 1


def _confirm_mqtt_down(settings, engine, clock) -> str:
    for _ in range(2):
        observe(settings, clock, piha=("exited", "running"))
        report = engine.plan()
    (action,) = report.new_actions
    return action


def test_no_second_action_for_a_target_that_has_an_open_one(lab) -> None:
    settings, engine, clock = lab
    first = _confirm_mqtt_down(settings, engine, clock)
    for _ in range(2):  # mid-recreate the container is missing: another drift kind, same target
        t = clock.tick()
        write_world(settings, "piha", [container("homeauto")], observed_at=t)
        write_world(settings, "saturn", [container("web"), container("worker")], observed_at=t)
        report = engine.plan()
    assert report.new_actions == []
    assert report.held["piha/docker/mqtt/missing"].startswith("another action for piha/docker/mqtt is open")
    assert report.expired == [first]  # not_running is gone: its plan expires, it is never run


def test_nothing_new_is_written_for_a_host_while_a_remediation_is_in_progress(lab) -> None:
    from steward.core.locks import try_exclusive

    settings, engine, clock = lab
    first = _confirm_mqtt_down(settings, engine, clock)
    queue = ActionQueue(settings.paths, Journal(settings.paths.journal))
    queue.move(first, "pending", "running", None)
    with try_exclusive(settings.paths.locks / "host-piha.lock") as mine:  # what the executor holds
        assert mine
        for _ in range(3):  # mid-remediation looks: homeauto down too
            observe(settings, clock, piha=("exited", "exited"))
            report = engine.plan()
        assert report.new_actions == [] and "piha/docker/homeauto/not_running" not in report.confirming
    # those looks were not counted: after the remediation, confirmation starts from scratch
    observe(settings, clock, piha=("running", "exited"))
    report = engine.plan()
    assert report.new_actions == [] and report.confirming == ["piha/docker/homeauto/not_running"]


def test_a_leftover_file_in_running_without_a_live_executor_holds_nothing(lab) -> None:
    settings, engine, clock = lab
    first = _confirm_mqtt_down(settings, engine, clock)
    ActionQueue(settings.paths, Journal(settings.paths.journal)).move(first, "pending", "running", None)
    for _ in range(2):
        observe(settings, clock, piha=("exited", "exited"))
        report = engine.plan()
    # homeauto is confirmed and judged by the gates as usual (here: both services of piha within the
    # storm window), not held as "in progress" by a crashed executor's leftover
    assert report.held["piha/docker/homeauto/not_running"] == "storm"


def test_an_acknowledgement_is_for_one_storm_never_the_next(tmp_path) -> None:
    from datetime import UTC, timedelta

    hosts = {"solo": [service(f"s{i}") for i in range(4)]}
    settings = make_settings(tmp_path, hosts)
    engine = Engine(settings)
    t = datetime.now(UTC) - timedelta(minutes=10)

    def look(states):
        nonlocal t
        t += timedelta(minutes=1)
        write_world(settings, "solo", [container(f"s{i}", state=st) for i, st in enumerate(states)], observed_at=t)
        return engine.plan()

    look(["running"] * 4)
    look(["exited"] * 4)
    assert look(["exited"] * 4).storm  # all 4 services of the host at once
    assert engine.ack_storm()
    look(["running"] * 4)  # it cleared up by itself before the ack was used: a calm cycle ends the storm
    assert not engine.storm_ack_path.exists()  # the unused ack is retired (kept under another name)
    look(["exited"] * 4)
    later = look(["exited"] * 4)
    assert later.storm and later.new_actions == []  # the old ack does not wave the new storm through


def test_a_clock_stepped_back_does_not_stop_observations_from_counting(lab) -> None:
    from datetime import timedelta

    settings, engine, clock = lab
    clock.t += timedelta(hours=1)  # the controller clock ran an hour fast ...
    observe(settings, clock, piha=("exited", "running"))
    engine.plan()
    clock.t -= timedelta(hours=1, minutes=5)  # ... and NTP stepped it back
    observe(settings, clock, piha=("exited", "running"))
    assert len(engine.plan().new_actions) == 1


def test_a_remedy_that_would_carry_a_template_is_not_written(tmp_path) -> None:
    """An inventory value the operator marked !unsafe (a Go template, say) loses its tag on the way into
    a remedy; the engine checks its own playbook with the executor's shape check before signing it."""
    inv = tmp_path / "hosts.yml"
    inv.write_text(
        "all:\n  hosts:\n    piha:\n      steward_services:\n"
        "        - name: mqtt\n          image: steward-lab/busybox:1\n"
        '          command: !unsafe "sh -c \'echo {{ lookup(\\"ansible.builtin.pipe\\", \\"id\\") }}\'"\n'
    )
    from helpers import REPO
    from steward.state.settings import Settings

    settings = Settings(project_dir=REPO, inventory=inv, state_dir=tmp_path / "state")
    settings.paths.ensure()
    engine, clock = Engine(settings), Clock()
    for _ in range(2):  # a new image: the recreate carries the command
        write_world(settings, "piha", [container("mqtt", image="steward-lab/busybox:0")], observed_at=clock.tick())
        report = engine.plan()
    assert report.new_actions == [] and pending(settings) == []
    notices = [e for e in journal_events(settings) if e["type"] == "notice" and "not a shape" in e.get("summary", "")]
    assert len(notices) == 1 and "template" in notices[0]["summary"]


def journal_events(settings):
    import json

    return [json.loads(line) for line in settings.paths.journal.read_text().splitlines()]
