"""plugins/modules/disk_usage_info.py run in-process, and the disk_health role's contract.

The module runs against real tmpfs mounts (root only; skipped with the reason otherwise).
The role's default `disk_health_mounts` is templated by Ansible itself from each form of the
inventory variable `steward_disk`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _module_runner import run_module
from test_plugin_disk_check import MIB, fill, mount_missing, mounter

from ansible_collections.homelab.steward.plugins.module_utils import _check_disk
from ansible_collections.homelab.steward.plugins.modules import disk_usage_info

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "disk_health"


@pytest.fixture
def full_tmpfs() -> Iterator[Path]:
    """An 8 MiB tmpfs filled to 7 MiB (87.5 %)."""
    why = mount_missing()
    if why:
        pytest.skip(why)
    with mounter() as m:
        path = m.tmpfs("full", "size=8m", source="steward-module")
        fill(path, 7 * MIB)
        yield path


# --- the module --------------------------------------------------------------------------------


@pytest.mark.parametrize("check_mode", [False, True])
def test_reports_mounts_and_never_changes(
    full_tmpfs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], check_mode: bool
) -> None:
    missing = tmp_path / "missing"
    args = {"mounts": [{"path": str(full_tmpfs), "max_used_pct": 75}, {"path": str(missing), "max_used_pct": 90}]}

    result = run_module(disk_usage_info, capsys, args, check_mode=check_mode)

    assert result["changed"] is False
    assert "failed" not in result
    disk = result["disk"]
    assert (disk["status"], disk["error"]) == ("ok", None)
    full, gone = disk["mounts"]
    assert full["path"] == str(full_tmpfs)
    assert (full["used_pct"], full["max_used_pct"], full["max_inodes_pct"]) == (87.5, 75, None)
    assert (full["fstype"], full["device"], full["is_mountpoint"]) == ("tmpfs", "steward-module", True)
    assert (gone["present"], gone["error"], gone["max_used_pct"]) == (False, f"{missing} does not exist", 90)


def test_default_looks_at_the_root_filesystem(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_module(disk_usage_info, capsys, {})
    assert [m["path"] for m in result["disk"]["mounts"]] == ["/"]
    assert result["disk"]["mounts"][0]["present"] is True


@pytest.mark.parametrize(
    ("mounts", "message"),
    [
        ([{"path": "srv/data"}], "absolute path"),
        ([{"path": "/", "max_used_pct": 150}], "max_used_pct must be an integer from 0 to 100"),
        ([{"max_used_pct": 80}], "path"),
        ([{"path": "/", "max_used": 80}], "max_used"),
    ],
)
def test_options_it_cannot_use_fail_the_task(
    mounts: list[dict[str, Any]], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_module(disk_usage_info, capsys, {"mounts": mounts})
    assert result["failed"] is True
    assert message in result["msg"]


def test_non_positive_timeout_fails_the_task(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_module(disk_usage_info, capsys, {"timeout": 0})
    assert result["failed"] is True
    assert "timeout" in result["msg"]


def test_unreadable_mount_table_is_reported_not_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_check_disk, "MOUNTINFO", str(tmp_path / "absent"))
    result = run_module(disk_usage_info, capsys, {})
    assert "failed" not in result
    assert result["disk"]["status"] == "check_failed"
    assert result["disk"]["mounts"] is None


# --- documentation keeps matching the code -------------------------------------------------------

SPEC_KEYS = ("type", "required", "default", "choices", "elements", "no_log", "aliases")


def normalised(option: dict[str, Any]) -> dict[str, Any]:
    """What docs and argument_spec must agree on, suboptions included."""
    out = {key: option[key] for key in SPEC_KEYS if key in option}
    if not out.get("required"):
        out.pop("required", None)
    if out.get("default") is None:
        out.pop("default", None)
    sub = option.get("suboptions", option.get("options"))
    if sub:
        out["options"] = {name: normalised(opt) for name, opt in sub.items()}
    return out


def test_documented_options_equal_argument_spec_and_collect_kwargs() -> None:
    import inspect

    doc = yaml.safe_load(disk_usage_info.DOCUMENTATION)
    documented = {name: normalised(opt) for name, opt in doc["options"].items()}
    assert documented == {name: normalised(opt) for name, opt in disk_usage_info.ARGUMENT_SPEC.items()}
    assert set(documented) == set(inspect.signature(_check_disk.collect).parameters)


def test_return_documents_every_field_collect_returns(tmp_path: Path) -> None:
    returned = yaml.safe_load(disk_usage_info.RETURN)["disk"]["contains"]
    result = _check_disk.collect(mounts=["/", str(tmp_path / "missing")])
    assert set(returned) == set(result)
    for mount in result["mounts"]:
        assert set(returned["mounts"]["contains"]) == set(mount)


# --- the role ------------------------------------------------------------------------------------


def test_role_argument_specs_defaults_and_readme_agree() -> None:
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    readme = (ROLE / "README.md").read_text()
    variables_table = readme.split("## Variables", 1)[1].split("\n## ", 1)[0]
    in_readme = set(re.findall(r"^\| `(disk_health_[a-z_]+)` \|", variables_table, flags=re.M))

    assert set(specs) == set(defaults) == in_readme
    for name, spec in specs.items():
        assert spec.get("description"), name
        if "default" in spec:
            assert spec["default"] == defaults[name], name
        row = re.search(rf"^\| `{name}` \| (\w+) \|", variables_table, flags=re.M)
        assert row and row.group(1) == spec["type"], name
    # The role's mount entries take exactly the module's per-mount options.
    mount_options = specs["disk_health_mounts"]["options"]
    assert {k: normalised(v) for k, v in mount_options.items()} == {
        k: normalised(v) for k, v in disk_usage_info.ARGUMENT_SPEC["mounts"]["options"].items()
    }


def role_default_mounts(**variables: Any) -> Any:
    """Template the role's default disk_health_mounts the way a play would, with these inventory vars."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    variables = {k: trust_as_template(v) if isinstance(v, str) else v for k, v in variables.items()}
    templar = Templar(loader=DataLoader(), variables=variables)
    return templar.template(trust_as_template(defaults["disk_health_mounts"]))


