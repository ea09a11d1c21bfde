"""The desired side of the outage: an inventory Steward cannot read stops the cycle, loudly, and a
torn read of it never becomes a plan. Real files, Ansible's real inventory code, the CLI in-process."""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import random
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import steward.desired.signature
import steward.plan.engine
from helpers import IMAGE, Clock, container, journal_types, write_world
from steward.desired.cached import load_desired_cached
from steward.desired.inventory import DesiredStateError
from steward.interfaces.cli.main import main
from steward.plan.engine import Engine
from steward.state.settings import Settings

REPO = Path(__file__).resolve().parents[2]
REGISTRY = "registry:2.8"  # a torn read may cut it to "registry:2." - valid YAML, the wrong image

HOSTS_YML = f"""\
all:
  hosts:
    saturn:
      steward_services:
        - {{name: web, image: "{IMAGE}"}}
        - {{name: worker, image: "{IMAGE}"}}
        - name: registry
          image: {REGISTRY}
    piha:
"""
PIHA_YML = f"""\
steward_services:
  - {{name: mqtt, image: "{IMAGE}"}}
  - {{name: homeauto, image: "{IMAGE}"}}
"""
ALL_YML = "steward_policy:\n  confirm_after: 2\n"

# (file, content, what it does to Ansible): each a real YAML error Ansible reports with line and column
BROKEN = {
    "hosts.yml with a YAML syntax error": ("hosts.yml", HOSTS_YML.replace("- {name: worker", "- {name: worker,, ]"), 6),
    "hosts.yml truncated mid-write": ("hosts.yml", HOSTS_YML[: HOSTS_YML.index("worker") + 12], 7),
    "host_vars/piha.yml with a YAML error": ("host_vars/piha.yml", PIHA_YML.replace("homeauto,", "homeauto: ["), 3),
    "group_vars/all.yml truncated mid-write": ("group_vars/all.yml", 'steward_policy:\n  confirm_after: "2\n', 3),
}


def build(tmp_path: Path) -> Settings:
    inv = tmp_path / "inventory"
    (inv / "host_vars").mkdir(parents=True)
    (inv / "group_vars").mkdir()
    (inv / "hosts.yml").write_text(HOSTS_YML)
    (inv / "host_vars" / "piha.yml").write_text(PIHA_YML)
    (inv / "group_vars" / "all.yml").write_text(ALL_YML)
    settings = Settings(project_dir=REPO, inventory=inv / "hosts.yml", state_dir=tmp_path / "state")
    settings.paths.ensure()
    return settings


def observe_all(settings: Settings, when, stopped: frozenset[str] = frozenset()) -> None:
    def seen(*names: str) -> list[dict]:
        return [container(n, state="exited" if n in stopped else "running") for n in names]

    registry = container("registry", image=REGISTRY, state="exited" if "registry" in stopped else "running")
    write_world(settings, "saturn", [*seen("web", "worker"), registry], observed_at=when)
    write_world(settings, "piha", seen("mqtt", "homeauto"), observed_at=when)


def cli(settings: Settings, *args: str) -> int:
    return main(["--state-dir", str(settings.state_dir), "-i", str(settings.inventory), *args])


def journal(settings: Settings) -> list[dict]:
    return [json.loads(line) for line in settings.paths.journal.read_text().splitlines()]


def folder(settings: Settings, name: str) -> list[str]:
    return sorted(p.name for p in (settings.paths.actions / name).iterdir())


def snapshot(settings: Settings) -> dict[str, bytes]:
    """Every state file except the journal (which must grow by the cycle_skipped entry only)."""
    root = settings.state_dir
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.name != "journal.jsonl" and "locks" not in p.parts
    }


@pytest.fixture
def running(tmp_path: Path) -> tuple[Settings, Clock]:
    """A state folder with history: one pending action (web stopped, confirmed) and a drift being confirmed."""
    settings = build(tmp_path)
    clock, engine = Clock(), Engine(settings)
    for _ in range(2):
        observe_all(settings, clock.tick(), stopped=frozenset({"web"}))
        engine.plan(now=clock.t)
    observe_all(settings, clock.tick(), stopped=frozenset({"mqtt"}))  # a new look: mqtt down, web back
    assert len(folder(settings, "pending")) == 1
    return settings, clock


