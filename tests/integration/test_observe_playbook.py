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


def local_host(docker_host: str, **extra: Any) -> dict[str, Any]:
    """A host run over the local connection; its Tailscale socket is a path nothing serves."""
    return {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "steward_docker_host": docker_host,
        "tailscale_health_socket": "/nonexistent/steward-test/tailscaled.sock",
        **extra,
    }


def run_observe(
    tmp_path: Path,
    hosts: dict[str, dict[str, Any]],
    *,
    state_dir: Path | str | None,
    extravars: dict[str, Any] | None = None,
    cmdline: str | None = None,
    inventory_vars: dict[str, Any] | None = None,
    limit: str | None = None,
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
        limit=limit,
        quiet=True,
        timeout=300,
    )


def stdout_of(runner: ansible_runner.Runner) -> str:
    return runner.stdout.read() if runner.stdout else ""


def world(state_dir: Path, host: str) -> dict[str, Any]:
    return json.loads((state_dir / "world" / f"{host}.json").read_text())


def tasks_run(runner: ansible_runner.Runner, host: str) -> list[str]:
    """Names of the tasks that ran (ok, failed or unreachable) for one host, in order."""
    kinds = ("runner_on_ok", "runner_on_failed", "runner_on_unreachable")
    return [
        e["event_data"]["task"] for e in runner.events if e.get("event") in kinds and e["event_data"]["host"] == host
    ]


SCHEMA_KEYS = {"schema", "host", "observed_at", "cycle", "reachable", "error", "checks"}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
GATHER = "Observe the host and record its world state"
GONE = {
    "ansible_host": UNREACHABLE_IP,
    "ansible_connection": "ssh",
    "ansible_user": "root",
    "ansible_ssh_common_args": "-o ConnectTimeout=3 -o ConnectionAttempts=1",
}


def test_unreachable_engine_and_unreachable_host_are_recorded_not_dropped(tmp_path: Path) -> None:
    state = tmp_path / "state"
    missing_socket = f"unix://{tmp_path}/no-such-docker.sock"
    hosts = {"node-local": local_host(missing_socket), "node-gone": GONE}

    runner = run_observe(tmp_path, hosts, state_dir=state, extravars={"steward_cycle": "itest-0001"})

    # The unreachable host neither fails the run nor counts as unreachable: its world file says so.
    assert runner.status == "successful", stdout_of(runner)
    assert runner.rc == 0
    assert not runner.stats["dark"] and not runner.stats["failures"] and not runner.stats["ignored"]

    local = world(state, "node-local")
    assert set(local) == SCHEMA_KEYS
    assert local["schema"] == 1
    assert local["host"] == "node-local"
    assert local["cycle"] == "itest-0001"
    assert local["reachable"] is True
    assert local["error"] is None
    assert ISO_Z.match(local["observed_at"])
    # Every configured check, in one file; mqtt has no broker to check in this inventory.
    assert sorted(local["checks"]) == ["disk", "docker", "tailscale"]
    docker = local["checks"]["docker"]
    assert docker["status"] == "engine_unreachable"
    assert docker["containers"] is None  # could not look: not "no containers"
    assert docker["docker_host"] == missing_socket
    assert "does not exist" in docker["error"]
    assert local["checks"]["disk"]["status"] == "ok"
    assert [m["path"] for m in local["checks"]["disk"]["mounts"]] == ["/"]
    assert local["checks"]["tailscale"]["status"] == "absent"

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
        if e.get("event") == "runner_on_ok" and e["event_data"].get("task") == GATHER
    ]
    assert sorted(written) == ["node-gone", "node-local"]


def test_one_task_per_host_gathers_every_check(tmp_path: Path) -> None:
    """The roles configure the gathering once per run; each host then costs one module run."""
    state = tmp_path / "state"
    sock = f"unix://{tmp_path}/none.sock"
    hosts = {"a": local_host(sock), "b": local_host(sock), "c": local_host(sock)}

    runner = run_observe(tmp_path, hosts, state_dir=state)

    assert runner.status == "successful", stdout_of(runner)
    # The run_once configuration tasks report on the first host only; the others run one task.
    assert tasks_run(runner, "b") == [GATHER]
    assert tasks_run(runner, "c") == [GATHER]
    assert tasks_run(runner, "a")[-1] == GATHER
    for host in hosts:
        assert sorted(world(state, host)["checks"]) == ["disk", "docker", "tailscale"]


