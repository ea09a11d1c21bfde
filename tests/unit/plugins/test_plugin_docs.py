"""DOCUMENTATION keeps matching the code: every module's options vs its argument_spec, role specs vs defaults/README.

The argument spec compared is the one each module really passes to ``AnsibleModule`` (its ``main()``
run with a recorder in its place) and, for a module whose work an action plugin of the same name
does on the controller (``plan``, ``notify_pending``, ``node_observe``), the ``ARGUMENT_SPEC`` that
action plugin validates with: docs, module and action plugin must all agree, suboptions included.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
import yaml

from ansible_collections.homelab.steward.plugins.modules import docker_containers_info

REPO = Path(__file__).resolve().parents[3]
COLLECTION = "ansible_collections.homelab.steward.plugins"
MODULE_NAMES = sorted(path.stem for path in (REPO / "plugins" / "modules").glob("*.py") if path.stem != "__init__")
MODULES = [importlib.import_module(f"{COLLECTION}.modules.{name}") for name in MODULE_NAMES]
# The action plugins too, now, while the test modules are collected: a test that loads an inventory
# in-process before this one runs installs Ansible's collection finder, and an action plugin first
# imported after that fails ("collection metadata was not loaded for collection homelab.steward").
ACTIONS = {
    name: importlib.import_module(f"{COLLECTION}.action.{name}")
    for name in MODULE_NAMES
    if (REPO / "plugins" / "action" / f"{name}.py").exists()
}
SPEC_KEYS = ("type", "required", "default", "choices", "elements", "no_log", "aliases")


def short_name(module: ModuleType) -> str:
    return module.__name__.rsplit(".", 1)[-1]


def normalised(option: dict[str, Any]) -> dict[str, Any]:
    """The parts of an option that docs and argument_spec must agree on, suboptions included.

    Ansible's defaults are made explicit (type ``str``) or dropped (``required: false``,
    ``default: null``) so that leaving one out on either side is no difference.
    """
    out = {key: option[key] for key in SPEC_KEYS if key in option}
    out.setdefault("type", "str")
    if not out.get("required"):
        out.pop("required", None)
    if out.get("default") is None:
        out.pop("default", None)
    sub = option.get("suboptions", option.get("options"))
    if sub:
        out["options"] = {name: normalised(opt) for name, opt in sub.items()}
    return out


class _Recorded(Exception):
    pass


def passed_to_ansible_module(module: ModuleType) -> dict[str, Any]:
    """The keyword arguments a module's main() gives AnsibleModule (main stops right there)."""
    seen: dict[str, Any] = {}

    def recorder(**kwargs: Any) -> None:
        seen.update(kwargs)
        raise _Recorded

    with mock.patch.object(module, "AnsibleModule", recorder), pytest.raises(_Recorded):
        module.main()
    return seen


def argument_specs(module: ModuleType) -> dict[str, dict[str, Any]]:
    """Every argument spec the code validates this module's options with, by where it is."""
    name = short_name(module)
    specs = {f"modules/{name}.py main()": passed_to_ansible_module(module)["argument_spec"]}
    if hasattr(module, "ARGUMENT_SPEC"):
        specs[f"modules/{name}.py ARGUMENT_SPEC"] = module.ARGUMENT_SPEC
    if name in ACTIONS:
        specs[f"action/{name}.py ARGUMENT_SPEC"] = ACTIONS[name].ARGUMENT_SPEC
    return specs


def test_every_module_is_checked() -> None:
    assert len(MODULES) == len(list((REPO / "plugins" / "modules").glob("*.py"))) >= 7


@pytest.mark.parametrize("module", MODULES, ids=short_name)
def test_documented_options_equal_argument_spec(module: ModuleType) -> None:
    doc = yaml.safe_load(module.DOCUMENTATION)
    documented = {name: normalised(opt) for name, opt in doc["options"].items()}
    for where, spec in argument_specs(module).items():
        assert documented == {name: normalised(opt) for name, opt in spec.items()}, where


def _descriptions_missing(options: dict[str, Any], prefix: str = "") -> list[str]:
    missing = []
    for name, option in options.items():
        if not option.get("description"):
            missing.append(prefix + name)
        missing += _descriptions_missing(option.get("suboptions") or {}, f"{prefix}{name}.")
    return missing


@pytest.mark.parametrize("module", MODULES, ids=short_name)
def test_docs_examples_and_return_are_valid_yaml(module: ModuleType) -> None:
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert doc["module"] == short_name(module)
    # check mode: full exactly when the module says it supports it (a stub's action plugin skips otherwise)
    supports_check_mode = passed_to_ansible_module(module).get("supports_check_mode", False)
    assert doc["attributes"]["check_mode"]["support"] == ("full" if supports_check_mode else "none")
    assert _descriptions_missing(doc["options"]) == []
    examples = yaml.safe_load(module.EXAMPLES)
    assert examples and all(any(k.startswith("homelab.steward.") or "." in k for k in task) for task in examples)
    returned = yaml.safe_load(module.RETURN)
    assert returned and all({"description", "returned", "type"} <= set(v) for v in returned.values())


def test_docker_info_return_documents_every_container_field() -> None:
    from ansible_collections.homelab.steward.plugins.module_utils._docker_api import summarize

    returned = yaml.safe_load(docker_containers_info.RETURN)
    documented = set(returned["docker"]["contains"]["containers"]["contains"])
    assert documented == set(summarize({}))


ROLE = REPO / "roles" / "docker_health"


def test_role_argument_specs_defaults_and_readme_agree() -> None:
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    readme = (ROLE / "README.md").read_text()
    variables_table = readme.split("## Variables", 1)[1].split("\n## ", 1)[0]
    in_readme = set(re.findall(r"^\| `(docker_health_[a-z_]+)` \|", variables_table, flags=re.M))

    assert set(specs) == set(defaults) == in_readme
    for name, spec in specs.items():
        assert name.startswith("docker_health_")
        assert spec.get("description"), name
        if "default" in spec:
            assert spec["default"] == defaults[name], name
        row = re.search(rf"^\| `{name}` \| (\w+) \|", variables_table, flags=re.M)
        assert row and row.group(1) == spec["type"], name
