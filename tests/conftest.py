from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT / "tests", ROOT / "collections"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402

import pytest  # noqa: E402

LAB_INVENTORY = ROOT / "lab" / "inventory" / "hosts.yml"


def lab_missing() -> str | None:
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, dockerd)"
    for tool in ("dockerd", "docker", "ip", "busybox"):
        if shutil.which(tool) is None:
            return f"the lab needs {tool} (run scripts/bootstrap.sh)"
    if not os.path.exists("/usr/sbin/sshd"):
        return "the lab needs openssh-server (run scripts/bootstrap.sh)"
    return None


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    return env


def deploy_lab() -> None:
    """Apply the lab's desired state (every container back to how the inventory says)."""
    subprocess.run(
        ["ansible-playbook", "-i", str(LAB_INVENTORY), str(ROOT / "playbooks" / "deploy.yml")],
        cwd=ROOT,
        env=_env(),
        check=True,
        capture_output=True,
        timeout=300,
    )


def lab_docker(host: str, *args: str) -> str:
    out = subprocess.run(
        [str(ROOT / "lab" / "docker.sh"), host, *args],
        cwd=ROOT,
        env=_env(),
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout.strip()


@pytest.fixture(scope="session")
def lab_up() -> object:
    """The namespace lab (2 hosts), brought up once per test session and torn down after."""
    why = lab_missing()
    if why:
        pytest.skip(why)
    subprocess.run([str(ROOT / "lab" / "up.sh")], cwd=ROOT, env=_env(), check=True, timeout=300)
    yield LAB_INVENTORY
    if os.environ.get("STEWARD_KEEP_LAB") != "1":
        subprocess.run([str(ROOT / "lab" / "down.sh")], cwd=ROOT, env=_env(), check=False, timeout=300)


@pytest.fixture
def lab(lab_up, tmp_path, monkeypatch):
    """Lab in its desired state, with a fresh state folder; STEWARD_* env set for the CLI."""
    deploy_lab()
    state = tmp_path / "state"
    monkeypatch.setenv("STEWARD_INVENTORY", str(LAB_INVENTORY))
    monkeypatch.setenv("STEWARD_STATE_DIR", str(state))
    monkeypatch.setenv("PATH", _env()["PATH"])
    from steward.app.settings import resolve_settings

    return resolve_settings(project_dir=ROOT)


@pytest.fixture(scope="session", autouse=True)
def private_state_registry(tmp_path_factory):
    """Steward remembers every state folder it used (steward.state.folder, per user): the tests'
    thousands of temporary state folders go into a registry of their own, not the machine user's."""
    registry_home = tmp_path_factory.mktemp("xdg-state")
    old = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(registry_home)
    yield registry_home
    if old is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = old