def test_all_four_checks_with_a_real_broker(tmp_path: Path) -> None:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto is needed (Debian package mosquitto)")
    from mosquitto import Mosquitto

    state = tmp_path / "state"
    with Mosquitto(tmp_path / "broker") as broker:
        brokers = [{"name": "home", "host": broker.host, "port": broker.port}]
        hosts = {"node": local_host(f"unix://{tmp_path}/none.sock", steward_mqtt_brokers=brokers)}
        runner = run_observe(tmp_path, hosts, state_dir=state)

    assert runner.status == "successful", stdout_of(runner)
    checks = world(state, "node")["checks"]
    assert sorted(checks) == ["disk", "docker", "mqtt", "tailscale"]
    assert [(b["name"], b["status"]) for b in checks["mqtt"]["brokers"]] == [("home", "accepted")]


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        ("--tags disk", ["disk"]),
        ("--tags docker,tailscale", ["docker", "tailscale"]),
        ("--skip-tags docker", ["disk", "tailscale"]),
    ],
    ids=["only-disk", "two-tags", "skip-docker"],
)
def test_partial_observation_writes_only_the_checks_that_ran(tmp_path: Path, cmdline: str, expected: list[str]) -> None:
    state = tmp_path / "state"
    runner = run_observe(
        tmp_path, {"node-local": local_host(f"unix://{tmp_path}/none.sock")}, state_dir=state, cmdline=cmdline
    )

    assert runner.status == "successful", stdout_of(runner)
    doc = world(state, "node-local")
    assert doc["reachable"] is True
    assert sorted(doc["checks"]) == expected


def test_a_check_switched_off_for_one_host_is_left_out_for_that_host_only(tmp_path: Path) -> None:
    state = tmp_path / "state"
    sock = f"unix://{tmp_path}/none.sock"
    hosts = {"on": local_host(sock), "off": local_host(sock, docker_health_containers_enabled=False)}

    runner = run_observe(tmp_path, hosts, state_dir=state)

    assert runner.status == "successful", stdout_of(runner)
    assert "docker" in world(state, "on")["checks"]
    assert sorted(world(state, "off")["checks"]) == ["disk", "tailscale"]


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


def test_limit_observes_only_that_host(tmp_path: Path) -> None:
    """`steward observe --limit H` and the executor's re-observe run observe.yml like this."""
    state = tmp_path / "state"
    sock = f"unix://{tmp_path}/none.sock"
    runner = run_observe(
        tmp_path, {"a": local_host(sock), "b": local_host(sock)}, state_dir=state, limit="b",
        extravars={"steward_cycle": "limited"},
    )  # fmt: skip

    assert runner.status == "successful", stdout_of(runner)
    assert [p.name for p in (state / "world").iterdir()] == ["b.json"]
    assert sorted(world(state, "b")["checks"]) == ["disk", "docker", "tailscale"]


def test_check_mode_observes_but_writes_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    runner = run_observe(
        tmp_path, {"node-local": local_host(f"unix://{tmp_path}/none.sock")}, state_dir=state, cmdline="--check"
    )

    assert runner.status == "successful", stdout_of(runner)
    assert not state.exists()
    assert not runner.stats["changed"]
    seen = [
        e["event_data"]["res"]["world"]
        for e in runner.events
        if e.get("event") == "runner_on_ok" and e["event_data"].get("task") == GATHER
    ]
    assert [doc["checks"]["docker"]["status"] for doc in seen] == ["engine_unreachable"]


@pytest.mark.parametrize(
    ("cmdline", "inventory_vars"),
    [
        ("--skip-tags docker,disk,mqtt,tailscale", {}),
        ("--tags no-such-check", {}),
        (
            None,
            {
                "docker_health_containers_enabled": False,
                "disk_health_usage_enabled": False,
                "mqtt_health_brokers_enabled": False,
                "tailscale_health_status_enabled": False,
            },
        ),
    ],
    ids=["skip-tags", "unknown-tag", "toggles-off"],
)
def test_nothing_observed_means_no_world_file(
    tmp_path: Path, cmdline: str | None, inventory_vars: dict[str, Any]
) -> None:
    """With every check skipped nothing was looked at: no "reachable, no checks" file appears."""
    state = tmp_path / "state"
    runner = run_observe(
        tmp_path,
        {"node-local": local_host(f"unix://{tmp_path}/none.sock"), "node-gone": GONE},
        state_dir=state,
        cmdline=cmdline,
        inventory_vars=inventory_vars,
    )

    assert runner.status == "successful", stdout_of(runner)
    assert not (state / "world").exists()
    assert not runner.stats["dark"]  # the hosts were not even contacted


def test_misconfigured_docker_host_is_recorded_as_a_failed_check(tmp_path: Path) -> None:
    state = tmp_path / "state"
    runner = run_observe(tmp_path, {"node-local": local_host("tcp://127.0.0.1:2375")}, state_dir=state)

    assert runner.status == "successful", stdout_of(runner)
    checks = world(state, "node-local")["checks"]
    assert checks["docker"]["status"] == "check_failed"
    assert checks["docker"].get("containers") is None
    assert "tcp://127.0.0.1:2375" in checks["docker"]["error"]
    assert checks["disk"]["status"] == "ok"  # one bad check does not hide the others


