"""The pending playbook keeps a node's strings inert: one document, one play on the host, nothing templated."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import REPO
from steward.core.model import Drift, Remedy
from steward.plan.playbook import load_playbook, shape_problem
from steward.plan.render import render_action

NASTY = [
    "evil:1\n---\n- hosts: localhost\n  tasks:\n  - ansible.builtin.shell: touch {marker}\n#",
    "{{{{ lookup('ansible.builtin.pipe', 'touch {marker}') }}}}",
    "{{% set x = lookup('ansible.builtin.pipe', 'touch {marker}') %}}",
    "\x1b[2J\x1b[1;1Hfake header\r\n# To approve : rm -rf /",
    "line\u2028separator\x85next\x00nul",
]


def _render(value: str, target: str = "web") -> str:
    drift = Drift(
        "h1",
        "docker",
        target,
        "wrong_image",
        f"container {target} runs image {value}, desired nginx:1",
        desired={"image": "nginx:1"},
        observed={"present": True, "image": value, "state": value},
    )
    remedy = Remedy(
        what="show what the play knows",
        modules="ansible.builtin.debug",
        tasks=[
            {"name": "Show steward_action", "ansible.builtin.debug": {"var": "steward_action"}},
            {"name": "Show the id", "ansible.builtin.debug": {"msg": "{{ steward_action.id }}"}},
        ],
    )
    meta = {
        "id": "20261201T000000Z-h1-web-wrong_image-0000",
        "key": f"h1/docker/{target}/wrong_image",
        "host": "h1",
        "summary": drift.summary,
        "created_at": "2026-12-01T00:00:00Z",
        "expires_at": "2026-12-02T00:00:00Z",
        "evidence": {
            "fingerprint": drift.fingerprint,
            "observed_at": "2026-12-01T00:00:00Z",
            "cycle": value,  # the world file's cycle as a node-side writer could have set it
            "observations": 2,
            "since": "2026-12-01T00:00:00Z",
            "desired": drift.desired,
            "observed": drift.observed,
        },
    }
    hint = {"approve": "mv a b", "approve_cli": "steward approve X", "reject_cli": "steward reject X --reason '...'"}
    return render_action(drift, remedy, meta, hint)


@pytest.mark.parametrize("template", NASTY)
def test_a_nasty_value_stays_in_one_comment_line_and_out_of_the_play(template, tmp_path) -> None:
    value = template.format(marker=tmp_path / "marker")
    text = _render(value)
    header, body = text.split("\n---\n", 1)
    assert all(line.startswith("#") for line in header.splitlines() if line), header
    assert "\x1b" not in text and "\r" not in text and "\u2028" not in text and "\x00" not in text
    docs = load_playbook(text.encode())
    assert len(docs) == 1 and len(docs[0]) == 1
    play = docs[0][0]
    assert play["hosts"] == "h1"
    assert set(play["vars"]["steward_action"]) == {"id", "key", "host", "created_at", "expires_at", "evidence"}
    assert "observed" not in play["vars"]["steward_action"]["evidence"]  # node values stay in the header/ledger
    assert shape_problem(docs, "h1", play["vars"]["steward_action"]["id"], ["ansible.builtin.debug"]) is None
    # every string in steward_action carries !unsafe
    raw = yaml.compose(body)
    meta_node = next(v for k, v in raw.value[0].value if k.value == "vars").value[0][1]
    tags = [v.tag for _, v in meta_node.value if isinstance(v, yaml.ScalarNode) and not v.value.isdigit()]
    assert tags and set(tags) == {"!unsafe"}


def test_running_the_rendered_playbook_templates_nothing(tmp_path) -> None:
    """The real ansible-playbook, on a local host: the play shows the values and runs no lookup."""
    marker = tmp_path / "marker"
    text = _render(NASTY[1].format(marker=marker))
    playbook = tmp_path / "action.yml"
    playbook.write_text(text)
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {"all": {"hosts": {"h1": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}
        )
    )
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    out = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(playbook)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ansible.builtin.pipe" in out.stdout  # shown as text
    assert not marker.exists()
    assert out.stdout.count("PLAY [") == 1
