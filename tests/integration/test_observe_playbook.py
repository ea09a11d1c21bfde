"""observe.yml, run for real through ansible-runner from the repository root.

Hosts used here:
- a local host whose Docker socket does not exist -> docker.status engine_unreachable;
- an ssh host at 198.18.0.250, where nothing listens -> reachable false;
- (root + dockerd installed) a local host pointed at a dockerd this test starts itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ansible_runner
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
UNREACHABLE_IP = "198.18.0.250"  # lab range, never assigned: nothing answers there

pytestmark = pytest.mark.slow


def local_host(docker_host: str) -> dict[str, Any]:
    return {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "steward_docker_host": docker_host,
    }


def run_observe(
    tmp_path: Path,
    hosts: dict[str, dict[str, Any]],
    *,
    state_dir: Path | str | None,
    extravars: dict[str, Any] | None = None,
    cmdline: str | None = None,
    inventory_vars: dict[str, Any] | None = None,
) -> ansible_runner.Runner:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts, "vars": inventory_vars or {}}}))
    envvars = {
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        # ansible-runner calls ansible-playbook by name.
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        # An empty value counts as unset, so the inventory's steward_state_dir applies.
        "STEWARD_STATE_DIR": "" if state_dir is None else str(state_dir),
    }
    private = tmp_path / "runner"
    private.mkdir(exist_ok=True)
    return ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(REPO),
        playbook="observe.yml",
        inventory=str(inventory),
        envvars=envvars,
        extravars=extravars or {},
        cmdline=cmdline,
        quiet=True,
        timeout=300,
    )


def stdout_of(runner: ansible_runner.Runner) -> str:
    return runner.stdout.read() if runner.stdout else ""


def world(state_dir: Path, host: str) -> dict[str, Any]:
    return json.loads((state_dir / "world" / f"{host}.json").read_text())


SCHEMA_KEYS = {"schema", "host", "observed_at", "cycle", "reachable", "error", "checks"}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_unreachable_engine_and_unreachable_host_are_recorded_not_dropped(tmp_path: Path) -> None:
    state = tmp_path / "state"
    missing_socket = f"unix://{tmp_path}/no-such-docker.sock"
    hosts = {
        "node-local": local_host(missing_socket),
        "node-gone": {
            "ansible_host": UNREACHABLE_IP,
            "ansible_connection": "ssh",
            "ansible_user": "root",
            "ansible_ssh_common_args": "-o ConnectTimeout=3 -o ConnectionAttempts=1",
        },
    }

    runner = run_observe(tmp_path, hosts, state_dir=state, extravars={"steward_cycle": "itest-0001"})

    # The unreachable host does not fail the run: the check ignores it and the world file records it.
    assert runner.status == "successful", stdout_of(runner)
    assert runner.rc == 0
    assert runner.stats["ignored"] == {"node-gone": 1}
    assert not runner.stats["dark"] and not runner.stats["failures"]

    local = world(state, "node-local")
    assert set(local) == SCHEMA_KEYS
    assert local["schema"] == 1
    assert local["host"] == "node-local"
    assert local["cycle"] == "itest-0001"
    assert local["reachable"] is True
    assert local["error"] is None
    assert ISO_Z.match(local["observed_at"])
    docker = local["checks"]["docker"]
    assert docker["status"] == "engine_unreachable"
    assert docker["containers"] is None  # could not look: not "no containers"
    assert docker["docker_host"] == missing_socket
    assert "does not exist" in docker["error"]

    gone = world(state, "node-gone")
    assert set(gone) == SCHEMA_KEYS
    assert gone["reachable"] is False
    assert gone["checks"] == {}
    assert gone["cycle"] == "itest-0001"
    assert "ssh" in gone["error"].lower()

    assert sorted(p.name for p in (state / "world").iterdir()) == ["node-gone.json", "node-local.json"]

    # The executor's way of reading a run: events, not stdout.
    written = [
        e["event_data"]["host"]
        for e in runner.events
        if e.get("event") == "runner_on_ok" and e["event_data"].get("task") == "Record the world state"
    ]
    assert sorted(written) == ["node-gone", "node-local"]


def test_cycle_defaults_to_a_utc_timestamp_and_state_dir_to_the_inventory(tmp_path: Path) -> None:
    # steward_state_dir relative to the playbook's folder (the repo root), pointing into tmp_path.
    target = tmp_path / "rel-state"
    relative = os.path.relpath(target, REPO)
    hosts = {"a": local_host(f"unix://{tmp_path}/none.sock"), "b": local_host(f"unix://{tmp_path}/none.sock")}

    runner = run_observe(tmp_path, hosts, state_dir=None, inventory_vars={"steward_state_dir": relative})

    assert runner.status == "successful", stdout_of(runner)
    a, b = world(target, "a"), world(target, "b")
    assert re.match(r"^\d{8}T\d{6}Z$", a["cycle"])
    assert a["cycle"] == b["cycle"]  # one id for the whole run


def test_check_mode_observes_but_writes_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    runner = run_observe(
        tmp_path, {"node-local": local_host(f"unix://{tmp_path}/none.sock")}, state_dir=state, cmdline="--check"
    )

    assert runner.status == "successful", stdout_of(runner)
    assert not state.exists()
    assert runner.stats["changed"] == {"node-local": 1}


@pytest.mark.parametrize(
    ("cmdline", "inventory_vars"),
    [("--skip-tags docker", {}), (None, {"docker_health_containers_enabled": False})],
    ids=["skip-tags", "toggle-off"],
)
def test_nothing_observed_means_no_world_file(
    tmp_path: Path, cmdline: str | None, inventory_vars: dict[str, Any]
) -> None:
    """With every check skipped nothing was looked at: no "reachable, no checks" file appears."""
    state = tmp_path / "state"
    runner = run_observe(
        tmp_path,
        {"node-local": local_host(f"unix://{tmp_path}/none.sock")},
        state_dir=state,
        cmdline=cmdline,
        inventory_vars=inventory_vars,
    )

    assert runner.status == "successful", stdout_of(runner)
    assert not (state / "world" / "node-local.json").exists()


def test_misconfigured_docker_host_is_recorded_as_a_failed_check(tmp_path: Path) -> None:
    state = tmp_path / "state"
    runner = run_observe(tmp_path, {"node-local": local_host("tcp://127.0.0.1:2375")}, state_dir=state)

    assert runner.status == "successful", stdout_of(runner)
    assert runner.stats["rescued"] == {"node-local": 1}
    docker = world(state, "node-local")["checks"]["docker"]
    assert docker["status"] == "check_failed"
    assert docker["containers"] is None
    assert "tcp://127.0.0.1:2375" in docker["error"]


# --- a real Docker engine ------------------------------------------------------------------


def _docker_cli() -> str | None:
    # Debian's docker.io CLI matches its dockerd; another CLI earlier on PATH may be newer.
    return "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else shutil.which("docker")


class Dockerd:
    def __init__(self, root: Path, proc: subprocess.Popen[bytes], cli: str) -> None:
        self.root = root
        self.proc = proc
        self.cli = cli
        self.docker_host = f"unix://{root}/docker.sock"

    def docker(self, *args: str, stdin: bytes | None = None) -> str:
        out = subprocess.run(
            [self.cli, "-H", self.docker_host, *args], input=stdin, capture_output=True, timeout=120, check=False
        )
        if out.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} failed: {out.stderr.decode(errors='replace')}")
        return out.stdout.decode().strip()


@pytest.fixture(scope="module")
def dockerd() -> Iterator[Dockerd]:
    if os.geteuid() != 0:
        pytest.skip("a real dockerd needs root")
    binary, cli, busybox = shutil.which("dockerd"), _docker_cli(), shutil.which("busybox")
    if not (binary and cli and busybox):
        pytest.skip("dockerd, the docker CLI and busybox are needed (Debian docker.io, busybox-static)")
    # Short path: dockerd's sockets live under it and AF_UNIX paths are limited to 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="sdd-", dir="/tmp"))
    log = (root / "dockerd.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            "--host",
            f"unix://{root}/docker.sock",
            "--data-root",
            f"{root}/data",
            "--exec-root",
            f"{root}/exec",
            "--pidfile",
            f"{root}/docker.pid",
            "--bridge",
            "none",
            "--iptables=false",
            "--ip6tables=false",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    engine = Dockerd(root, proc, cli)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"dockerd exited with {proc.returncode}: {(root / 'dockerd.log').read_text()[-2000:]}")
            try:
                engine.docker("version")
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    pytest.fail("dockerd did not answer within 60 s")
                time.sleep(0.5)
        # No registry is reachable: a busybox-static rootfs becomes the image.
        rootfs = root / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        shutil.copy2(busybox, rootfs / "bin" / "busybox")
        applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
        for applet in applets:
            if applet != "busybox":
                (rootfs / "bin" / applet).symlink_to("busybox")
        tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True).stdout
        engine.docker("import", "-", "steward/busybox:test", stdin=tar)
        yield engine
    finally:
        try:
            ids = engine.docker("ps", "-aq").split()
            if ids:
                engine.docker("rm", "-f", *ids)
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def _wait_for(engine: Dockerd, name: str, template: str, want: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while engine.docker("inspect", "-f", template, name) != want:
        if time.monotonic() > deadline:
            pytest.fail(f"{name}: {template} never became {want}")
        time.sleep(0.5)


@pytest.mark.lab
def test_real_dockerd_containers_show_up_in_the_world_file(tmp_path: Path, dockerd: Dockerd) -> None:
    image = "steward/busybox:test"
    web_id = dockerd.docker(
        "run", "-d", "--name", "web", "--network", "none", "--label", "com.docker.compose.project=home",
        "--health-cmd", "true", "--health-interval", "1s", image, "/bin/sleep", "1000",
    )  # fmt: skip
    dockerd.docker("run", "-d", "--name", "crashed", "--network", "none", image, "/bin/sh", "-c", "exit 3")
    dockerd.docker("create", "--name", "fresh", "--network", "none", image, "/bin/true")
    _wait_for(dockerd, "web", "{{.State.Health.Status}}", "healthy")
    _wait_for(dockerd, "crashed", "{{.State.Status}}", "exited")
    state = tmp_path / "state"

    runner = run_observe(tmp_path, {"node-docker": local_host(dockerd.docker_host)}, state_dir=state)

    assert runner.status == "successful", stdout_of(runner)
    doc = world(state, "node-docker")
    docker = doc["checks"]["docker"]
    assert docker["status"] == "ok", docker
    assert docker["error"] is None
    by_name = {c["name"]: c for c in docker["containers"]}
    assert sorted(by_name) == ["crashed", "fresh", "web"]
    web = by_name["web"]
    assert web["id"] == web_id[:12]
    assert (web["state"], web["health"], web["compose_project"]) == ("running", "healthy", "home")
    assert web["image"] == image
    assert web["image_id"].startswith("sha256:")
    assert web["restart_count"] == 0
    assert web["started_at"].endswith("Z")
    crashed = by_name["crashed"]
    assert (crashed["state"], crashed["exit_code"], crashed["health"]) == ("exited", 3, None)
    assert by_name["fresh"]["state"] == "created"
    assert by_name["fresh"]["started_at"] is None