def test_a_node_that_cannot_run_the_checks_is_recorded_with_every_check_failed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    host = local_host(f"unix://{tmp_path}/none.sock", ansible_python_interpreter=str(tmp_path / "no-python"))

    runner = run_observe(tmp_path, {"node-local": host}, state_dir=state)

    assert runner.status == "successful", stdout_of(runner)
    doc = world(state, "node-local")
    assert doc["reachable"] is True
    assert sorted(doc["checks"]) == ["disk", "docker", "tailscale"]
    assert {c["status"] for c in doc["checks"].values()} == {"check_failed"}
    assert "no-python" in doc["checks"]["docker"]["error"]


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


def _restarts(engine: Dockerd, name: str) -> int:
    return int(engine.docker("inspect", "-f", "{{.RestartCount}}", name))


@pytest.mark.lab
def test_real_dockerd_containers_show_up_in_the_world_file(tmp_path: Path, dockerd: Dockerd) -> None:
    image = "steward/busybox:test"
    web_id = dockerd.docker(
        "run", "-d", "--name", "web", "--network", "none", "--label", "com.docker.compose.project=home",
        "--health-cmd", "true", "--health-interval", "1s", image, "/bin/sleep", "1000",
    )  # fmt: skip
    dockerd.docker("run", "-d", "--name", "crashed", "--network", "none", image, "/bin/sh", "-c", "exit 3")
    dockerd.docker("create", "--name", "fresh", "--network", "none", image, "/bin/true")
    dockerd.docker(
        "run", "-d", "--name", "sick", "--network", "none", "--health-cmd", "false", "--health-interval", "1s",
        "--health-retries", "1", image, "/bin/sleep", "1000",
    )  # fmt: skip
    dockerd.docker(
        "run", "-d", "--name", "looping", "--network", "none", "--restart", "always", image, "sh", "-c", "exit 1"
    )
    _wait_for(dockerd, "web", "{{.State.Health.Status}}", "healthy")
    _wait_for(dockerd, "sick", "{{.State.Health.Status}}", "unhealthy")
    _wait_for(dockerd, "crashed", "{{.State.Status}}", "exited")
    state = tmp_path / "state"
    hosts = {"node-docker": local_host(dockerd.docker_host)}

    runner = run_observe(tmp_path, hosts, state_dir=state, extravars={"steward_cycle": "one"})

    assert runner.status == "successful", stdout_of(runner)
    doc = world(state, "node-docker")
    docker = doc["checks"]["docker"]
    assert docker["status"] == "ok", docker
    assert docker["error"] is None
    by_name = {c["name"]: c for c in docker["containers"]}
    assert sorted(by_name) == ["crashed", "fresh", "looping", "sick", "web"]
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
    assert (by_name["sick"]["state"], by_name["sick"]["health"]) == ("running", "unhealthy")

    # A restart loop is visible in world state: its restart count rises from one observation to the next.
    first = by_name["looping"]["restart_count"]
    deadline = time.monotonic() + 90  # the engine backs off 0.1 s, 0.2 s, 0.4 s, ... between restarts
    while _restarts(dockerd, "looping") <= first:
        if time.monotonic() > deadline:
            pytest.fail("the looping container did not restart again within 90 s")
        time.sleep(0.5)
    runner = run_observe(tmp_path, hosts, state_dir=state, extravars={"steward_cycle": "two"})

    assert runner.status == "successful", stdout_of(runner)
    again = {c["name"]: c for c in world(state, "node-docker")["checks"]["docker"]["containers"]}
    assert again["looping"]["restart_count"] > first
    assert again["looping"]["state"] in ("restarting", "running", "exited")


def test_observe_with_plan_confirms_with_a_second_look_and_writes_one_action(tmp_path: Path) -> None:
    """steward_observe_plan=true (how the rulebook runs it): look, plan, look again after
    confirm_interval, plan again -> one pending action from two separate observations."""
    state = tmp_path / "state"
    hosts = {"node": local_host(f"unix://{tmp_path}/none.sock", steward_disk={"/": 1})}  # "/" is over 1 %
    policy = {"steward_policy": {"confirm_interval": 2}}
    runner = run_observe(
        tmp_path, hosts, state_dir=state, extravars={"steward_observe_plan": True}, inventory_vars=policy
    )
    assert runner.status == "successful", stdout_of(runner)
    ran = tasks_run(runner, "node")
    assert ran.count(GATHER) == 1
    assert "Look again at a host whose drift waits for confirmation (round 1)" in ran
    # confirmed after round 1: round 2 skipped
    assert "Look again at a host whose drift waits for confirmation (round 2)" not in ran
    (action,) = (state / "actions" / "pending").glob("*.yml")
    assert "-node-" in action.name and "disk" in action.read_text()
    ledger = json.loads((state / "engine" / "ledger" / f"{action.stem}.json").read_text())
    assert ledger["evidence"]["observations"] == 2
    assert ledger["evidence"]["cycle"].endswith("-c1")


