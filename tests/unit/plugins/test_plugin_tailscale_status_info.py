"""plugins/modules/tailscale_status_info.py run in-process, against the fake tailscaled and without one."""

from __future__ import annotations

import inspect
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_plugin_docs as docs_checks
import yaml
from _module_runner import run_module

from ansible_collections.homelab.steward.plugins.module_utils._check_tailscale import (
    PEER_KEYS,
    RESULT_KEYS,
    SELF_KEYS,
)
from ansible_collections.homelab.steward.plugins.modules import tailscale_status_info

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from fake_tailscaled import FakeTailscaled

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "tailscale_health"


@pytest.fixture
def daemon() -> Iterator[FakeTailscaled]:
    folder = tempfile.mkdtemp(prefix="tsmod-")
    with FakeTailscaled(folder + "/tailscaled.sock", scenario="running") as fake:
        yield fake
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("check_mode", [False, True])
def test_reports_tailscale_and_never_changes(
    daemon: FakeTailscaled, capsys: pytest.CaptureFixture[str], check_mode: bool
) -> None:
    args = {"socket": daemon.socket_path, "expected_peers": ["piha", "solaria"], "timeout": 3}
    result = run_module(tailscale_status_info, capsys, args, check_mode=check_mode)

    assert result["changed"] is False
    assert "failed" not in result
    tailscale = result["tailscale"]
    assert (tailscale["status"], tailscale["backend_state"]) == ("ok", "Running")
    assert tailscale["tailnet"] == "homelab.example"
    assert [(p["name"], p["online"]) for p in tailscale["peers"]] == [("piha", True), ("solaria", False)]


def test_missing_daemon_is_reported_not_failed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sock = str(tmp_path / "tailscaled.sock")
    result = run_module(tailscale_status_info, capsys, {"socket": sock, "expected_peers": ["piha"]})

    assert "failed" not in result
    assert result["changed"] is False
    assert result["tailscale"]["status"] == "absent"
    assert result["tailscale"]["peers"] is None


def test_timeout_option_takes_strings_as_templated_vars_are(daemon: FakeTailscaled, capsys) -> None:
    result = run_module(tailscale_status_info, capsys, {"socket": daemon.socket_path, "timeout": "2.5"})
    assert result["tailscale"]["status"] == "ok"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [({"socket": "run/tailscaled.sock"}, "absolute path"), ({"timeout": 0}, "positive number")],
)
def test_options_that_cannot_work_fail_the_task(capsys: pytest.CaptureFixture[str], args: dict, fragment: str) -> None:
    result = run_module(tailscale_status_info, capsys, args)
    assert result["failed"] is True
    assert fragment in result["msg"]


# --- documentation stays honest (the same checks test_plugin_docs.py runs for the other modules) ---


def test_documented_options_equal_argument_spec_for_tailscale() -> None:
    docs_checks.test_documented_options_equal_argument_spec(tailscale_status_info)


def test_docs_examples_and_return_are_valid_yaml_for_tailscale() -> None:
    docs_checks.test_docs_examples_and_return_are_valid_yaml(tailscale_status_info)


def test_return_documents_every_field_collect_returns() -> None:
    returned = yaml.safe_load(tailscale_status_info.RETURN)["tailscale"]["contains"]
    assert list(returned) == list(RESULT_KEYS)
    assert list(returned["self"]["contains"]) == list(SELF_KEYS)
    assert list(returned["peers"]["contains"]) == list(PEER_KEYS)


def test_role_argument_specs_defaults_and_readme_agree() -> None:
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    readme = (ROLE / "README.md").read_text()
    variables_table = readme.split("## Variables", 1)[1].split("\n## ", 1)[0]
    in_readme = set(re.findall(r"^\| `(tailscale_health_[a-z_]+)` \|", variables_table, flags=re.M))

    assert set(specs) == set(defaults) == in_readme
    for name, spec in specs.items():
        assert spec.get("description"), name
        if "default" in spec:
            assert spec["default"] == defaults[name], name
        row = re.search(rf"^\| `{name}` \| (\w+) \|", variables_table, flags=re.M)
        assert row and row.group(1) == spec["type"], name


def test_role_passes_the_module_every_option() -> None:
    tasks = yaml.safe_load((ROLE / "tasks" / "status.yml").read_text())
    call = tasks[0]["block"][0]["homelab.steward.tailscale_status_info"]
    assert set(call) == set(tailscale_status_info.ARGUMENT_SPEC)


def test_options_are_collects_keyword_arguments_with_its_defaults() -> None:
    from ansible_collections.homelab.steward.plugins.module_utils._check_tailscale import OPTIONS_SPEC, collect

    parameters = inspect.signature(collect).parameters
    assert list(OPTIONS_SPEC) == list(parameters)
    for name, option in OPTIONS_SPEC.items():
        assert option["default"] == (parameters[name].default or []), name