@pytest.mark.parametrize("case", sorted(BROKEN))
@pytest.mark.parametrize("command", ["plan", "observe"])
def test_an_inventory_that_does_not_parse_exits_2_naming_file_line_and_column(
    running, fault, capsys, command: str, case: str
) -> None:
    settings, _clock = running
    rel, content, line = BROKEN[case]
    broken = settings.inventory.parent / rel
    broken.write_text(content)
    fault.inject(f"{case} ({command})")
    before = snapshot(settings)
    events_before = len(journal(settings))

    rc = cli(settings, command)
    err = capsys.readouterr().err
    errors = [e for e in err.splitlines() if e.startswith("error:")]
    fault.check(rc == 2, f"exit 2 (got {rc})")
    fault.check("Traceback" not in err, "no traceback")
    fault.check(
        len(errors) == 1 and str(broken) in errors[0] and f"(line {line}, column " in errors[0],
        f"one error line naming {rel} with line and column: {errors}",
    )
    fault.check("YAML parsing failed" in errors[0], "Ansible's own message")
    new = journal(settings)[events_before:]
    fault.check(
        [e["type"] for e in new] == ["cycle_skipped"]
        and new[0]["file"] == str(broken)
        and new[0]["line"] == line
        and str(broken) in new[0]["reason"],
        f"one cycle_skipped entry naming the file: {new}",
    )
    fault.check(snapshot(settings) == before, "nothing written, expired or resolved; last-known-good kept")
    fault.check(not (settings.paths.runs / "observe").exists(), "nothing observed")


@pytest.mark.parametrize(
    ("content", "why"),
    [("", "the file is empty"), ("all:\n  hosts:\n    saturn:\n    piha:\n", "none with a steward_* variable")],
    ids=["empty hosts.yml", "hosts without steward vars"],
)
@pytest.mark.parametrize("command", ["plan", "observe"])
def test_an_inventory_without_a_steward_host_is_an_error_never_a_success(
    running, fault, capsys, command: str, content: str, why: str
) -> None:
    settings, _clock = running
    (settings.inventory.parent / "host_vars" / "piha.yml").unlink()
    (settings.inventory.parent / "group_vars" / "all.yml").unlink()
    settings.inventory.write_text(content)
    fault.inject(f"hosts.yml: {why} ({command})")
    before = snapshot(settings)
    rc = cli(settings, command)
    err = capsys.readouterr().err
    fault.check(rc == 2 and "no Steward host" in err and why in err and "Traceback" not in err, err)
    fault.check(journal(settings)[-1]["type"] == "cycle_skipped", "journaled as a skipped cycle")
    fault.check(snapshot(settings) == before and not (settings.paths.runs / "observe").exists(), "nothing done")


@pytest.mark.parametrize("limit", ["nope", "sat*rn_typo", "saturn:&nope"])
def test_an_observe_whose_limit_matches_no_host_is_an_error(running, fault, capsys, limit: str) -> None:
    settings, _clock = running
    fault.inject(f"steward observe --limit {limit}")
    rc = cli(settings, "observe", "--limit", limit)
    err = capsys.readouterr().err
    fault.check(rc == 2 and f"--limit {limit!r} matches no host" in err, err)
    fault.check(not (settings.paths.runs / "observe").exists(), "ansible-playbook never started")
    fault.check(journal(settings)[-1]["type"] == "observe_refused", "journaled")