def test_observe_with_plan_stops_with_a_clear_error_on_a_malformed_desired_state(tmp_path: Path) -> None:
    state = tmp_path / "state"
    hosts = {"node": local_host(f"unix://{tmp_path}/none.sock", steward_disk="full please")}
    runner = run_observe(tmp_path, hosts, state_dir=state, extravars={"steward_observe_plan": True})
    assert runner.status == "failed"
    out = stdout_of(runner)
    assert "node" in out and "steward_disk" in out, out[-3000:]
    assert not (state / "actions" / "pending").exists() or not any((state / "actions" / "pending").iterdir())


def test_observe_with_plan_looks_again_only_at_the_host_whose_drift_waits(tmp_path: Path) -> None:
    """Two hosts; only the second (not the one run_once picks) drifts: only it is looked at again."""
    state = tmp_path / "state"
    sock = f"unix://{tmp_path}/none.sock"
    hosts = {"alpha": local_host(sock), "beta": local_host(sock, steward_disk={"/": 1})}
    runner = run_observe(tmp_path, hosts, state_dir=state, extravars={"steward_observe_plan": True})
    assert runner.status == "successful", stdout_of(runner)
    again = "Look again at a host whose drift waits for confirmation (round 1)"
    assert again not in tasks_run(runner, "alpha")
    assert again in tasks_run(runner, "beta")
    (action,) = (state / "actions" / "pending").glob("*.yml")
    assert "-beta-" in action.name
    assert not world(state, "alpha")["cycle"].endswith("-c1")  # looked at once
    assert world(state, "beta")["cycle"].endswith("-c1")


# -- an inventory Ansible cannot read stops the run: nothing observed, the file named ----------------


def _observe_from_root(tmp_path: Path, inventory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`ansible-playbook observe.yml` from the repository root, as an operator runs it."""
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "STEWARD_STATE_DIR": str(tmp_path / "state"),
    }
    cmd = ["ansible-playbook", "-i", str(inventory), "observe.yml", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _inventory_dir(tmp_path: Path) -> Path:
    inv = tmp_path / "inventory"
    (inv / "host_vars").mkdir(parents=True)
    hosts = {"node": local_host(f"unix://{tmp_path}/none.sock", steward_services=[])}
    (inv / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    (inv / "host_vars" / "node.yml").write_text("steward_disk: {'/': 99}\n")
    return inv


@pytest.mark.parametrize(
    ("rel", "damage", "located"),
    [
        ("hosts.yml", lambda text: text.replace("node:", "node: [", 1), True),
        ("hosts.yml", lambda text: text[: len(text) // 2] + '\n  "cut', True),
        ("host_vars/node.yml", lambda text: "steward_disk: {'/': [\n", False),
    ],
    ids=["hosts.yml YAML error", "hosts.yml truncated mid-write", "host_vars YAML error"],
)
def test_an_inventory_that_does_not_parse_stops_the_observe_playbook(
    tmp_path: Path, rel: str, damage: Any, located: bool
) -> None:
    inv = _inventory_dir(tmp_path)
    broken = inv / rel
    broken.write_text(damage(broken.read_text()))
    proc = _observe_from_root(tmp_path, inv / "hosts.yml")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "YAML parsing failed" in out, out[-3000:]
    if located:  # Ansible names the file with line and column (any_unparsed_is_failed in ansible.cfg)
        assert re.search(re.escape(str(broken)) + r":\d+:\d+", out), out[-3000:]
        assert "Completely failed to parse inventory source" in out
    # ansible-core's host_group_vars drops the file name from its message; `steward observe` names it
    assert not (tmp_path / "state" / "world").exists() or not any((tmp_path / "state" / "world").iterdir())


def test_an_observe_playbook_whose_limit_matches_no_host_fails(tmp_path: Path) -> None:
    """Ansible's own rule: a --limit that leaves no host to target is an error (rc 1), never a success."""
    inv = _inventory_dir(tmp_path)
    proc = _observe_from_root(tmp_path, inv / "hosts.yml", "--limit", "nope")
    assert proc.returncode != 0 and "no hosts to target" in proc.stdout + proc.stderr
    assert not (tmp_path / "state" / "world").exists()
