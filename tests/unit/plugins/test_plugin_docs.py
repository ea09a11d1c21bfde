"""DOCUMENTATION keeps matching the code: module options vs argument_spec, role specs vs defaults/README."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from ansible_collections.homelab.steward.plugins.modules import docker_containers_info, node_observe

REPO = Path(__file__).resolve().parents[3]
MODULES = [docker_containers_info, node_observe]
SPEC_KEYS = ("type", "required", "default", "choices", "elements", "no_log", "aliases")


def normalised(option: dict[str, Any]) -> dict[str, Any]:
    """The parts of an option that docs and argument_spec must agree on."""
    out = {key: option[key] for key in SPEC_KEYS if key in option}
    out.setdefault("required", False)
    if out.get("default") is None:
        out.pop("default", None)
    if out["required"] is False:
        out.pop("required")
    return out


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_documented_options_equal_argument_spec(module: ModuleType) -> None:
    doc = yaml.safe_load(module.DOCUMENTATION)
    documented = {name: normalised(opt) for name, opt in doc["options"].items()}
    coded = {name: normalised(opt) for name, opt in module.ARGUMENT_SPEC.items()}
    assert documented == coded


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_docs_examples_and_return_are_valid_yaml(module: ModuleType) -> None:
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert doc["module"] == module.__name__.rsplit(".", 1)[-1]
    assert doc["attributes"]["check_mode"]["support"] == "full"
    assert all("description" in opt for opt in doc["options"].values())
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