def entry(path: str, used: int | None = None, inodes: int | None = None) -> dict[str, Any]:
    return {"path": path, "max_used_pct": used, "max_inodes_pct": inodes}


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        pytest.param({}, [entry("/")], id="undefined"),
        pytest.param({"steward_disk": None}, [entry("/")], id="null"),
        pytest.param({"steward_disk": {}}, [entry("/")], id="empty"),
        pytest.param({"steward_disk": {"/": 90, "/srv/data": 80}}, [entry("/", 90), entry("/srv/data", 80)], id="int"),
        pytest.param(
            {"steward_disk": {"/srv/data": {"max_used_pct": 80, "max_inodes_pct": 70}}},
            [entry("/srv/data", 80, 70)],
            id="mapping",
        ),
        pytest.param(
            {"steward_disk": {"/": 90, "/var": {"max_inodes_pct": 95}, "/mnt/nas": None}},
            [entry("/", 90), entry("/var", None, 95), entry("/mnt/nas")],
            id="mixed",
        ),
    ],
)
def test_role_default_is_derived_from_steward_disk(variables: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    mounts = role_default_mounts(**variables)
    assert isinstance(mounts, list)
    assert [dict(m) for m in mounts] == expected


def test_role_default_keeps_unknown_keys_so_validation_rejects_them() -> None:
    # A typo in the inventory must fail loudly (argument validation), not be dropped silently.
    mounts = role_default_mounts(steward_disk={"/": {"max_used": 80}})
    assert [dict(m) for m in mounts] == [{"path": "/", "max_used_pct": None, "max_inodes_pct": None, "max_used": 80}]


def test_role_default_feeds_the_collector(tmp_path: Path) -> None:
    mounts = role_default_mounts(steward_disk={"/": 95, str(tmp_path / "nope"): {"max_used_pct": 50}})
    result = _check_disk.collect(mounts=[dict(m) for m in mounts])
    assert [(m["path"], m["present"], m["max_used_pct"]) for m in result["mounts"]] == [
        ("/", True, 95),
        (str(tmp_path / "nope"), False, 50),
    ]


def test_molecule_scenario_uses_both_inventory_forms() -> None:
    scenario = yaml.safe_load((REPO / "extensions" / "molecule" / "disk_health" / "molecule.yml").read_text())
    host_vars = scenario["provisioner"]["inventory"]["host_vars"]["localhost"]
    mounts = role_default_mounts(disk_lab_root="/lab", steward_disk=host_vars["steward_disk"])
    assert [dict(m) for m in mounts] == [
        entry("/lab/full", 75, 50),
        entry("/lab/readonly", 95),
        entry("/lab/noinodes"),
        entry("/lab/plain", 99),
        entry("/lab/missing", 90),
    ]
