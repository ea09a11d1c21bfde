"""The executor under crashes, races and full disks: every action runs at most once, no file is lost.

The hosts are local-connection hosts whose Docker engine is a unix-socket HTTP server answering
like dockerd (recorded answers: container `crashed` is exited), so observe.yml, the drift engine
and the executor all run for real through ansible-runner; the remediation task is a marker that
records each run (and can be slowed down to be killed in the middle).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from _docker_server import FakeEngine, load_engine

from helpers import REPO, Clock, all_files, container, journal_types, service, write_inventory, write_world
from steward.ansible.observe import observe
from steward.areas import docker as docker_area
from steward.core.atomic import atomic_write_json
from steward.plan.engine import Engine
from steward.state.journal import Journal
from steward.state.settings import Settings

pytestmark = pytest.mark.slow
IMAGE = "steward/busybox:test"


MARKER_REMEDY = """
from steward.core.model import Remedy

MODULES = ("ansible.builtin.shell",)


def remediation(d, desired):
    cmd = "echo {{{{ steward_action.id }}}} >> {marker}; sleep {sleep}; exit {rc}"
    return Remedy(
        what="record the run",
        modules="ansible.builtin.shell",
        tasks=[{{"name": "Record this run", "ansible.builtin.shell": cmd, "changed_when": True}}],
    )
