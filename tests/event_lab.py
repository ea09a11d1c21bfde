"""The event path on the namespace lab, for the end-to-end test and bench/event_latency.

Real parts only: a redis-server the lab hosts reach on the bridge (198.18.0.1) with its
append-only file on and ACL users as docs/operations.md asks (default user off; `steward` for
the controller, the rulebook and the bus; one `node-<host>` per lab host allowed only to XADD to
the stream, its password handed to the role through STEWARD_LAB_REDIS_PASSWORD_<HOST>), the node
agent on every lab host (playbooks/node_agent.yml, role
node_agent), and ansible-rulebook running rulebooks/steward.yml against the lab inventory with
the homelab.steward.events callback on, all writing into one state folder. Every process it
starts it stops, by the PID it started (agents by their pidfile, command line checked).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from redis_server import RedisServer, free_port
from redis_server import missing as redis_missing

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LAB_INVENTORY = ROOT / "lab" / "inventory" / "hosts.yml"
LAB_DIR = Path(os.environ.get("STEWARD_LAB_DIR") or "/tmp/steward-lab")
BRIDGE_IP = "198.18.0.1"
STREAM = "steward:events"
GROUP = "steward-eda"


def missing() -> str | None:
    """Why the event lab cannot run here (None when it can); the lab itself is checked by its fixture."""
    if redis_missing():
        return redis_missing()
    if not (BIN / "ansible-rulebook").exists():
        return "ansible-rulebook is not installed (pip install ansible-rulebook)"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "ansible-rulebook needs Java 17+ (apt-get install openjdk-17-jre-headless)"
    return None


class EventLab:
    def __init__(self, workdir: Path, inventory: Path = LAB_INVENTORY) -> None:
        self.workdir = workdir
        self.inventory = inventory
        self.port = free_port()
        self.redis = RedisServer(
            workdir / "redis",
            port=self.port,
            persistent=True,
            bind=("127.0.0.1", BRIDGE_IP),
            nodes=lab_hosts(inventory),
        )
        self.rulebook: subprocess.Popen[bytes] | None = None
        self.rulebook_log: Path | None = None
        self.agent_hosts: list[str] = []
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        """The controller's URL (ACL user `steward`), password included: never print it."""
        return self.redis.url

    @property
    def secrets(self) -> list[str]:
        return self.redis.secrets

    def env(self, state: Path | None = None) -> dict[str, str]:
        env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"),
            "STEWARD_REDIS_URL": self.url,
            "STEWARD_LAB_REDIS_PORT": str(self.port),
            **{f"STEWARD_LAB_REDIS_PASSWORD_{h.upper()}": pw for h, pw in self.redis.node_passwords.items()},
        }
        if state is not None:
            env["STEWARD_STATE_DIR"] = str(state)
            env["STEWARD_INVENTORY"] = str(self.inventory)
        return env

    def client(self) -> Any:
        """A client as the lab's admin user (the tests' own checks: XINFO, DEL, XRANGE)."""
        return self.redis.client()

    # -- redis ------------------------------------------------------------------------------------
    def start_redis(self) -> None:
        self.redis.start()

    # -- node agents --------------------------------------------------------------------------------
    def deploy_agents(self, limit: str | None = None) -> None:
        cmd = ["ansible-playbook", "-i", str(self.inventory), str(ROOT / "playbooks" / "node_agent.yml")]
        if limit:
            cmd += ["--limit", limit]
        out = subprocess.run(cmd, cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
        self.agent_hosts = sorted(p.parent.parent.name for p in LAB_DIR.glob("hosts/*/agent/agent.pid"))

    def stop_agents(self) -> None:
        pids = []
        for pidfile in LAB_DIR.glob("hosts/*/agent/agent.pid"):
            try:
                pid = int(pidfile.read_text().strip())
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except (OSError, ValueError):
                continue
            if b"steward_node_agent.py" in cmdline and str(LAB_DIR).encode() in cmdline:
                os.kill(pid, signal.SIGTERM)
                pids.append(pid)
        deadline = time.monotonic() + 10
        for pid in pids:
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)

    # -- the rulebook -------------------------------------------------------------------------------
    def start_rulebook(self, state: Path, timeout: float = 60) -> None:
        """ansible-rulebook with rulebooks/steward.yml; returns once its source reads the stream."""
        state.mkdir(parents=True, exist_ok=True)
        env = self.env(state)
        env["ANSIBLE_CALLBACKS_ENABLED"] = "homelab.steward.events"
        self.rulebook_log = self.workdir / f"rulebook-{state.name}.log"
        with self.rulebook_log.open("w") as log:
            self.rulebook = subprocess.Popen(
                [
                    str(BIN / "ansible-rulebook"),
                    "--rulebook",
                    str(ROOT / "rulebooks" / "steward.yml"),
                    "-i",
                    str(self.inventory),
                    "-E",
                    "STEWARD_REDIS_URL",
                ],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        client = self.client()
        deadline = time.monotonic() + timeout
        while True:
            assert self.rulebook.poll() is None, self.log_tail()
            assert time.monotonic() < deadline, "the rulebook's source did not start reading\n" + self.log_tail()
            try:
                if client.xinfo_consumers(STREAM, GROUP):
                    return
            except Exception:  # no stream or group yet
                pass
            time.sleep(0.05)

    def stop_rulebook(self) -> None:
        proc, self.rulebook = self.rulebook, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def reset_stream(self) -> None:
        """Forget every event and the consumer group (between independent trials)."""
        self.client().delete(STREAM)

    def log_tail(self, n: int = 6000) -> str:
        return self.rulebook_log.read_text()[-n:] if self.rulebook_log and self.rulebook_log.exists() else ""

    def close(self) -> None:
        self.stop_rulebook()
        self.stop_agents()
        self.redis.stop()


def lab_hosts(inventory: Path) -> tuple[str, ...]:
    """The host names of the lab inventory (one Redis user each)."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    return tuple(sorted(InventoryManager(loader=DataLoader(), sources=[str(inventory)]).hosts))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def journal_events(state: Path) -> list[dict[str, Any]]:
    path = state / "journal.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def event_time(event: dict[str, Any]) -> float:
    """Seconds since the epoch, from the nanoseconds in a Steward event id."""
    return int(str(event["id"]).split("-", 1)[0], 16) / 1e9


def stream_time(entry_id: str) -> float:
    """Seconds since the epoch at which Redis added a stream entry (its id's milliseconds)."""
    return int(entry_id.split("-", 1)[0]) / 1e3
