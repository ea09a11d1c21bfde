"""The whole loop on the real lab: observe -> drift -> pending -> mv approve -> execute -> verified."""

from __future__ import annotations

import json
import os

import pytest

from conftest import lab_docker
from steward.interfaces.cli.main import main

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def cli_json(capsys, *argv: str):
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def journal(settings) -> list[dict]:
    return [json.loads(line) for line in settings.paths.journal.read_text().splitlines()]


def test_stopped_container_becomes_one_approved_verified_action(lab, capsys) -> None:
    settings = lab
    first = cli_json(capsys, "observe")
    assert first["plan"]["drifts"] == [] and first["plan"]["new_actions"] == []
    world = json.loads((settings.paths.world / "piha.json").read_text())
    assert world["reachable"] and {c["name"] for c in world["checks"]["docker"]["containers"]} >= {"mqtt", "homeauto"}

    lab_docker("piha", "stop", "-t", "1", "mqtt")
    seen_once = cli_json(capsys, "observe")
    assert [d["key"] for d in seen_once["plan"]["drifts"]] == ["piha/docker/mqtt/not_running"]
    assert seen_once["plan"]["new_actions"] == []
    confirmed = cli_json(capsys, "observe")
    assert len(confirmed["plan"]["new_actions"]) == 1
    listed = cli_json(capsys, "list")
    assert [(a["folder"], a["key"]) for a in listed] == [("pending", "piha/docker/mqtt/not_running")]
    action_id = listed[0]["id"]

    # approve the way an operator does at 3 a.m.: move the file
    os.rename(
        settings.paths.actions / "pending" / f"{action_id}.yml",
        settings.paths.actions / "approved" / f"{action_id}.yml",
    )
    report = cli_json(capsys, "execute", "--once")
    assert report["succeeded"] == [action_id], report
    result = json.loads((settings.paths.actions / "done" / f"{action_id}.result.json").read_text())
    assert result["status"] == "succeeded" and result["verification"]["verified"] is True
    assert any(t["task"].startswith("Start the existing container") and t["changed"] for t in result["tasks"])
    assert (settings.paths.runs / action_id / "artifacts").is_dir()
    assert lab_docker("piha", "inspect", "-f", "{{.State.Status}}", "mqtt") == "running"

    after = cli_json(capsys, "observe")
    assert after["plan"]["drifts"] == [] and after["plan"]["new_actions"] == []
    types = [(e["type"], e.get("action")) for e in journal(settings) if e.get("action") == action_id]
    assert [t for t, _ in types] == [
        "action_pending",
        "action_approved",
        "action_claimed",
        "action_running",
        "action_succeeded",
        "action_verified",
    ]
    keys = [(e["type"], e.get("key")) for e in journal(settings) if e["type"].startswith("drift_")]
    assert keys == [
        ("drift_detected", "piha/docker/mqtt/not_running"),
        ("drift_resolved", "piha/docker/mqtt/not_running"),
    ]


def test_every_container_of_a_host_down_is_a_storm_until_acknowledged(lab, capsys) -> None:
    for name in ("mqtt", "homeauto"):
        lab_docker("piha", "stop", "-t", "1", name)
    cli_json(capsys, "observe")
    stormy = cli_json(capsys, "observe")
    assert stormy["plan"]["storm"] is True and stormy["plan"]["new_actions"] == []
    assert cli_json(capsys, "list") == []
    assert main(["ack-storm"]) == 0
    cli_json(capsys, "observe")
    keys = sorted(a["key"] for a in cli_json(capsys, "list"))
    assert keys == ["piha/docker/homeauto/not_running", "piha/docker/mqtt/not_running"]
    cli_json(capsys, "observe")
    assert len(cli_json(capsys, "list")) == 2  # still one action per key, no duplicates


def test_hand_dropped_playbook_in_approved_is_quarantined_and_never_run(lab, capsys, tmp_path) -> None:
    settings = lab
    marker = tmp_path / "pwned"
    settings.paths.ensure()
    (settings.paths.actions / "approved" / "20990101T000000Z-piha-mqtt-not_running-0000.yml").write_text(
        f"- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.file: {{path: {marker}, state: touch}}\n"
    )
    capsys.readouterr()
    assert main(["execute", "--once", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["quarantined"] == ["20990101T000000Z-piha-mqtt-not_running-0000"] and report["ran"] == []
    assert not marker.exists()
    assert not (settings.paths.runs / "20990101T000000Z-piha-mqtt-not_running-0000").exists()
