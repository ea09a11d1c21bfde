"""Compose projects and standalone containers on the real lab, with the real compose binary (issue 13).

The lab's saturn runs the Compose project lab/inventory/services/homeauto (deployed by
playbooks/deploy.yml). Each test works on a copy of the lab inventory in its own folder, so it
can edit a compose file or the inventory without touching the repository; the next test's
deploy puts the lab back.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import LAB_INVENTORY, lab_docker
from steward.interfaces.cli.main import main

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def inventory_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = tmp_path / "inventory"
    shutil.copytree(LAB_INVENTORY.parent, copy)
    monkeypatch.setenv("STEWARD_INVENTORY", str(copy / "hosts.yml"))
    return copy


def edit_hosts(inventory: Path, host: str, **host_vars: Any) -> None:
    path = inventory / "hosts.yml"
    doc = yaml.safe_load(path.read_text())
    doc["all"]["children"]["lab"]["hosts"][host].update(host_vars)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def inspect(host: str, name: str) -> dict[str, Any]:
    return json.loads(lab_docker(host, "inspect", name))[0]


def pending(settings: Any) -> list[Path]:
    return sorted((settings.paths.actions / "pending").glob("*.yml"))


def test_an_edited_env_value_recreates_that_one_service_and_keeps_its_data_and_the_others(
    lab: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = lab
    inv = inventory_copy(tmp_path, monkeypatch)
    assert cli_json(capsys, "observe")["plan"]["drifts"] == []  # the deployed project is in sync
    world = json.loads((settings.paths.world / "saturn.json").read_text())["checks"]["docker"]
    assert world["compose"] == {"status": "ok", "version": "2.40.3", "error": None}  # asked: saturn has projects
    assert "compose" not in json.loads((settings.paths.world / "piha.json").read_text())["checks"]["docker"]
    lab_docker("saturn", "exec", "homeauto-broker-1", "sh", "-c", "echo kept > /data/written-by-the-service")
    dash_id = inspect("saturn", "homeauto-dash-1")["Id"]

    compose = inv / "services" / "homeauto" / "compose.yml"
    compose.write_text(compose.read_text().replace("TZ: Europe/Berlin", "TZ: Europe/Lisbon"))
    first = cli_json(capsys, "observe")
    assert [d["key"] for d in first["plan"]["drifts"]] == ["saturn/compose/homeauto.broker/config_changed"]
    assert cli_json(capsys, "observe")["plan"]["new_actions"] != []
    (playbook,) = pending(settings)
    text = playbook.read_text()
    assert "# What drifted : service homeauto.broker runs another config than services/homeauto" in text
    assert "environment.TZ" in text
    assert "Lisbon" not in text and "Berlin" not in text, "no environment value in a pending playbook"
    assert "community.docker.docker_compose_v2" in text and "- broker" in text and "down" not in text

    # the dry run beside it (never inside the signed file): a recreate of that one container
    action_id = playbook.stem
    dry_run = json.loads(playbook.with_name(f"{action_id}.preview.json").read_text())
    assert dry_run["error"] is None, dry_run
    assert [(a["status"], a["id"]) for a in dry_run["actions"]] == [("Recreate", "homeauto-broker-1")], dry_run
    shown = cli_json(capsys, "show", action_id)
    assert shown["preview"]["actions"] == dry_run["actions"]

    os.rename(playbook, settings.paths.actions / "approved" / playbook.name)
    report = cli_json(capsys, "execute", "--once")
    assert report["succeeded"] == [action_id], report
    result = json.loads((settings.paths.actions / "done" / f"{action_id}.result.json").read_text())
    assert result["verification"]["verified"] is True
    assert (settings.paths.actions / "done" / f"{action_id}.preview.json").is_file(), "carried along"

    broker = inspect("saturn", "homeauto-broker-1")
    assert "TZ=Europe/Lisbon" in broker["Config"]["Env"]
    assert [m["Destination"] for m in broker["Mounts"]] == ["/data"]
    assert lab_docker("saturn", "exec", "homeauto-broker-1", "cat", "/data/written-by-the-service") == "kept"
    assert inspect("saturn", "homeauto-dash-1")["Id"] == dash_id, "the project's other service was not touched"
    assert cli_json(capsys, "observe")["plan"]["drifts"] == []


WEB = "webx"
RUN = [
    "run", "-d", "--name", WEB, "--network", "none",
    "-v", "/tmp/steward-lab-www:/var/www", "-e", "TZ=Europe/Berlin", "-e", "SECRET=hunter2", "--label", "owner=me",
    "steward-lab/busybox:1", "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait; done",
]  # fmt: skip


@pytest.fixture
def webx(lab: Any) -> Any:
    """A standalone container made the ordinary way (`docker run -v -e --label`), and a newer image tag."""
    Path("/tmp/steward-lab-www").mkdir(exist_ok=True)
    lab_docker("piha", "rm", "-f", WEB)
    lab_docker("piha", *RUN)
    lab_docker("piha", "tag", "steward-lab/busybox:1", "steward-lab/busybox:2")
    yield lab
    lab_docker("piha", "rm", "-f", WEB)


def piha_containers(inv: Path) -> list[dict[str, Any]]:
    doc = yaml.safe_load((inv / "hosts.yml").read_text())
    return list(doc["all"]["children"]["lab"]["hosts"]["piha"]["steward_containers"])


def test_an_image_bump_of_a_container_with_config_the_inventory_does_not_name_recreates_nothing(
    webx: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = webx
    inv = inventory_copy(tmp_path, monkeypatch)
    entry = {"name": WEB, "image": "steward-lab/busybox:2", "network_mode": "none"}
    edit_hosts(inv, "piha", steward_containers=[*piha_containers(inv), entry])
    cli_json(capsys, "observe")
    second = cli_json(capsys, "observe")
    (drift,) = second["plan"]["drifts"]
    assert drift["key"] == f"piha/docker/{WEB}/wrong_image" and drift["notice_only"] is True
    assert (
        "recreating webx would drop mount /tmp/steward-lab-www:/var/www, env SECRET and TZ, label owner"
        in drift["summary"]
    )
    assert second["plan"]["new_actions"] == [] and pending(settings) == []
    after = inspect("piha", WEB)
    assert after["Config"]["Labels"]["owner"] == "me" and "SECRET=hunter2" in after["Config"]["Env"]


def test_a_container_the_inventory_describes_whole_is_recreated_with_all_of_it(
    webx: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = webx
    inv = inventory_copy(tmp_path, monkeypatch)
    entry = {
        "name": WEB,
        "image": "steward-lab/busybox:2",
        "network_mode": "none",
        "command": RUN[-3:],
        "volumes": ["/tmp/steward-lab-www:/var/www"],
        "env": {"TZ": "Europe/Berlin", "SECRET": "hunter2"},
        "labels": {"owner": "me"},
    }
    edit_hosts(inv, "piha", steward_containers=[*piha_containers(inv), entry])
    cli_json(capsys, "observe")
    assert cli_json(capsys, "observe")["plan"]["new_actions"] != []
    (playbook,) = pending(settings)
    assert "hunter2" not in playbook.read_text() and "Europe/Berlin" not in playbook.read_text()
    os.rename(playbook, settings.paths.actions / "approved" / playbook.name)
    report = cli_json(capsys, "execute", "--once")
    assert report["succeeded"] == [playbook.stem], report

    after = inspect("piha", WEB)
    assert after["Config"]["Image"] == "steward-lab/busybox:2"
    assert [(m["Source"], m["Destination"]) for m in after["Mounts"]] == [("/tmp/steward-lab-www", "/var/www")]
    assert {"TZ=Europe/Berlin", "SECRET=hunter2"} <= set(after["Config"]["Env"])
    assert after["Config"]["Labels"]["owner"] == "me"


def test_a_compose_file_with_a_syntax_error_stops_the_cycle_naming_the_file(
    lab: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = lab
    inv = inventory_copy(tmp_path, monkeypatch)
    compose = inv / "services" / "homeauto" / "compose.yml"
    compose.write_text(compose.read_text().replace("  dash:\n", "  dash: [\n"))
    capsys.readouterr()
    assert main(["plan"]) == 2
    err = capsys.readouterr().err
    assert "saturn" in err and "steward_compose_projects[0] (homeauto).src" in err and str(compose) in err
    assert pending(settings) == []


def test_a_dry_run_of_another_kind_right_before_the_run_expires_the_plan_with_both(
    lab: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = lab
    inv = inventory_copy(tmp_path, monkeypatch)
    compose = inv / "services" / "homeauto" / "compose.yml"
    cli_json(capsys, "observe")
    compose.write_text(compose.read_text().replace("TZ: Europe/Berlin", "TZ: Europe/Lisbon"))
    cli_json(capsys, "observe")
    cli_json(capsys, "observe")
    (playbook,) = pending(settings)
    stored = playbook.with_name(f"{playbook.stem}.preview.json")
    written = json.loads(stored.read_text())
    # what the dry run said when it was written, as if the project had been another then
    written["actions"] = [{"what": "container", "id": "homeauto-broker-1", "status": "Starting"}]
    stored.write_text(json.dumps(written))
    broker_id = inspect("saturn", "homeauto-broker-1")["Id"]

    os.rename(playbook, settings.paths.actions / "approved" / playbook.name)
    report = cli_json(capsys, "execute", "--once")
    assert report["expired"] == [playbook.stem] and report["ran"] == []
    result = json.loads((settings.paths.actions / "expired" / f"{playbook.stem}.result.json").read_text())
    assert "the dry run now says Recreate homeauto-broker-1" in result["reason"]
    assert "when the action was written it said Starting homeauto-broker-1" in result["reason"]
    assert inspect("saturn", "homeauto-broker-1")["Id"] == broker_id, "nothing ran"