def test_hosts_that_leave_the_inventory_are_journaled_once_and_their_pending_actions_expire(
    running, fault, capsys
) -> None:
    settings, clock = running
    (pending,) = folder(settings, "pending")  # saturn's web
    settings.inventory.write_text(HOSTS_YML.split("    saturn:")[0] + "    piha:\n")  # saturn removed
    fault.inject("saturn removed from hosts.yml (it had a pending action)")
    engine = Engine(settings)
    report = engine.plan(now=clock.t)
    # one shorter read (another branch checked out for a moment) ends nothing
    fault.check(folder(settings, "pending") == [pending], "after one cycle the action still waits")
    observe_all(settings, clock.tick())
    report = engine.plan(now=clock.t)
    fault.check(folder(settings, "pending") == [], "after confirm_after cycles the pending action left pending/")
    result = json.loads((settings.paths.actions / "expired" / pending.replace(".yml", ".result.json")).read_text())
    fault.check(result["reason"].startswith("host saturn left the inventory"), f"expired with that reason: {result}")
    fault.check(pending.removesuffix(".yml") in report.expired, "reported as expired")
    left = [e for e in journal(settings) if e["type"] == "host_left_inventory"]
    fault.check(len(left) == 1 and left[0]["hosts"] == ["saturn"], f"journaled once, with the host: {left}")
    assert cli(settings, "status") == 0
    out = capsys.readouterr().out
    fault.check("left the inventory: saturn" in out, "steward status shows it")
    fault.check("(not in the inventory)" in out, "its last world file is marked as not in the inventory")
    assert cli(settings, "events", "tail") == 0
    fault.check("host_left_inventory" in capsys.readouterr().out.replace("  ", " "), "events tail shows it")


def test_status_and_events_tail_name_the_unusable_files_and_the_parser_message(running, fault, capsys) -> None:
    settings, _clock = running
    (settings.paths.world / "piha.json").write_text('{"schema": 1, "host": "pi')
    assert cli(settings, "plan") == 1  # world unusable: skipped
    rel, content, line = BROKEN["host_vars/piha.yml with a YAML error"]
    (settings.inventory.parent / rel).write_text(content)
    assert cli(settings, "plan") == 2
    fault.inject("world/piha.json truncated, then host_vars/piha.yml broken")
    capsys.readouterr()
    assert cli(settings, "events", "tail", "-n", "2") == 0
    world_line, inventory_line = capsys.readouterr().out.splitlines()
    fault.check("world state unusable: piha.json: " in world_line, f"the world file and why: {world_line}")
    fault.check(f"host_vars/piha.yml (line {line}, column" in inventory_line, inventory_line)
    assert cli(settings, "status") == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    fault.check(first == f"state: {settings.state_dir.resolve()}", f"the absolute state folder first: {first}")
    fault.check(f"INVENTORY UNUSABLE: cannot parse {settings.inventory.parent / rel} (line {line}" in out, out)
    fault.check("WORLD FILE UNUSABLE piha.json" in out, "the world file too")


# -- the race: a writer rewriting the inventory non-atomically while the engine plans ----------------

HALVES = {
    # hosts.yml: cut right after "registry" (saturn's list cut after two services, piha gone) or in
    # the middle of an image tag; both halves alone are valid YAML
    "hosts.yml": [HOSTS_YML.index("        - name: registry"), HOSTS_YML.index(REGISTRY) + len(REGISTRY) - 1],
    "host_vars/piha.yml": [PIHA_YML.index("  - {name: homeauto")],
}


