"""Noise never becomes action: flapping, storms, silences, windows, backoff and escalation, bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from helpers import Clock, container, journal_types, make_settings, service, write_world
from steward.interfaces.cli.main import main
from steward.plan.engine import Engine
from steward.state.journal import Journal
from steward.state.outcomes import Outcomes
from steward.state.silences import Silences


def set_policy(settings, policy=None, **host_vars) -> None:
    inv = yaml.safe_load(settings.inventory.read_text())
    if policy is not None:
        inv["all"]["vars"] = {"steward_policy": policy}
    for host, extra in host_vars.items():
        inv["all"]["hosts"][host].update(extra)
    settings.inventory.write_text(yaml.safe_dump(inv))


@pytest.fixture
def lab(tmp_path):
    settings = make_settings(
        tmp_path,
        {"piha": [service(s) for s in ("mqtt", "homeauto", "grafana")], "saturn": [service("web"), service("worker")]},
    )
    clock = Clock()

    def observe(stopped: set[str] = frozenset(), when: datetime | None = None) -> None:
        t = when or clock.tick()
        write_world(
            settings,
            "piha",
            [container(s, state="exited" if s in stopped else "running") for s in ("mqtt", "homeauto", "grafana")],
            observed_at=t,
        )
        write_world(
            settings,
            "saturn",
            [container(s, state="exited" if s in stopped else "running") for s in ("web", "worker")],
            observed_at=t,
        )

    return settings, Engine(settings), observe


def pending(settings) -> list[str]:
    return sorted(p.name for p in (settings.paths.actions / "pending").iterdir())


FLAPPING = [True, True, False] * 8  # down, down, up ...: a 2-observation confirmation fits in every period


def test_flapping_container_gets_one_notice_and_no_action_until_it_settles(lab, fault) -> None:
    settings, engine, observe = lab
    for down in FLAPPING:
        observe({"mqtt"} if down else set())
        engine.plan()
    fault.inject(f"mqtt stopped/started in {len(FLAPPING)} observations")
    types = journal_types(settings)
    fault.check(types.count("flapping") == 1, "exactly one flapping notice")
    fault.check(pending(settings) == [], "no pending action while flapping")
    expired = [json.loads(p.read_text())["reason"] for p in (settings.paths.actions / "expired").glob("*.json")]
    fault.check(len(expired) == 1 and "flapping" in expired[0], "the one early plan was withdrawn as flapping")
    for _ in range(20):  # it settles (down for good): flapping stops, then one action
        observe({"mqtt"})
        engine.plan()
    fault.check("flapping_stopped" in journal_types(settings), "flapping stopped once the target settled")
    fault.check(len(pending(settings)) == 1, "then exactly one pending action")


def test_without_flap_detection_the_noise_leaves_a_plan_waiting_for_approval(lab, fault) -> None:
    """Control: with flap detection effectively off (start threshold 100 %), the same noise leaves a
    pending plan a tired operator could approve; the mechanism is what withdraws it."""
    settings, engine, observe = lab
    set_policy(settings, {"flap_start_pct": 100, "flap_stop_pct": 99})
    for down in FLAPPING:
        observe({"mqtt"} if down else set())
        engine.plan()
    fault.inject("same flapping pattern, flap detection disabled")
    fault.check(
        len(pending(settings)) == 1 and "flapping" not in journal_types(settings),
        "a plan built on noise is still pending",
    )


def test_storm_more_than_limit_in_one_cycle(tmp_path, fault) -> None:
    hosts = {f"node{i:02d}": [service("app"), service("db"), service("cache")] for i in range(12)}
    settings = make_settings(tmp_path, hosts)
    engine, clock = Engine(settings), Clock()
    for _ in range(2):
        t = clock.tick()
        for h in hosts:
            write_world(
                settings, h, [container("app", state="exited"), container("db"), container("cache")], observed_at=t
            )
        report = engine.plan()
    fault.inject("12 hosts lose one container each at once (12 > 10)")
    fault.check(report.storm and report.new_actions == [], "storm: zero actions")
    fault.check(journal_types(settings).count("storm") == 1, "one storm notice")
    t = clock.tick()
    for h in hosts:
        write_world(settings, h, [container("app", state="exited"), container("db"), container("cache")], observed_at=t)
    fault.check(
        engine.plan().new_actions == [] and journal_types(settings).count("storm") == 1, "still held, still one notice"
    )
    assert main(["--state-dir", str(settings.state_dir), "-i", str(settings.inventory), "ack-storm"]) == 0
    t = clock.tick()
    for h in hosts:
        write_world(settings, h, [container("app", state="exited"), container("db"), container("cache")], observed_at=t)
    fault.check(len(engine.plan().new_actions) == 12, "after ack-storm the 12 actions are written")


def test_storm_whole_host_down_and_calm_cycle_ends_it(lab, fault) -> None:
    settings, engine, observe = lab
    for _ in range(2):
        observe({"mqtt", "homeauto", "grafana"})
        report = engine.plan()
    fault.inject("every container on piha stopped at once")
    fault.check(report.storm and report.new_actions == [], "storm: zero actions")
    observe({"mqtt"})  # two come back by themselves, one is still down: not calm, still held
    report = engine.plan()
    fault.check(report.storm and report.new_actions == [], "one drift left is not calm yet: still held")
    observe()  # everything is back: a calm cycle ends the storm
    fault.check(not engine.plan().storm and "storm_over" in journal_types(settings), "calm cycle: storm over")
    for _ in range(2):  # a single new failure afterwards is acted on normally
        observe({"mqtt"})
        report = engine.plan()
    fault.check(len(report.new_actions) == 1, "the next real drift gets its action")


def test_ack_storm_without_a_storm_is_refused_and_cannot_release_a_later_one(lab, fault, capsys) -> None:
    settings, engine, observe = lab
    args = ["--state-dir", str(settings.state_dir), "-i", str(settings.inventory)]
    fault.inject("steward ack-storm while there is no storm")
    fault.check(main([*args, "ack-storm"]) == 2, "refused (exit 2)")
    for _ in range(2):
        observe({"mqtt", "homeauto", "grafana"})
        report = engine.plan()
    fault.check(report.storm and report.new_actions == [], "a later storm is still held")


def test_silence_holds_actions_and_expires_mid_run(lab, fault) -> None:
    settings, engine, observe = lab
    now = datetime.now(UTC)
    Silences(settings.paths, Journal(settings.paths.journal)).add("pi*", "mqtt", 120, "firmware upgrade", now)
    fault.inject("silence pi*/mqtt for 2 minutes")
    for _ in range(3):
        observe({"mqtt"})
        report = engine.plan(now=now)
    fault.check(
        report.new_actions == [] and "silenced" in report.held["piha/docker/mqtt/not_running"],
        "no action while silenced",
    )
    fault.check([d["key"] for d in report.drifts] == ["piha/docker/mqtt/not_running"], "drift still recorded")
    fault.check(journal_types(settings).count("action_held") == 1, "the hold is journaled once")
    later = now + timedelta(minutes=3)
    observe({"mqtt"}, when=later - timedelta(seconds=30))
    fault.inject("the silence expires between two cycles")
    fault.check(len(engine.plan(now=later).new_actions) == 1, "the next cycle after expiry writes the action")


def test_maintenance_window_from_inventory(lab, fault) -> None:
    settings, engine, observe = lab
    now = datetime.now(UTC)
    start = (now - timedelta(minutes=5)).strftime("%H:%M")
    set_policy(
        settings,
        None,
        piha={
            "steward_maintenance_windows": [
                {
                    "name": "nightly",
                    "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                    "start": start,
                    "duration": "1h",
                }
            ]
        },
    )
    fault.inject("a recurring window covering now")
    for _ in range(2):
        observe({"mqtt"})
        report = engine.plan(now=now)
    fault.check(
        report.new_actions == [] and report.held["piha/docker/mqtt/not_running"] == "maintenance window nightly",
        "held by the window",
    )
    observe({"mqtt"}, when=now + timedelta(hours=2))
    fault.check(len(engine.plan(now=now + timedelta(hours=2, seconds=30)).new_actions) == 1, "after the window: acted")


def test_backoff_then_escalation_then_clear(lab, fault) -> None:
    settings, engine, observe = lab
    outcomes = Outcomes(settings.paths)
    key = "piha/docker/mqtt/not_running"
    written: list[int] = []  # cycles in which an action was written

    def cycle(n: int) -> None:
        observe({"mqtt"})
        for action in engine.plan().new_actions:
            written.append(n)
            # the action runs and does not fix the drift (what the executor records after verification)
            engine.queue.move(action, "pending", "failed", "action_failed", result={"status": "failed"})
            outcomes.record(key, action, fixed=False, escalate_after=3)
            fault.inject(f"remediation {action} did not fix the drift")

    for n in range(1, 20):
        cycle(n)
    # confirmed at cycle 2; waits 1 cycle, then 3 cycles, then escalates after the 3rd failure
    fault.check(written == [2, 4, 8], f"actions at cycles {written}: backoff 1 then 3 cycles, then none")
    fault.check(outcomes.get(key)["escalated"], "escalated after 3 failures")
    held = json.loads(settings.paths.memory.read_text())["held"][key]
    fault.check(held.startswith("escalated"), "held as escalated")
    assert main(["--state-dir", str(settings.state_dir), "-i", str(settings.inventory), "clear", key]) == 0
    observe({"mqtt"})
    fault.check(len(engine.plan().new_actions) == 1, "after `steward clear` an action is written again")


@pytest.mark.parametrize(
    ("services", "variable"),
    [
        ([{"name": "mqtt", "image": 5}], "steward_services[0] (mqtt).image"),
        ([{"name": "mqtt"}], "steward_services[0] (mqtt).image"),
        ([{"name": "mqtt", "image": "x", "stat": "running"}], "unknown key(s) stat"),
        ({"mqtt": "x"}, "steward_services: must be a list"),
        ([{"name": "mqtt", "image": "x", "healthy": "yes"}], "steward_services[0] (mqtt).healthy"),
    ],
)
def test_malformed_inventory_exit_2_names_host_and_variable_zero_actions(
    lab, fault, capsys, services, variable
) -> None:
    settings, engine, observe = lab
    observe({"mqtt"})
    engine.plan()
    set_policy(settings, None, piha={"steward_services": services})
    fault.inject(f"piha steward_services = {services!r}")
    observe({"mqtt"})
    rc = main(["--state-dir", str(settings.state_dir), "-i", str(settings.inventory), "plan"])
    err = capsys.readouterr().err
    fault.check(rc == 2, "exit code 2")
    fault.check("host 'piha'" in err and variable in err, f"error names host and {variable}")
    fault.check(pending(settings) == [], "zero actions")
