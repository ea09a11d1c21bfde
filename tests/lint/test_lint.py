"""Lint is part of the suite: ansible-lint (production profile, no skip list) on the whole
collection, ruff on the Python, mypy on the controller package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
    }
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_ansible_lint_production_profile() -> None:
    proc = run(str(BIN / "ansible-lint"), "--profile", "production", "--offline")
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-4000:]


def test_ruff() -> None:
    proc = run(str(BIN / "ruff"), "check", "src", "tests", "plugins", "bench")
    assert proc.returncode == 0, proc.stdout[-8000:]


def test_mypy() -> None:
    proc = run(str(BIN / "mypy"))
    assert proc.returncode == 0, proc.stdout[-8000:]
