"""Lint is part of the suite: ansible-lint (production profile, no skip list) on the whole
collection, ruff (check and format) on every Python file of the repository, mypy on the controller
package, the EDA event source and the node agent. The import-layer contracts are in
test_import_layers.py."""

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
    """Every Python file (extensions/, roles/*/files/ and bench/ too), dead `noqa` included (RUF100)."""
    proc = run(str(BIN / "ruff"), "check", ".")
    assert proc.returncode == 0, proc.stdout[-8000:]


def test_ruff_format() -> None:
    proc = run(str(BIN / "ruff"), "format", "--check", ".")
    assert proc.returncode == 0, proc.stdout[-8000:]


def test_mypy() -> None:
    """[tool.mypy] in pyproject.toml: every def typed (disallow_untyped_defs), no unused `type: ignore`."""
    proc = run(str(BIN / "mypy"))
    assert proc.returncode == 0, proc.stdout[-8000:]


def test_node_agent_type_checks_against_an_older_standard_library() -> None:
    """The node agent runs on the node's own python3 (3.9+, its header): nothing newer than 3.10's
    standard library (the oldest mypy checks against), e.g. no ``datetime.UTC``."""
    agent = "roles/node_agent/files/steward_node_agent.py"
    proc = run(str(BIN / "mypy"), "--python-version", "3.10", "--no-incremental", agent)
    assert proc.returncode == 0, proc.stdout[-8000:]


def test_no_module_of_the_package_outgrows_one_job() -> None:
    """Issue 12: small modules a newcomer can read; a file past ~400 lines is a job to split."""
    limit = 400
    long = {
        str(path.relative_to(ROOT)): n
        for path in sorted((ROOT / "src" / "steward").rglob("*.py"))
        if (n := len(path.read_text().splitlines())) > limit
    }
    assert not long, f"split these (more than {limit} lines): {long}"