"""


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    """N local hosts, each wanting container `crashed` running; the engine says it is exited."""
    engine = FakeEngine(str(tmp_path / "docker.sock"))
    engine.serve_engine(load_engine())
    marker = tmp_path / "runs.log"

    def make(n_hosts: int, sleep: int = 0, rc: int = 0, **policy) -> Settings:
        hosts = {
            f"node{i}": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "steward_docker_host": engine.docker_host,
                "steward_services": [{"name": "crashed", "image": IMAGE}],
            }
            for i in range(n_hosts)
        }
        pol = {"storm_max_actions": 100, "storm_host_fraction": 1.0, **policy}
        inv = tmp_path / "hosts.yml"
        inv.write_text(yaml.safe_dump({"all": {"vars": {"steward_policy": pol}, "hosts": hosts}}))
        settings = Settings(project_dir=REPO, inventory=inv, state_dir=tmp_path / "state")
        settings.paths.ensure()

        # the remediation every executor uses, in-process and in `steward execute` subprocesses
        (tmp_path / "marker_remedy.py").write_text(MARKER_REMEDY.format(marker=str(marker), sleep=sleep, rc=rc))
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.setenv("STEWARD_TEST_REMEDY_DIR", str(tmp_path))
        sys.modules.pop("marker_remedy", None)
        import marker_remedy

        monkeypatch.setattr(docker_area, "remediation", marker_remedy.remediation)
        monkeypatch.setattr(docker_area, "REMEDY_MODULES", marker_remedy.MODULES)
        journal = Journal(settings.paths.journal)
        for _ in range(2):
            observe(settings, journal)
            report = Engine(settings, journal).plan()
        assert len(report.new_actions) == n_hosts, report
        for action in report.new_actions:
            os.rename(
                settings.paths.actions / "pending" / f"{action}.yml",
                settings.paths.actions / "approved" / f"{action}.yml",
            )
        return settings

    make.engine = engine  # type: ignore[attr-defined]  # a test may change what the engine answers
    yield make, marker
    engine.close()


# `steward execute` in a process of its own, with the fixture's marker remedy as the docker area's
# remediation (the fixture's monkeypatch does not reach a subprocess)
EXECUTE = (
    "import os, sys; sys.path.insert(0, os.environ['STEWARD_TEST_REMEDY_DIR']); import marker_remedy; "
    "import importlib; d = importlib.import_module('steward.areas.docker.containers'); "
    "d.remediation = marker_remedy.remediation; "
    "d.REMEDY_MODULES = marker_remedy.MODULES; "
    "from steward.interfaces.cli.main import main; sys.exit(main(sys.argv[1:]))"
)


def executor(settings: Settings, *args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "STEWARD_STATE_DIR": str(settings.state_dir),
        "STEWARD_INVENTORY": str(settings.inventory),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    return subprocess.Popen(
        [sys.executable, "-c", EXECUTE, "execute", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def where(settings: Settings, action: str) -> list[str]:
    return sorted(f.name for f in settings.paths.actions.iterdir() if (f / f"{action}.yml").exists())


def test_two_executors_at_once_run_each_action_exactly_once(fleet, fault) -> None:
    make, marker = fleet
    settings = make(6)
    actions = [p.stem for p in (settings.paths.actions / "approved").glob("*.yml")]
    fault.inject(f"two executors started at once on {len(actions)} approved actions")
    procs = [executor(settings, "--once") for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    runs = marker.read_text().split()
    fault.check(sorted(runs) == sorted(actions), f"each action ran exactly once ({len(runs)} runs)")
    running_events = [
        e for e in map(json.loads, settings.paths.journal.read_text().splitlines()) if e["type"] == "action_running"
    ]
    fault.check(sorted(e["action"] for e in running_events) == sorted(actions), "one action_running each")
    fault.check(len({e["pid"] for e in running_events}) == 2, f"both executors took work: {outputs}")
    for action in actions:
        fault.check(where(settings, action) == ["done"], f"{action} is in done/ only")
    # the marker 'fix' did not fix anything: the verification says so and backoff applies
    fault.check(journal_types(settings).count("action_not_fixed") == len(actions), "every run verified as not fixed")


def test_sigkill_mid_playbook_leaves_action_failed_interrupted_and_never_reruns(fleet, fault) -> None:
    make, marker = fleet
    settings = make(1, sleep=60)
    (action,) = [p.stem for p in (settings.paths.actions / "approved").glob("*.yml")]
    before = all_files(settings.state_dir)
    proc = executor(settings, "--once")
    deadline = time.time() + 120
    while not (marker.exists() and marker.read_text().strip()) and time.time() < deadline:
        time.sleep(0.2)
    assert marker.exists(), proc.communicate(timeout=5)[0] if proc.poll() is not None else "no run started"
    os.killpg(proc.pid, signal.SIGKILL)  # the executor and the ansible-playbook it started
    proc.wait(timeout=30)
    fault.inject("SIGKILL to the executor (and its playbook) in the middle of a run")
    fault.check(where(settings, action) == ["running"], "the action is left in running/")
    restart = executor(settings, "--once")
    out = restart.communicate(timeout=120)[0]
    fault.check(where(settings, action) == ["failed"], f"on restart it moved to failed/: {out}")
    result = json.loads((settings.paths.actions / "failed" / f"{action}.result.json").read_text())
    fault.check(result["status"] == "interrupted", "its result says interrupted")
    fault.check(marker.read_text().split() == [action], "it was not re-run")
    fault.check(before - {f"actions/approved/{action}.yml"} <= all_files(settings.state_dir), "no file vanished")


def test_rate_limit_defers_runs_beyond_the_hourly_budget(fleet, fault) -> None:
    make, marker = fleet
    settings = make(3, max_runs_per_hour=2)
    fault.inject("3 approved actions, budget of 2 runs per hour")
    out = executor(settings, "--once").communicate(timeout=300)[0]
    fault.check(len(marker.read_text().split()) == 2, f"two ran: {out}")
    approved = list((settings.paths.actions / "approved").glob("*.yml"))
    fault.check(len(approved) == 1, "the third waits in approved/")
    fault.check(journal_types(settings).count("action_deferred") == 1, "deferral journaled once")


def test_a_container_that_recovered_after_approval_is_not_acted_on(fleet, fault) -> None:
    make, marker = fleet
    settings = make(1)
    recovered = load_engine()
    for entry in recovered["containers_json"]:
        if entry["Names"] == ["/crashed"]:
            entry["State"], entry["Status"] = "running", "Up 3 seconds"
    for doc in recovered["inspect"].values():
        if doc["Name"] == "/crashed":
            doc["State"].update(Status="running", Running=True, ExitCode=0)
    make.engine.serve_engine(recovered)
    fault.inject("container `crashed` recovered after the plan was approved; the last world file still says exited")
    out = executor(settings, "--once").communicate(timeout=300)[0]
    fault.check(not marker.exists(), f"nothing ran: {out}")
    expired = list((settings.paths.actions / "expired").glob("*.result.json"))
    fault.check(len(expired) == 1, "the plan expired")
    reason = json.loads(expired[0].read_text())["reason"] if expired else ""
    fault.check("no longer holds on a look taken now" in reason, f"judged on a look taken now: {reason}")


def test_symlinked_queue_folder_is_refused_and_nothing_outside_is_touched(fleet, fault, tmp_path) -> None:
    make, marker = fleet
    settings = make(1)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "victim.yml").write_text("- hosts: all\n  tasks: []\n")
    approved = settings.paths.actions / "approved"
    os.rename(approved, tmp_path / "approved.moved")
    approved.symlink_to(outside)
    fault.inject("actions/approved replaced by a symlink to a folder outside the state dir")
    out, _ = executor(settings, "--once").communicate(timeout=120)
    fault.check("symlink" in out, "the executor refuses with the reason")
    fault.check(sorted(p.name for p in outside.iterdir()) == ["victim.yml"], "nothing outside was touched")
    fault.check(not marker.exists(), "nothing ran")


def test_full_filesystem_keeps_the_previous_file_and_shows_nothing_half_written(tmp_path, fault) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], check=True)
    mounts = [mnt]
    try:
        world = mnt / "world" / "piha.json"
        atomic_write_json(world, {"schema": 1, "host": "piha", "note": "previous, complete"})
        previous = world.read_bytes()
        (mnt / "filler").write_bytes(b"\0" * (200 * 1024))
        big = {"schema": 1, "host": "piha", "blob": "x" * (100 * 1024)}
        fault.inject("ENOSPC while writing a 100 KiB world file")
        with pytest.raises(OSError) as err:
            atomic_write_json(world, big)
        fault.check(err.value.errno == 28, "the error is reported (ENOSPC)")
        fault.check(world.read_bytes() == previous, "the previous file is intact")
        fault.check(sorted(p.name for p in world.parent.iterdir()) == ["piha.json"], "no temp file left behind")
        # the engine writing a pending playbook into a full pending/ (its own full tmpfs, so the
        # failure happens exactly there and not earlier in the cycle): an error, no half file
        settings = Settings(
            project_dir=REPO,
            inventory=write_inventory(tmp_path / "hosts.yml", {"piha": [service("mqtt")]}),
            state_dir=tmp_path / "state",
        )
        settings.paths.ensure()
        pending = settings.paths.folder("pending")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(pending)], check=True)
        mounts.append(pending)
        (pending / ".filler").write_bytes(b"\0" * 4096)
        clock = Clock()
        engine = Engine(settings)
        write_world(settings, "piha", [container("mqtt", state="exited")], observed_at=clock.tick())
        engine.plan()
        write_world(settings, "piha", [container("mqtt", state="exited")], observed_at=clock.tick())
        fault.inject("ENOSPC while the engine writes a pending playbook")
        with pytest.raises(OSError) as err:
            engine.plan()
        fault.check(err.value.errno == 28, "the error is reported (ENOSPC)")
        fault.check([p.name for p in pending.iterdir()] == [".filler"], "nothing half-written in pending/")
        fault.check(any(settings.paths.ledger.iterdir()), "it failed at the pending write (the ledger was written)")
        (pending / ".filler").unlink()
        fault.check(len(engine.plan().new_actions) == 1, "with space again, the next cycle writes the action")
    finally:
        for m in reversed(mounts):
            subprocess.run(["umount", str(m)], check=False)


def mutate(text: str, change) -> str:
    """The playbook with its one play changed by `change(play)`, dumped the way the engine dumps it."""
    from steward.plan.playbook import dump_play, load_playbook

    ((play,),) = load_playbook(text.encode())
    change(play)
    return text.split("\n---\n", 1)[0] + "\n---\n" + dump_play(play)


def _run_once(settings: Settings):
    from steward.execute.executor import Executor

    return Executor(settings).run_once()


@pytest.mark.parametrize(
    ("ended", "name"),
    [("done", "same"), ("failed", "same"), ("rejected", "same"), ("expired", "same"), ("done", "new")],
)
def test_a_decided_action_moved_back_to_approved_never_runs_again(fleet, fault, ended, name) -> None:
    """Issue 10, Why 1: `mv done/X.yml approved/` ran X a second time; a rejection was overridden."""
    from steward.state.actions import ActionQueue

    make, marker = fleet
    settings = make(1, rc=1 if ended == "failed" else 0)
    (action,) = [p.stem for p in (settings.paths.actions / "approved").glob("*.yml")]
    queue = ActionQueue(settings.paths, Journal(settings.paths.journal))
    if ended in ("done", "failed"):
        report = _run_once(settings)
        assert report.ran == [action], report
    elif ended == "rejected":
        queue.reject(action, "not tonight", via="test")
    else:  # what the engine does when the TTL passes or the drift resolves
        queue.move(action, "approved", "expired", "action_expired", result={"status": "expired", "reason": "TTL"})
    assert where(settings, action) == [ended]
    runs_before = marker.read_text() if marker.exists() else ""
    copy = action if name == "same" else f"{action}-again"
    os.rename(settings.paths.actions / ended / f"{action}.yml", settings.paths.actions / "approved" / f"{copy}.yml")
    fault.inject(f"mv {ended}/{action}.yml approved/{copy}.yml")
    report = _run_once(settings)
    fault.check(report.ran == [] and report.quarantined == [copy], f"quarantined, not run: {report}")
    fault.check((marker.read_text() if marker.exists() else "") == runs_before, "the marker file is unchanged")
    results = [json.loads(p.read_text()) for p in (settings.paths.actions / "quarantine").glob("*.result.json")]
    reason = results[0]["reason"] if results else ""
    expected = "already ended" if name == "same" else "no ledger entry"
    fault.check(expected in reason, f"the reason says why: {reason}")
    if name == "same":  # `steward approve` refuses it too, wherever it is put back
        os.rename(
            next((settings.paths.actions / "quarantine").glob(f"{action}*.yml")),
            settings.paths.actions / "pending" / f"{action}.yml",
        )
        with pytest.raises(Exception, match="already ended"):
            queue.approve(action)


def test_a_signed_playbook_of_the_wrong_shape_is_quarantined_not_run(fleet, fault, tmp_path) -> None:
    """Issue 9, What must exist 6: the executor judges the shape, not only the signature."""
    from steward.state.actions import ActionQueue

    make, marker = fleet
    settings = make(1)
    (action,) = [p.stem for p in (settings.paths.actions / "approved").glob("*.yml")]
    queue = ActionQueue(settings.paths, Journal(settings.paths.journal))
    entry = queue.ledger.entry(action)
    original = (settings.paths.actions / "approved" / f"{action}.yml").read_text()
    outside = tmp_path / "outside-marker"
    variants = {
        "delegate_to": original.replace("changed_when: true", "changed_when: true\n    delegate_to: localhost"),
        "second play": original + f"- hosts: localhost\n  tasks:\n  - ansible.builtin.shell: touch {outside}\n",
        "second document": original
        + f"---\n- hosts: localhost\n  tasks:\n  - ansible.builtin.shell: touch {outside}\n",
        "other host": original.replace(f"hosts: {entry['host']}", "hosts: localhost"),
        "include": original.replace("  tasks:\n", f"  tasks:\n  - ansible.builtin.include_tasks: {outside}.yml\n"),
        "foreign module": original.replace("ansible.builtin.shell:", "ansible.builtin.raw:"),
        "changed_when expression": original.replace(
            "changed_when: true", f"changed_when: lookup('ansible.builtin.pipe', 'touch {outside}') is string"
        ),
        "template delimiters override": mutate(
            original,
            lambda play: play["tasks"][0].update(
                {"ansible.builtin.shell": f"#jinja2: variable_start_string: '[['\n[[ x ]] touch {outside}"}
            ),
        ),
        "plain name": original.replace("- name: !unsafe", "- name:"),
    }
    # signed, the right shape, the area's module - but not the arguments the inventory gives
    other_args = {"other command": original.replace(f">> {marker}", f">> {outside}")}
    os.rename(settings.paths.actions / "approved" / f"{action}.yml", tmp_path / "kept.yml")
    for n, (what, text) in enumerate(variants.items()):
        assert text != original, what
        meta = {k: entry[k] for k in entry if k != "hmac"}
        new_id = f"{action}-{n}"
        text = text.replace(action, new_id)
        queue.write_pending(new_id, text, {**meta, "id": new_id})  # signed with the engine's own key
        queue.approve(new_id)
        fault.inject(f"engine-signed playbook with {what}")
        report = _run_once(settings)
        fault.check(report.quarantined == [new_id] and report.ran == [], f"{what}: quarantined, not run ({report})")
        reason = json.loads((settings.paths.actions / "quarantine" / f"{new_id}.result.json").read_text())["reason"]
        fault.check("not the shape of a Steward remedy" in reason, f"{what}: {reason}")
    for n, (what, text) in enumerate(other_args.items(), start=len(variants)):
        assert text != original, what
        meta = {k: entry[k] for k in entry if k != "hmac"}
        new_id = f"{action}-{n}"
        queue.write_pending(new_id, text.replace(action, new_id), {**meta, "id": new_id})
        queue.approve(new_id)
        fault.inject(f"engine-signed playbook with {what}")
        report = _run_once(settings)
        fault.check(report.expired == [new_id] and report.ran == [], f"{what}: not run ({report})")
        reason = json.loads((settings.paths.actions / "expired" / f"{new_id}.result.json").read_text())["reason"]
        fault.check("not the remedy the inventory gives" in reason, f"{what}: {reason}")
    fault.check(not marker.exists() and not outside.exists(), "nothing ran, nothing outside was touched")
