"""`ID.diagnosis.json` beside `ID.yml`: the state folder check, the engine, the queue and the executor
treat it as what it is - a text file next to an action, never an action, never a tampered one."""

from __future__ import annotations

import json

import pytest
from diagnose_lab import Lab
from ollama_server import OllamaServer

from steward.diagnose.action import diagnose_action
from steward.diagnose.config import DiagnosisConfig
from steward.diagnose.store import read_diagnosis
from steward.execute.executor import Executor
from steward.plan.engine import Engine
from steward.state.actions import ActionQueue
from steward.state.folder import check_permissions
from steward.state.journal import Journal
from steward.state.paths import recheck


@pytest.fixture
def diagnosed(lab: Lab, server: OllamaServer, config: DiagnosisConfig) -> Lab:
    assert diagnose_action(lab.settings, lab.action_id, config=config, look=lab.look).ok
    assert lab.diagnosis_file.is_file()
    return lab


def _queue(lab: Lab) -> ActionQueue:
    return ActionQueue(lab.settings.paths, Journal(lab.settings.paths.journal))


def test_the_state_folder_check_accepts_it(diagnosed: Lab) -> None:
    check_permissions(diagnosed.settings.state_dir)
    recheck()
    diagnosed.settings.paths.ensure()


def test_the_queue_lists_the_action_once_and_signed(diagnosed: Lab) -> None:
    infos = _queue(diagnosed).list()
    assert [(i.id, i.folder, i.signed) for i in infos] == [(diagnosed.action_id, "pending", True)]


def test_the_engine_keeps_the_action_pending_and_quarantines_nothing(diagnosed: Lab) -> None:
    engine = Engine(diagnosed.settings)
    diagnosed.observe()
    report = engine.plan()
    assert report.new_actions == [] and report.expired == []
    assert diagnosed.pending.is_file() and diagnosed.diagnosis_file.is_file()
    assert list(diagnosed.settings.paths.folder("quarantine").iterdir()) == []


def test_the_engine_still_expires_the_action_when_the_drift_resolves(diagnosed: Lab) -> None:
    engine = Engine(diagnosed.settings)
    expired: list[str] = []
    for _ in range(2):
        diagnosed.observe(mqtt="running")
        expired += engine.plan().expired
    assert expired == [diagnosed.action_id]
    assert (diagnosed.settings.paths.folder("expired") / f"{diagnosed.action_id}.yml").is_file()
    assert (diagnosed.settings.paths.folder("expired") / diagnosed.diagnosis_file.name).is_file()


def test_approve_and_reject_work_with_a_diagnosis_beside(diagnosed: Lab) -> None:
    queue = _queue(diagnosed)
    queue.approve(diagnosed.action_id, via="test")
    assert (diagnosed.settings.paths.folder("approved") / f"{diagnosed.action_id}.yml").is_file()
    queue.reject(diagnosed.action_id, "changed my mind", via="test")
    assert (diagnosed.settings.paths.folder("rejected") / f"{diagnosed.action_id}.yml").is_file()


def test_the_executor_ignores_a_diagnosis_left_in_pending(diagnosed: Lab) -> None:
    report = Executor(diagnosed.settings).run_once()
    assert report.quarantined == [] and report.errors == []
    assert diagnosed.diagnosis_file.is_file() and diagnosed.pending.is_file()


def test_show_finds_the_diagnosis_in_pending_after_a_hand_move(diagnosed: Lab) -> None:
    paths = diagnosed.settings.paths
    diagnosed.pending.rename(paths.folder("approved") / f"{diagnosed.action_id}.yml")  # mv pending/ID.yml approved/
    doc = read_diagnosis(paths, diagnosed.action_id, "approved")
    assert doc is not None and doc["status"] == "ok"


def test_a_diagnosis_file_that_is_a_symlink_is_replaced_not_written_through(
    lab: Lab, server: OllamaServer, config: DiagnosisConfig, tmp_path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    lab.diagnosis_file.symlink_to(outside)
    assert read_diagnosis(lab.settings.paths, lab.action_id)["status"] == "unreadable"
    diagnose_action(lab.settings, lab.action_id, config=config, look=lab.look)
    assert outside.read_text() == "keep me"
    assert not lab.diagnosis_file.is_symlink()
    assert json.loads(lab.diagnosis_file.read_text())["status"] == "ok"


def test_the_diagnosis_moves_with_the_action(diagnosed: Lab) -> None:
    _queue(diagnosed).approve(diagnosed.action_id, via="test")
    moved = diagnosed.settings.paths.folder("approved") / f"{diagnosed.action_id}.diagnosis.json"
    assert moved.is_file() and not diagnosed.diagnosis_file.exists()


def test_the_executor_does_not_quarantine_a_diagnosis_in_approved(diagnosed: Lab) -> None:
    paths = diagnosed.settings.paths
    diagnosed.diagnosis_file.rename(paths.folder("approved") / diagnosed.diagnosis_file.name)
    report = Executor(diagnosed.settings).run_once()
    assert report.quarantined == []
    assert (paths.folder("approved") / diagnosed.diagnosis_file.name).is_file()


def test_reject_carries_the_diagnosis_along(diagnosed: Lab) -> None:
    paths = diagnosed.settings.paths
    _queue(diagnosed).reject(diagnosed.action_id, "not now", via="test")
    assert (paths.folder("rejected") / diagnosed.diagnosis_file.name).is_file()
    assert read_diagnosis(paths, diagnosed.action_id, "rejected")["status"] == "ok"


def test_a_diagnosis_never_overwrites_one_where_the_action_goes(diagnosed: Lab) -> None:
    paths = diagnosed.settings.paths
    there = paths.folder("approved") / diagnosed.diagnosis_file.name
    there.write_text('{"status": "ok", "text": "older"}')
    _queue(diagnosed).approve(diagnosed.action_id, via="test")
    assert there.read_text() == '{"status": "ok", "text": "older"}'
    assert diagnosed.diagnosis_file.is_file()  # left where it was, the action moved all the same
    assert (paths.folder("approved") / f"{diagnosed.action_id}.yml").is_file()


def test_the_executor_gathers_a_diagnosis_a_hand_move_left_in_pending(diagnosed: Lab) -> None:
    paths = diagnosed.settings.paths
    diagnosed.pending.rename(paths.folder("approved") / f"{diagnosed.action_id}.yml")  # mv pending/ID.yml approved/
    Executor(diagnosed.settings).run_once()
    folder, _ = _queue(diagnosed).find(diagnosed.action_id)
    assert not diagnosed.diagnosis_file.exists()
    assert (paths.folder(folder) / diagnosed.diagnosis_file.name).is_file()
    assert read_diagnosis(paths, diagnosed.action_id, folder)["status"] == "ok"
