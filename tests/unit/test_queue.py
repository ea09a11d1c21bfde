"""Queue moves and the executor's refusals (nothing here runs a playbook)."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from helpers import Clock, container, journal_types, make_settings, service, write_world
from steward.execute.executor import Executor
from steward.plan.engine import Engine
from steward.plan.playbook import load_playbook
from steward.state.actions import ActionQueue, BadActionId, QueueError
from steward.state.journal import Journal


@pytest.fixture
def planned(tmp_path):
    """Two observations of a stopped container: one signed pending action."""
    settings = make_settings(tmp_path, {"piha": [service("mqtt"), service("homeauto")]})
    clock = Clock()
    for _ in range(2):
        write_world(
            settings, "piha", [container("mqtt", state="exited"), container("homeauto")], observed_at=clock.tick()
        )
        report = Engine(settings).plan()
    (action_id,) = report.new_actions
    queue = ActionQueue(settings.paths, Journal(settings.paths.journal))
    return settings, queue, action_id, clock


def folder_of(settings, action_id):
    return [f.name for f in settings.paths.actions.iterdir() if (f / f"{action_id}.yml").exists()]


def test_approve_and_reject_are_journaled_moves(planned) -> None:
    settings, queue, action_id, _ = planned
    queue.approve(action_id)
    assert folder_of(settings, action_id) == ["approved"]
    with pytest.raises(QueueError, match="only a pending action"):
        queue.approve(action_id)
    with pytest.raises(QueueError, match="needs a reason"):
        queue.reject(action_id, " ")
    queue.reject(action_id, "not tonight")
    assert folder_of(settings, action_id) == ["rejected"]
    result = json.loads((settings.paths.actions / "rejected" / f"{action_id}.result.json").read_text())
    assert result["reason"] == "not tonight"
    assert journal_types(settings)[-2:] == ["action_approved", "action_rejected"]


@pytest.mark.parametrize("bad", ["../etc/passwd", "..", "a/b", "", ".hidden", "x" * 300])
def test_action_ids_cannot_leave_the_queue(planned, bad) -> None:
    _, queue, _, _ = planned
    with pytest.raises(BadActionId):
        queue.approve(bad)


def _run(settings):
    return Executor(settings).run_once()


def test_hand_written_playbook_is_quarantined_and_never_run(planned) -> None:
    settings, _, _, _ = planned
    approved = settings.paths.actions / "approved"
    (approved / "20990101T000000Z-piha-evil.yml").write_text(
        "- hosts: all\n  tasks:\n    - ansible.builtin.command: touch /tmp/steward-pwned\n"
    )
    report = _run(settings)
    assert report.quarantined == ["20990101T000000Z-piha-evil"] and report.ran == []
    assert (settings.paths.actions / "quarantine" / "20990101T000000Z-piha-evil.yml").exists()
    reason = json.loads((settings.paths.actions / "quarantine" / "20990101T000000Z-piha-evil.result.json").read_text())
    assert "no ledger entry" in reason["reason"]
    assert not (settings.paths.runs / "20990101T000000Z-piha-evil").exists()


def test_edited_playbook_is_quarantined(planned) -> None:
    settings, queue, action_id, _ = planned
    queue.approve(action_id)
    path = settings.paths.actions / "approved" / f"{action_id}.yml"
    path.write_text(path.read_text().replace("state: started", "state: absent"))
    report = _run(settings)
    assert report.quarantined == [action_id] and report.ran == []
    assert folder_of(settings, action_id) == ["quarantine"]
    assert "action_quarantined" in journal_types(settings)


def test_renamed_playbook_is_quarantined(planned) -> None:
    settings, _, action_id, _ = planned
    src = settings.paths.actions / "pending" / f"{action_id}.yml"
    os.rename(src, settings.paths.actions / "approved" / "20990101T000000Z-piha-mqtt-renamed.yml")
    assert _run(settings).quarantined == ["20990101T000000Z-piha-mqtt-renamed"]


def test_symlink_and_odd_files_in_approved_are_quarantined_target_untouched(planned, tmp_path) -> None:
    settings, _, _, _ = planned
    outside = tmp_path / "outside.yml"
    outside.write_text("precious\n")
    approved = settings.paths.actions / "approved"
    (approved / "link.yml").symlink_to(outside)
    (approved / "notes.txt").write_text("hi")
    report = _run(settings)
    assert sorted(report.quarantined) == ["link.yml", "notes.txt"]
    assert outside.read_text() == "precious\n"
    assert sorted(p.name for p in approved.iterdir()) == []
    assert any(p.is_symlink() for p in (settings.paths.actions / "quarantine").iterdir())


def test_replayed_action_is_quarantined(planned) -> None:
    settings, queue, action_id, _ = planned
    queue.reject(action_id, "no")
    text = (settings.paths.actions / "rejected" / f"{action_id}.yml").read_bytes()
    (settings.paths.actions / "approved" / f"{action_id}.yml").write_bytes(text)
    report = _run(settings)
    assert report.quarantined == [action_id]
    assert (
        "already ended"
        in json.loads((settings.paths.actions / "quarantine" / f"{action_id}.result.json").read_text())["reason"]
    )
    assert (settings.paths.actions / "rejected" / f"{action_id}.yml").exists()  # the original is untouched


def test_a_plan_the_look_before_running_cannot_confirm_is_expired_not_run(planned) -> None:
    settings, queue, action_id, clock = planned
    queue.approve(action_id)
    # the executor looks at piha right before running; piha does not resolve here: unreachable
    report = _run(settings)
    assert report.expired == [action_id] and report.ran == []
    result = json.loads((settings.paths.actions / "expired" / f"{action_id}.result.json").read_text())
    assert "cannot confirm the drift on a look taken now" in result["reason"]


def test_stale_reasons_on_the_look_taken_before_running(planned) -> None:
    from helpers import world_doc
    from steward.desired.cached import load_desired_cached
    from steward.execute.judge import stale_reason
    from steward.state.journal import utcnow

    settings, queue, action_id, clock = planned
    playbook = (settings.paths.actions / "pending" / f"{action_id}.yml").read_text()
    meta = load_playbook(playbook.encode())[0][0]["vars"]["steward_action"]
    desired = load_desired_cached(settings.inventory)
    recovered = world_doc("piha", [container("mqtt"), container("homeauto")], observed_at=clock.tick())
    assert "no longer holds" in stale_reason(meta, desired, recovered, utcnow())
    still = world_doc("piha", [container("mqtt", state="exited"), container("homeauto")], observed_at=clock.tick())
    assert stale_reason(meta, desired, still, utcnow()) is None
    older = world_doc(
        "piha", [container("mqtt", state="exited"), container("homeauto")], observed_at=clock.t.replace(year=2000)
    )
    assert "older than the plan's evidence" in stale_reason(meta, desired, older, utcnow())


def test_unusable_world_means_the_executor_runs_nothing(planned) -> None:
    settings, queue, action_id, _ = planned
    queue.approve(action_id)
    (settings.paths.world / "piha.json").write_text('{"schema": 1, "host": "pi')
    report = _run(settings)
    assert report.skipped_reason and report.ran == []
    assert folder_of(settings, action_id) == ["approved"]


def test_leftover_in_running_becomes_failed_interrupted_and_is_not_rerun(planned) -> None:
    settings, queue, action_id, _ = planned
    os.rename(
        settings.paths.actions / "pending" / f"{action_id}.yml", settings.paths.actions / "running" / f"{action_id}.yml"
    )
    report = _run(settings)
    assert report.interrupted == [action_id] and report.ran == []
    result = json.loads((settings.paths.actions / "failed" / f"{action_id}.result.json").read_text())
    assert result["status"] == "interrupted"
    assert "action_interrupted" in journal_types(settings)


def test_running_action_held_by_a_live_executor_is_not_recovered(planned) -> None:
    settings, _, action_id, _ = planned
    os.rename(
        settings.paths.actions / "pending" / f"{action_id}.yml", settings.paths.actions / "running" / f"{action_id}.yml"
    )
    owner = Executor(settings)
    with owner._lock(action_id) as mine:  # what a live executor holds while it runs the action
        assert mine
        assert Executor(settings).recover() == []
        assert folder_of(settings, action_id) == ["running"]
    assert Executor(settings).recover() == [action_id]


def test_a_second_replay_is_quarantined_too_and_the_executor_carries_on(planned) -> None:
    settings, queue, action_id, _ = planned
    queue.reject(action_id, "no")
    text = (settings.paths.actions / "rejected" / f"{action_id}.yml").read_bytes()
    for _ in range(2):
        (settings.paths.actions / "approved" / f"{action_id}.yml").write_bytes(text)
        report = _run(settings)
        assert report.quarantined == [action_id] and report.errors == []
    assert len(list((settings.paths.actions / "quarantine").glob(f"{action_id}*.yml"))) == 2
    assert _run(settings).interrupted == []  # nothing stuck in running/


def test_a_plan_past_its_ttl_expires_without_a_look(tmp_path) -> None:
    inv = tmp_path / "hosts.yml"
    inv.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "vars": {"steward_policy": {"action_ttl": 1}},
                    "hosts": {"piha": {"steward_services": [service("mqtt")]}},
                }
            }
        )
    )
    from helpers import REPO
    from steward.state.settings import Settings

    settings = Settings(project_dir=REPO, inventory=inv, state_dir=tmp_path / "state")
    settings.paths.ensure()
    clock = Clock()
    for _ in range(2):
        write_world(settings, "piha", [container("mqtt", state="exited")], observed_at=clock.tick())
        report = Engine(settings).plan()
    (action_id,) = report.new_actions
    ActionQueue(settings.paths, Journal(settings.paths.journal)).approve(action_id)
    import time

    time.sleep(1.2)
    report = _run(settings)
    assert report.expired == [action_id] and report.ran == []
    assert (
        "TTL passed"
        in json.loads((settings.paths.actions / "expired" / f"{action_id}.result.json").read_text())["reason"]
    )
    assert "observe_completed" not in journal_types(settings)  # no look spent on it


def test_with_the_hourly_budget_used_up_no_look_is_spent(planned) -> None:
    from datetime import UTC, datetime

    settings, queue, action_id, _ = planned
    queue.approve(action_id)
    stamps = [datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")] * 30
    (settings.paths.engine / "runs_last_hour.json").write_text(json.dumps(stamps))
    for _ in range(3):
        report = _run(settings)
        assert report.deferred == [action_id]
    assert folder_of(settings, action_id) == ["approved"]
    assert "observe_completed" not in journal_types(settings)


def test_a_look_that_crashes_defers_the_action_and_backs_off(planned) -> None:
    settings, queue, action_id, _ = planned
    queue.approve(action_id)
    # the fault: the observe run cannot even start (its artifacts folder is taken by a file)
    settings.paths.runs.mkdir(parents=True, exist_ok=True)
    (settings.paths.runs / "observe").write_text("not a folder\n")
    executor = Executor(settings)
    for _ in range(3):
        report = executor.run_once()
        assert report.deferred == [action_id] and report.ran == []
    events = [json.loads(line) for line in settings.paths.journal.read_text().splitlines()]
    # claimed (and looked at) once, then it backs off instead of looking on every pass
    assert [e["type"] for e in events].count("action_claimed") == 1
    assert folder_of(settings, action_id) == ["approved"]
    deferred = [e for e in events if e["type"] == "action_deferred"]
    assert "could not look at piha before running" in deferred[0]["reason"]
    assert "FileExistsError" in deferred[0]["reason"]


def test_a_decision_waits_for_an_executor_that_holds_the_action(planned) -> None:
    """Reject (or the engine's expiry) racing a claim: refused while the executor holds the action's
    lock, and no end record is written that the action would then contradict."""
    from steward.core.locks import try_exclusive

    settings, queue, action_id, _ = planned
    queue.approve(action_id)
    with try_exclusive(settings.paths.locks / f"{action_id}.lock") as mine:
        assert mine
        with pytest.raises(QueueError, match="being checked or run by an executor"):
            queue.reject(action_id, "not tonight")
        with pytest.raises(QueueError, match="being checked or run by an executor"):
            queue.expire_pending(action_id, "TTL")
    assert queue.ended(action_id) is None and folder_of(settings, action_id) == ["approved"]
    queue.reject(action_id, "not tonight")
    assert queue.ended(action_id)["state"] == "rejected"


def test_ids_and_names_with_a_trailing_newline_are_refused(planned) -> None:
    _, queue, action_id, _ = planned
    with pytest.raises(BadActionId):
        queue.approve(action_id + "\n")
