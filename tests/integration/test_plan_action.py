"""homelab.steward.plan (action plugin), run by a real ansible-playbook on the controller."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def run_plan(tmp_path: Path, args: dict[str, Any], *extra: str) -> tuple[int, dict[str, Any], str]:
    """Play one homelab.steward.plan task on localhost; its registered result comes back as JSON."""
    out_file = tmp_path / "result.json"
    play = [
        {
            "name": "Plan",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {"name": "Plan one cycle", "homelab.steward.plan": args, "register": "planned", "ignore_errors": True},
                {
                    "name": "Keep the result",
                    "ansible.builtin.copy": {"content": "{{ planned | to_json }}", "dest": str(out_file)},
                    "check_mode": False,
                },
            ],
        }
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"),
    }
    inventory = tmp_path / "local.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {
                        "localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
                    }
                }
            }
        )
    )
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(tmp_path / "play.yml"), *extra],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    result = json.loads(out_file.read_text()) if out_file.exists() else {}
    return proc.returncode, result, proc.stdout + proc.stderr


@pytest.fixture
def desired(tmp_path: Path) -> Path:
    inv = tmp_path / "desired.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": {"node": {"steward_disk": {"/": 1}}}}}))
    return inv


def world(state: Path, host: str = "node", observed_at: str = "2026-01-01T00:00:00Z") -> None:
    (state / "world").mkdir(parents=True, exist_ok=True)
    doc = {
        "schema": 1,
        "host": host,
        "observed_at": observed_at,
        "cycle": "c1",
        "reachable": True,
        "error": None,
        "checks": {},
    }
    (state / "world" / f"{host}.json").write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"state_dir": "relative/state", "inventory": "x.yml"}, "state_dir must be an absolute path"),
        ({"state_dir": "/nonexistent/steward-state", "inventory": ["a.yml", "b.yml"]}, "one inventory source, got 2"),
        ({"state_dir": "/nonexistent/steward-state", "inventory": "x.yml"}, "no world state in"),
    ],
)
def test_bad_arguments_fail_with_a_clear_message_and_create_nothing(
    tmp_path: Path, args: dict[str, Any], message: str
) -> None:
    rc, result, out = run_plan(tmp_path, args)
    assert result.get("failed") is True and message in result.get("msg", ""), out[-3000:]
    assert not Path("/nonexistent/steward-state").exists()


def test_an_unusable_world_skips_the_cycle_with_a_warning_and_writes_nothing(tmp_path: Path, desired: Path) -> None:
    state = tmp_path / "state"
    world(state)
    (state / "world" / "node.json").write_text('{"schema": 1, "host": "no')  # half-written
    rc, result, out = run_plan(tmp_path, {"state_dir": str(state), "inventory": str(desired)})
    assert rc == 0 and not result.get("failed"), out[-3000:]
    assert result["cycle_skipped"] is True and result["new_actions"] == []
    assert "plan cycle skipped" in out
    assert not (state / "actions" / "pending").exists() or not any((state / "actions" / "pending").iterdir())


def test_check_mode_plans_nothing(tmp_path: Path, desired: Path) -> None:
    state = tmp_path / "state"
    world(state)
    rc, result, out = run_plan(tmp_path, {"state_dir": str(state), "inventory": str(desired)}, "--check")
    assert rc == 0 and result.get("skipped") is True, out[-3000:]
    assert not (state / "engine").exists()


def test_a_malformed_desired_state_names_host_and_variable(tmp_path: Path) -> None:
    state = tmp_path / "state"
    world(state)
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump({"all": {"hosts": {"node": {"steward_disk": "lots"}}}}))
    rc, result, out = run_plan(tmp_path, {"state_dir": str(state), "inventory": str(bad)})
    assert result.get("failed") is True, out[-3000:]
    assert "node" in result["msg"] and "steward_disk" in result["msg"]


@pytest.mark.parametrize(
    ("rel", "content", "line"),
    [
        ("desired.yml", "all:\n  hosts:\n    node:\n      steward_disk: {'/': 1\n", 5),
        ("host_vars/node.yml", "steward_disk: [\n", 2),
    ],
    ids=["inventory YAML error", "host_vars YAML error"],
)
def test_an_inventory_that_does_not_parse_fails_the_task_naming_file_line_and_column(
    tmp_path: Path, desired: Path, rel: str, content: str, line: int
) -> None:
    state = tmp_path / "state"
    world(state)
    broken = tmp_path / rel
    broken.parent.mkdir(exist_ok=True)
    broken.write_text(content)
    rc, result, out = run_plan(tmp_path, {"state_dir": str(state), "inventory": str(desired)})
    assert result.get("failed") is True, out[-3000:]
    assert f"cannot parse {broken} (line {line}, column" in result["msg"] and "YAML parsing failed" in result["msg"]
    events = [json.loads(e) for e in (state / "journal.jsonl").read_text().splitlines()]
    assert events[-1]["type"] == "cycle_skipped" and events[-1]["file"] == str(broken)
    assert not (state / "actions" / "pending").exists() or not any((state / "actions" / "pending").iterdir())
