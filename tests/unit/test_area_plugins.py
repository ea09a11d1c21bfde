"""Areas as plug-ins: the registry, the node side and the roles agree; steward_services is a deprecated name."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import yaml
from world_reports import valid_checks, with_value

from ansible_collections.homelab.steward.plugins.action import node_observe as observe_action
from ansible_collections.homelab.steward.plugins.module_utils import _world_schema as schema
from ansible_collections.homelab.steward.plugins.modules import node_observe as observe_module
from helpers import REPO, make_settings, service
from steward.areas import AREAS, check_problem
from steward.areas.docker.containers import Container
from steward.desired.inventory import DesiredStateError, load_desired
from steward.interfaces.cli.main import main

NAMES = list(AREAS)
# the areas with a collector of their own (the others read one of these checks: Compose projects
# read the docker check's containers)
CHECKS = sorted({area.check for area in AREAS.values()})


def observe_yml_checks() -> dict[str, str]:
    """observe.yml's steward_observe_checks: check name -> the role whose `observe` entry point configures it."""
    play = yaml.safe_load((REPO / "observe.yml").read_text())[0]
    template = play["vars"]["steward_observe_checks"]
    return dict(re.findall(r"'(\w+)': (\w+)_observe if", template))


def test_the_registry_node_observe_the_schema_and_the_roles_name_the_same_checks() -> None:
    roles = {p.name.removesuffix("_health") for p in (REPO / "roles").glob("*_health")}
    assert all(area.check in AREAS and AREAS[area.check].check == area.check for area in AREAS.values())
    assert sorted(observe_module.CHECKS) == CHECKS, "plugins/modules/node_observe.py collects each check"
    assert CHECKS == sorted(schema.CHECKS) == sorted(schema.STATUSES), "_world_schema.py judges each check"
    assert sorted(roles) == CHECKS, "one roles/<check>_health per check"
    assert observe_yml_checks() == {name: f"{name}_health" for name in CHECKS}, "observe.yml configures each"
    for name in CHECKS:
        tasks = REPO / "roles" / f"{name}_health" / "tasks" / "observe.yml"
        assert tasks.is_file(), f"{tasks}: the entry point observe.yml imports"
        assert f"{name}_health_observe" in tasks.read_text(), f"{tasks} sets {name}_health_observe"


def test_each_area_judges_its_check_as_the_node_observe_action_does() -> None:
    """What the action plugin keeps in a world file, the area accepts; what it refuses, the area refuses."""
    good = valid_checks()
    bad = {
        "docker": with_value(good["docker"], ("containers", 0, "state"), "on fire"),
        "disk": with_value(good["disk"], ("mounts", 0, "used_pct"), "91 %"),
        "tailscale": with_value(good["tailscale"], ("peer_count",), -1),
        "mqtt": with_value(good["mqtt"], ("brokers", 0, "reachable"), "yes"),
    }
    assert sorted(bad) == CHECKS, "a malformed case for every check"
    requested = dict.fromkeys(CHECKS, {})
    kept, problems = observe_action.validated_checks(requested, good)
    assert kept == good and problems == []
    refused, problems = observe_action.validated_checks(requested, bad)
    assert len(problems) == len(CHECKS)
    for area in AREAS.values():
        name = area.check
        assert area.check_problem(good[name]) is None and check_problem(name, good[name]) is None
        why = area.check_problem(bad[name])
        assert why is not None and why.startswith(f"checks.{name}."), why
        assert refused[name]["status"] == schema.INVALID_REPORT and why.split(":")[0] in refused[name]["error"]
    # a check no area claims: only "could not look" is a valid entry (how node_observe reports an unknown check)
    assert check_problem("nfs", {"status": "check_failed", "error": "unknown check"}) is None
    assert check_problem("nfs", {"status": "ok", "error": None}) is not None


def test_each_area_is_named_once() -> None:
    vars_ = [v for area in AREAS.values() for v in (area.var, *area.deprecated_vars)]
    assert len(vars_) == len(set(vars_)) and all(v.startswith("steward_") for v in vars_)
    for name, area in AREAS.items():
        assert area.name == name and re.fullmatch(r"[a-z][a-z0-9_]{0,31}", name)
        assert area.parse("piha", None) == (area.empty, [])
        assert area.targets(area.empty) == ()
    readme = (REPO / "README.md").read_text()
    for area in AREAS.values():
        assert f"`{area.check}_health`" in readme and f"`{area.var}`" in readme, f"README names {area.var}"


def inventory(tmp_path: Path, hosts: dict[str, dict]) -> Path:
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    return path


WEB = {"name": "web", "image": "x:1", "restart_policy": "unless-stopped"}


def test_steward_containers_and_its_deprecated_name_give_the_same_desired_state(tmp_path: Path, caplog) -> None:
    new = load_desired(inventory(tmp_path, {"saturn": {"steward_containers": [WEB]}}))
    (tmp_path / "old").mkdir()
    caplog.set_level(logging.WARNING)
    old = load_desired(inventory(tmp_path / "old", {"saturn": {"steward_services": [WEB]}}))
    assert new.hosts == old.hosts
    assert old.hosts["saturn"].want("docker") == (Container("web", "x:1", restart_policy="unless-stopped"),)
    assert new.deprecations == () and len(old.deprecations) == 1
    assert "steward_services is the deprecated name of steward_containers" in old.deprecations[0]
    assert [r.getMessage() for r in caplog.records] == [f"desired state: {old.deprecations[0]}"]


def test_the_deprecated_name_is_reported_once_per_cycle_never_an_error(tmp_path: Path, caplog) -> None:
    """Many hosts use it: one warning per read of the inventory (one `steward plan`), naming the hosts."""
    settings = make_settings(tmp_path, {f"node{i}": [service("web")] for i in range(8)})  # steward_services
    caplog.set_level(logging.WARNING)
    assert main(["--state-dir", str(settings.state_dir), "-i", str(settings.inventory), "plan"]) == 0
    warnings = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(warnings) == 1, warnings  # settings resolution and the engine both load it: one report
    assert "steward_services is the deprecated name of steward_containers" in warnings[0]
    assert "node0, node1, node2, node3, node4 and 3 more" in warnings[0] and "rename it" in warnings[0]


def test_an_area_set_under_both_names_is_an_error_naming_host_and_both(tmp_path: Path) -> None:
    inv = inventory(tmp_path, {"piha": {"steward_containers": [WEB], "steward_services": [WEB]}})
    with pytest.raises(DesiredStateError) as err:
        load_desired(inv)
    why = "set twice: keep steward_containers, remove steward_services (its deprecated name)"
    assert err.value.problems == [("piha", "steward_containers / steward_services", why)]


def test_a_malformed_value_names_the_variable_the_inventory_used(tmp_path: Path) -> None:
    for var in ("steward_containers", "steward_services"):
        (tmp_path / var).mkdir()
        with pytest.raises(DesiredStateError) as err:
            load_desired(inventory(tmp_path / var, {"piha": {var: [{"name": "mqtt"}]}}))
        assert [(h, v) for h, v, _ in err.value.problems] == [("piha", f"{var}[0] (mqtt).image")]
