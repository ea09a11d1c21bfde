"""steward_compose_projects read with the real compose binary, and its drift against world files (issue 13)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import container, world_doc
from steward.areas.docker.compose import AREA
from steward.areas.docker.compose_hash import HASHES
from steward.desired.cached import load_desired_cached
from steward.desired.errors import DesiredStateError
from steward.desired.inventory import load_desired
from steward.plan.drift import compute_drift

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="docker CLI missing (scripts/bootstrap.sh)")

COMPOSE = """\
services:
  broker:
    image: steward-lab/busybox:1
    command: ["sleep", "infinity"]
    environment:
      TZ: Europe/Berlin
    volumes:
      - ./data:/data
    healthcheck:
      test: ["CMD", "true"]
  dash:
    image: steward-lab/busybox:1
    command: ["sleep", "infinity"]
"""


def inventory(tmp_path: Path, compose: str = COMPOSE, **entry: Any) -> Path:
    folder = tmp_path / "services" / "home"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "compose.yml").write_text(compose)
    project = {"name": "home", "src": "services/home", **entry}
    hosts = {"piha": {"steward_compose_projects": [project], "steward_compose_dir": "/srv/compose"}}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    return path


def member(project: str, service: str, config_hash: str | None, **kw: Any) -> dict[str, Any]:
    return container(
        f"{project}-{service}-1", compose_project=project, compose_service=service, config_hash=config_hash, **kw
    )


def desired_hashes(inv: Path) -> dict[str, str]:
    (project,) = load_desired(inv).hosts["piha"].want("compose")
    return {s.name: s.config_hash for s in project.services}


def drifts(inv: Path, containers: list[dict[str, Any]]) -> list[Any]:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return compute_drift(load_desired(inv).hosts["piha"], world_doc("piha", containers, observed_at=now), now, 900)


def test_the_project_is_read_with_its_hashes_for_the_node_folder(tmp_path: Path) -> None:
    inv = inventory(tmp_path)
    (project,) = load_desired(inv).hosts["piha"].want("compose")
    assert project.node_dir == "/srv/compose/home" and project.watched == ("broker", "dash")
    assert all(len(s.config_hash) == 64 for s in project.services)
    broker = project.service("broker")
    assert broker is not None and broker.healthcheck and broker.facts["env"] == ["TZ"]
    assert "Europe/Berlin" not in repr(broker.facts), "the controller keeps no environment value"


def test_in_sync_has_no_drift_and_each_kind_is_found(tmp_path: Path) -> None:
    inv = inventory(tmp_path, healthy=True)
    h = desired_hashes(inv)
    in_sync = [member("home", "broker", h["broker"], health="healthy"), member("home", "dash", h["dash"])]
    assert drifts(inv, in_sync) == []
    found = drifts(
        inv,
        [
            member("home", "broker", h["broker"], health="unhealthy"),
            member("home", "dash", h["dash"], state="exited"),
            member("home", "old", "0" * 64),
            container("standalone"),
        ],
    )
    assert {d.key: d.notice_only for d in found} == {
        "piha/compose/home.broker/unhealthy": False,
        "piha/compose/home.dash/not_running": False,
        "piha/compose/home.old/orphan": True,
    }
    assert [d.key for d in drifts(inv, [member("home", "dash", h["dash"])])] == ["piha/compose/home.broker/missing"]


def test_an_edited_env_value_is_one_config_changed_naming_the_key(tmp_path: Path) -> None:
    inv = inventory(tmp_path)
    before = desired_hashes(inv)
    (tmp_path / "services" / "home" / "compose.yml").write_text(COMPOSE.replace("Europe/Berlin", "UTC"))
    after = desired_hashes(inv)
    assert after["broker"] != before["broker"] and after["dash"] == before["dash"]
    running = [member("home", "broker", before["broker"], env=["TZ"]), member("home", "dash", before["dash"])]
    (d,) = drifts(inv, running)
    assert d.key == "piha/compose/home.broker/config_changed"
    assert d.summary.endswith("(changed since the version it runs: environment.TZ)")
    assert "UTC" not in d.summary and "Berlin" not in d.summary
    assert "changed_keys" not in d.observed, "the evidence does not depend on what this controller read before"


def test_a_config_never_seen_here_is_compared_with_what_the_node_reports(tmp_path: Path) -> None:
    inv = inventory(tmp_path)
    h = desired_hashes(inv)
    running = [
        member("home", "broker", "e" * 64, env=["TZ", "DEBUG"], mounts=[], labels={"x": "1"}),
        member("home", "dash", h["dash"]),
    ]
    (d,) = drifts(inv, running)
    assert d.summary.endswith(
        "(compared with what the node reports: environment.DEBUG (removed), volumes: /data (added), labels.x (removed))"
    )


def test_remedies_copy_the_folder_and_touch_only_the_one_service(tmp_path: Path) -> None:
    inv = inventory(tmp_path, profiles=["extra"])
    h = desired_hashes(inv)
    desired = load_desired(inv).hosts["piha"]
    (d,) = drifts(inv, [member("home", "broker", "e" * 64), member("home", "dash", h["dash"])])
    remedy = desired.remedy(d)
    assert remedy is not None
    copy, up = remedy.tasks
    assert copy["ansible.builtin.copy"] == {
        "src": f"{(tmp_path / 'services' / 'home').resolve()}/",
        "dest": "/srv/compose/home/",
        "mode": "preserve",
        "backup": True,  # a file edited on the node is kept
    }
    params = up["community.docker.docker_compose_v2"]
    assert params["project_src"] == "/srv/compose/home" and params["services"] == ["broker"]
    assert params["files"] == ["compose.yml"], "the file that was hashed, no override file"
    assert params["state"] == "present" and params["recreate"] == "auto" and params["dependencies"] is False
    assert params["remove_orphans"] is False and params["profiles"] == ["extra"]
    assert "down" not in str(remedy.tasks) and "remove_volumes" not in params


def test_an_unhealthy_service_is_restarted_and_nothing_is_copied(tmp_path: Path) -> None:
    inv = inventory(tmp_path, healthy=True)
    h = desired_hashes(inv)
    (d,) = drifts(inv, [member("home", "broker", h["broker"], health="unhealthy"), member("home", "dash", h["dash"])])
    remedy = load_desired(inv).hosts["piha"].remedy(d)
    assert remedy is not None
    (task,) = remedy.tasks
    params = task["community.docker.docker_compose_v2"]
    assert params["state"] == "restarted" and params["services"] == ["broker"] and "recreate" not in params
    assert params["dependencies"] is False, "restarting one service never restarts what it depends on"


def test_a_project_that_should_be_absent_is_a_notice_never_a_down(tmp_path: Path) -> None:
    inv = inventory(tmp_path, state="absent")
    (d,) = drifts(inv, [member("home", "dash", None)])
    assert d.key == "piha/compose/home/should_be_absent" and d.notice_only
    assert "never removes" in d.summary
    assert AREA.remediation(d, ()) is None


@pytest.mark.parametrize(
    ("compose", "entry", "where", "words"),
    [
        ("services:\n  broker: [\n", {}, "steward_compose_projects[0] (home).src", "compose.yml"),
        (COMPOSE, {"src": "services/nope"}, "steward_compose_projects[0] (home).src", "no such folder"),
        (COMPOSE, {"src": "../elsewhere"}, "steward_compose_projects[0] (home).src", "leaves the inventory"),
        (COMPOSE, {"name": "Home"}, "steward_compose_projects[0].name", "project name"),
        (COMPOSE, {"services": ["nope"]}, "steward_compose_projects[0] (home).services", "not a service"),
        (COMPOSE, {"state": "up"}, "steward_compose_projects[0] (home).state", "present, stopped, absent"),
    ],
)
def test_a_bad_entry_or_compose_file_names_host_variable_and_reason(
    tmp_path: Path, compose: str, entry: dict[str, Any], where: str, words: str
) -> None:
    inv = inventory(tmp_path, compose, **entry)
    with pytest.raises(DesiredStateError) as caught:
        load_desired(inv)
    assert [(h, w) for h, w, _ in caught.value.problems] == [("piha", where)]
    assert words in caught.value.problems[0][2]


def test_an_unchanged_folder_costs_no_subprocess_and_an_edit_is_seen_by_the_cached_load(tmp_path: Path) -> None:
    inv = inventory(tmp_path)
    first = load_desired_cached(inv)
    runs = HASHES.subprocess_runs
    load_desired(inv)  # a fresh read of the inventory: the folder is unchanged
    assert HASHES.subprocess_runs == runs
    assert load_desired_cached(inv) is first
    compose = tmp_path / "services" / "home" / "compose.yml"
    compose.write_text(COMPOSE.replace("Europe/Berlin", "UTC"))
    assert load_desired_cached(inv) is not first, "a project file is part of the inventory's signature"


def test_a_node_without_the_compose_plugin_is_one_could_not_look_notice(tmp_path: Path) -> None:
    inv = inventory(tmp_path)
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    world = world_doc("piha", [member("home", "dash", None)], observed_at=now)
    world["checks"]["docker"]["compose"] = {"status": "too_old", "version": "2.17.0", "error": "compose plugin 2.17.0"}
    (d,) = compute_drift(load_desired(inv).hosts["piha"], world, now, 900)
    assert d.key == "piha/compose/plugin/plugin_too_old" and d.notice_only
    assert "compose plugin missing or older than 2.18" in d.summary


def test_the_node_side_look_finds_the_plugin_set_up_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible_collections.homelab.steward.plugins.module_utils import _check_docker

    monkeypatch.setattr(_check_docker, "CACHE_PATH", str(tmp_path / "cache" / "compose-plugin.json"))
    assert _check_docker.compose_plugin() == {"status": "ok", "version": "2.40.3", "error": None}
    fake = tmp_path / "cfg" / "cli-plugins" / "docker-compose"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\necho v2.17.3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    assert _check_docker.compose_plugin()["status"] == "too_old"
    fake.write_text("#!/bin/sh\nexit 1\n")
    assert _check_docker.compose_plugin()["status"] == "error"
    fake.unlink()
    monkeypatch.setattr(_check_docker, "PLUGIN_DIRS", ())
    assert _check_docker.compose_plugin()["status"] == "missing"


def test_the_node_asks_the_plugin_its_version_once_per_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible_collections.homelab.steward.plugins.module_utils import _check_docker

    cache = tmp_path / "cache" / "compose-plugin.json"
    monkeypatch.setattr(_check_docker, "CACHE_PATH", str(cache))
    monkeypatch.setattr(_check_docker, "PLUGIN_DIRS", ())
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    runs = tmp_path / "runs"
    fake = tmp_path / "cfg" / "cli-plugins" / "docker-compose"
    fake.parent.mkdir(parents=True)
    fake.write_text(f"#!/bin/sh\necho run >> {runs}\necho v2.30.1\n")
    fake.chmod(0o755)
    assert _check_docker.compose_plugin() == {"status": "ok", "version": "2.30.1", "error": None}
    assert _check_docker.compose_plugin() == {"status": "ok", "version": "2.30.1", "error": None}
    assert runs.read_text().count("run") == 1, "the second look reads the cache"
    fake.write_text(f"#!/bin/sh\necho run >> {runs}\necho v2.17.0\n")  # an upgrade (here: a downgrade)
    assert _check_docker.compose_plugin()["status"] == "too_old"
    assert runs.read_text().count("run") == 2, "a replaced binary is asked again"
    cache.write_text("{torn")
    assert _check_docker.compose_plugin()["version"] == "2.17.0", "a broken cache is only a miss"
    assert runs.read_text().count("run") == 3
    cache.parent.chmod(0o500)  # unwritable cache folder: the look still answers
    try:
        fake.write_text("#!/bin/sh\necho v2.31.0\n")
        assert _check_docker.compose_plugin()["version"] == "2.31.0"
    finally:
        cache.parent.chmod(0o700)


def test_verification_fails_a_fix_that_recreated_another_service_of_the_project() -> None:
    from steward.execute.judge import collateral

    def world(dash_id: str, started: str = "2026-12-02T10:00:00Z") -> dict[str, Any]:
        dash = {**member("home", "dash", None), "id": dash_id, "started_at": started}
        return world_doc("piha", [member("home", "broker", None), dash, container("standalone", id="5" * 12)])

    key = "piha/compose/home.broker/config_changed"
    assert collateral(key, world("a" * 12), world("a" * 12)) is None
    assert collateral(key, world("a" * 12), world("b" * 12)) == (
        "the fix of home.broker also recreated, restarted or removed home-dash-1 (other services of home)"
    )
    assert collateral(key, world("a" * 12), world("a" * 12, "2026-12-02T11:00:00Z")) is not None, "a restart"
    assert collateral("piha/docker/web/wrong_image", world("a" * 12), world("b" * 12)) is None
    assert collateral(key, None, world("b" * 12)) is None  # no look before the run: nothing to compare


def test_a_project_file_written_while_the_inventory_is_read_is_a_changed_inventory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from steward.desired import cached as loader
    from steward.desired.errors import InventoryChanged

    inv = inventory(tmp_path)
    load_desired_cached(inv)
    compose = tmp_path / "services" / "home" / "compose.yml"
    compose.write_text(COMPOSE.replace("Europe/Berlin", "UTC"))  # an edit: the next load reads it
    real = loader.load_checked

    def racing(path: Path) -> Any:
        got = real(path)
        compose.write_text(COMPOSE.replace("Europe/Berlin", "Asia/Tokyo"))  # ... and another during that read
        return got

    monkeypatch.setattr(loader, "load_checked", racing)
    with pytest.raises(InventoryChanged):
        load_desired_cached(inv)


def test_the_example_homelab_inventory_and_its_compose_projects_are_read() -> None:
    from helpers import REPO

    desired = load_desired(REPO / "inventory" / "hosts.yml")
    projects = {h: [p.name for p in d.want("compose")] for h, d in desired.hosts.items()}
    assert projects == {"saturn": ["gitea"], "solaria": ["ollama"], "piha": ["homeauto"], "vps": ["caddy"]}
    (homeauto,) = desired.hosts["piha"].want("compose")
    assert set(homeauto.watched) == {"broker", "homeassistant", "dash"}


def test_a_one_off_is_not_the_service_and_an_old_observation_cannot_tell(tmp_path: Path) -> None:
    inv = inventory(tmp_path)
    h = desired_hashes(inv)
    one_off = {
        **member("home", "broker", h["broker"], state="exited"),
        "name": "home-broker-run-1a2b",
        "compose_service": None,
    }
    in_sync = [member("home", "broker", h["broker"]), member("home", "dash", h["dash"]), one_off]
    assert drifts(inv, in_sync) == []
    old = member("home", "broker", h["broker"])
    del old["compose_service"]
    (d,) = drifts(inv, [old])
    assert d.key == "piha/compose/projects/no_compose_labels" and d.notice_only
