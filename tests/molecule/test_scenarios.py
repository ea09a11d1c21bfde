"""Every role's Molecule scenario (extensions/molecule/<scenario>/), run for real by pytest.

Each scenario uses the default (delegated) driver against localhost and starts the real
service it needs itself (dockerd, tmpfs, mosquitto, the LocalAPI server) in prepare.yml and
stops it in cleanup/destroy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent.name for p in (ROOT / "extensions" / "molecule").glob("*/molecule.yml"))

pytestmark = pytest.mark.slow


def test_every_role_has_a_scenario() -> None:
    roles = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir())
    assert roles and set(roles) <= set(SCENARIOS), f"roles without a Molecule scenario: {set(roles) - set(SCENARIOS)}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("the scenarios start real services (dockerd, tmpfs mounts): they need root")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
    }
    proc = subprocess.run(
        ["molecule", "test", "-s", scenario], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, f"molecule test -s {scenario} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
