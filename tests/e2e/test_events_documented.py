"""The event path brought up on the lab the way docs/operations.md says ("The local lab"):
`lab/events-up.sh`, then `source $STEWARD_LAB_DIR/events/env` for every `steward` command, and
`lab/events-down.sh` to stop it - the scripts themselves, not a test's own set-up.

On that path, in one run: a stopped container becomes exactly one pending action; Redis stopped
for 20 s with another host's container stopped meanwhile, then started again with its own config,
gives that host's action within seconds of Redis returning (the figure is printed and written to
the test's folder); a node agent deployed with a wrong password fails the play with Redis's answer,
and the documented command deploys it again.

Real parts: the lab's sshd + dockerd per host, redis-server from lab/events-up.sh's config, the node
agent (role node_agent), ansible-rulebook with rulebooks/steward.yml, observe.yml + the drift engine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from event_lab import LAB_DIR, missing
from redis_server import free_port

from conftest import ROOT, lab_docker

pytestmark = pytest.mark.slow

EVENTS = LAB_DIR / "events"
RECOVERY_GOAL = 6.0  # seconds from Redis back to the pending action (issue 17)


def sh(script: str, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def pending(state: Path, host: str) -> list[Path]:
    folder = state / "actions" / "pending"
    return sorted(folder.glob(f"*-{host}-*.yml")) if folder.exists() else []


def wait_for(what: Callable[[], Any], seconds: float, why: Callable[[], str]) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := what()):
        assert time.monotonic() < deadline, why()
        time.sleep(0.1)
    return found


def event_path(env: dict[str, str]) -> dict[str, Any]:
    out = sh(f"source {EVENTS}/env && steward status --json", env)
    assert out.returncode == 0, out.stderr
    health: dict[str, Any] = json.loads(out.stdout)["event_path"]
    return health


def die_entry_at(env: dict[str, str], host: str) -> float:
    """When Redis added the host's last container_die to the stream (its entry id: ms since the epoch)."""
    import redis

    url = next(
        line.split("=", 1)[1]
        for line in (EVENTS / "env").read_text().splitlines()
        if line.startswith("export STEWARD_REDIS_URL=")
    )
    for entry_id, fields in redis.Redis.from_url(url).xrevrange("steward:events", count=200):
        if fields.get(b"type") == b"container_die" and json.loads(fields[b"event"]).get("host") == host:
            return int(entry_id.split(b"-")[0]) / 1000
    raise AssertionError(f"no container_die from {host} in the stream")


def rulebook_log() -> str:
    log = EVENTS / "rulebook.log"
    return log.read_text(errors="replace")[-4000:] if log.exists() else "(no rulebook.log)"


def test_the_documented_lab_event_path_turns_stops_into_actions_survives_an_outage_and_refuses_a_wrong_password(
    lab: Any, tmp_path: Path
) -> None:
    why = missing()
    if why:
        pytest.skip(why)
    state = Path(lab.state_dir)
    env = {**os.environ, "STEWARD_STATE_DIR": str(state), "STEWARD_LAB_REDIS_PORT": str(free_port())}
    up = sh("lab/events-up.sh", env)
    try:
        assert up.returncode == 0, up.stderr
        health = event_path(env)
        assert health["reachable"] and health["group_exists"], json.dumps(health)
        assert sorted(health["agents"]) == ["piha", "saturn"], health
        assert all(a["last_heartbeat_age"] is not None for a in health["agents"].values()), health
        assert health["problems"] == [], json.dumps(health)

        # 1. a container stops: one pending action, nobody ran observe
        lab_docker("saturn", "stop", "web")
        wait_for(lambda: pending(state, "saturn"), 90, rulebook_log)

        # 2. Redis stopped for 20 s (SIGTERM, as lab/events-down.sh does), piha's container stopped meanwhile
        redis_pid = int((EVENTS / "redis.pid").read_text())
        os.kill(redis_pid, signal.SIGTERM)
        wait_for(lambda: not Path(f"/proc/{redis_pid}").exists(), 20, lambda: "redis did not stop")
        down_at = time.monotonic()
        time.sleep(3)
        lab_docker("piha", "stop", "mqtt")
        time.sleep(max(0.0, 20 - (time.monotonic() - down_at)))
        assert not pending(state, "piha")  # nothing could reach the controller meanwhile
        subprocess.run(["redis-server", str(EVENTS / "redis.conf")], check=True, capture_output=True, timeout=30)
        back_at, back_wall = time.monotonic(), time.time()
        (action,) = wait_for(lambda: pending(state, "piha"), 90, rulebook_log)
        recovery = time.monotonic() - back_at
        (tmp_path / "recovery_seconds").write_text(f"{recovery:.2f}\n")
        delivered = die_entry_at(env, "piha") - back_wall  # the agent's reconnect, from the entry's id
        print(
            f"event path: piha's action {recovery:.2f} s after Redis returned from a 20 s outage "
            f"(its die event in the stream after {delivered:.2f} s)"
        )
        assert "-piha-mqtt-not_running-" in action.name
        assert recovery <= RECOVERY_GOAL, (recovery, rulebook_log())

        # the backlog drains: the rulebook reads and acknowledges everything, the agents report empty queues
        def drained() -> dict[str, Any] | None:
            health = event_path(env)
            quiet = (health["group_pending"], health["group_lag"], health["problems"]) == (0, 0, [])
            return health if quiet else None

        wait_for(drained, 60, lambda: json.dumps(event_path(env)))
        assert len(pending(state, "saturn")) == len(pending(state, "piha")) == 1

        # 3. a wrong password: the deploy play fails with Redis's answer, and shows no password
        wrong = "not-the-password-0123456789"
        bad = sh(
            f"source {EVENTS}/env && STEWARD_LAB_REDIS_PASSWORD_SATURN={wrong} "
            "ansible-playbook -i lab/inventory/hosts.yml playbooks/node_agent.yml --limit saturn",
            env,
        )
        assert bad.returncode != 0, bad.stdout
        assert "the node agent on saturn cannot deliver events" in bad.stdout, bad.stdout[-3000:]
        assert "WRONGPASS" in bad.stdout, bad.stdout[-3000:]
        assert wrong not in bad.stdout + bad.stderr
        # the documented command puts the right one back
        again = sh("lab/events-up.sh", env)
        assert again.returncode == 0, again.stderr
        assert event_path(env)["problems"] == []
    finally:
        down = sh("lab/events-down.sh --purge", env)
    assert down.returncode == 0, down.stderr
    assert not EVENTS.exists()
    for pidfile in LAB_DIR.glob("hosts/*/agent/agent.pid"):
        pytest.fail(f"{pidfile} left behind by lab/events-down.sh")