def _sloppy_writer(inventory: str, until: float, seed: int, longest: Any = None) -> None:
    """Rewrite the files in two halves, non-atomically (truncate, write, pause, write): bursts of
    rewrites, then quiet spells. Real-time priority when allowed, so the pause between the halves is
    the one chosen here (up to 4 ms), not a stall of the test machine's scheduler. `longest` (a shared
    double) receives the longest time a file stood torn (truncate to last write): a virtual machine
    paused by its hypervisor can stretch it past the settle time, the documented limit of detection."""
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    rng = random.Random(seed)
    contents = {"hosts.yml": HOSTS_YML, "host_vars/piha.yml": PIHA_YML}
    while time.time() < until:
        for _ in range(rng.randint(1, 5)):
            rel = rng.choice(sorted(contents))
            data, cut = contents[rel].encode(), rng.choice(HALVES[rel])
            torn_from = time.perf_counter()
            fd = os.open(os.path.join(inventory, rel), os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(fd, data[:cut])
                pause = time.perf_counter() + rng.uniform(0, 0.004)
                while time.perf_counter() < pause:  # busy: a sleep would hand the CPU away for longer
                    pass
                os.write(fd, data[cut:])
            finally:
                os.close(fd)
            if longest is not None:
                longest.value = max(longest.value, time.perf_counter() - torn_from)
            time.sleep(rng.uniform(0, 0.001))
        time.sleep(rng.uniform(0.03, 0.06))  # longer than the settle time


def _race(tmp_path: Path, monkeypatch: Any, cycles: int) -> dict[str, Any]:
    """`cycles` plan cycles while a sloppy writer rewrites the inventory: what the engine accepted."""
    tmp_path.mkdir()
    settings = build(tmp_path)
    settings.inventory.parent.joinpath("group_vars", "all.yml").write_text("steward_policy:\n  confirm_after: 1\n")
    whole = load_desired_cached(settings.inventory)  # what every accepted read must equal
    accepted: list[bool] = []

    def spy(inventory: Path, persisted: Any = None):  # the engine's real loader, recording what it returned
        desired = load_desired_cached(inventory, persisted)
        accepted.append(desired.hosts == whole.hosts)
        return desired

    monkeypatch.setattr(steward.plan.engine, "load_desired_cached", spy)
    engine, clock = Engine(settings), Clock()
    clock.t -= timedelta(hours=2)
    context = mp.get_context("fork")
    longest = context.Value("d", 0.0)
    writer = context.Process(
        target=_sloppy_writer, args=(str(settings.inventory.parent), time.time() + 60, 11, longest)
    )
    writer.start()
    skipped, actions, drifts, errors = 0, 0, 0, 0
    try:
        for _ in range(cycles):
            clock.t += timedelta(seconds=10)
            observe_all(settings, clock.t)  # the world matches the whole inventory: any drift is a torn read
            try:
                report = engine.plan(now=clock.t)
            except DesiredStateError:
                errors += 1
                continue
            skipped += report.skipped
            actions += len(report.new_actions) + len(report.expired)
            drifts += len(report.drifts)
    finally:
        writer.kill()
        writer.join()
    return {
        "settings": settings,
        "accepted": accepted,
        "skipped": skipped,
        "errors": errors,
        "drifts": drifts,
        "actions": actions,
        "longest_torn": longest.value,
    }


def test_a_torn_read_of_the_inventory_never_becomes_a_plan(tmp_path: Path, fault, monkeypatch) -> None:
    # a shorter settle time than the default 0.25 s keeps this fast; the writer's pauses between
    # halves are far shorter still (a stall longer than the settle time is the documented limit)
    settle = 0.025
    monkeypatch.setattr(steward.desired.signature, "SETTLE_SECONDS", settle)
    cycles = 250
    fault.inject(f"a process rewriting hosts.yml and host_vars/piha.yml in two halves during {cycles} plan cycles")
    for attempt in (1, 2):
        outcome = _race(tmp_path / f"race{attempt}", monkeypatch, cycles)
        stalled = outcome["longest_torn"] >= settle
        if not (stalled and (outcome["accepted"].count(False) or outcome["errors"])):
            break
        # a torn read got through (accepted, or parsed as broken) while the machine held a file torn
        # past the settle time (a stalled write: hypervisor pause, disk contention): the one case the
        # detection cannot see by design.
        # That race proves nothing either way, so it is run once more; without such a stall any torn
        # read accepted fails the test.
        print(f"race {attempt}: a file stood torn {outcome['longest_torn'] * 1000:.0f} ms (> settle): run again")
    else:
        pytest.skip("both races read a torn file during a write stalled past the settle time (documented limit)")
    settings, accepted = outcome["settings"], outcome["accepted"]
    skipped, errors, drifts, actions = outcome["skipped"], outcome["errors"], outcome["drifts"], outcome["actions"]
    torn = accepted.count(False)
    print(
        f"race: {cycles} cycles, {skipped} skipped (inventory changed while read), {errors} errors, "
        f"{torn} torn desired states accepted, {drifts} drifts, {actions} actions"
    )
    fault.check(torn == 0, f"no torn desired state accepted ({torn} of {len(accepted)})")
    fault.check(actions == 0 and drifts == 0, f"zero actions and drifts from torn reads ({actions}, {drifts})")
    fault.check(errors == 0, f"a read that raced the writer is 'changed', never 'broken' ({errors})")
    fault.check("host_left_inventory" not in journal_types(settings), "no host 'left' the inventory")
    fault.check(skipped > 0, f"torn reads were detected and the cycles skipped ({skipped} of {cycles})")
    reasons = {e.get("reason", "")[:50] for e in journal(settings) if e["type"] == "cycle_skipped"}
    fault.check(all("the inventory " in r for r in reasons), f"skips journaled with the reason: {reasons}")
