"""homelab.steward.events in a real ansible-playbook run against a real redis-server."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from redis_server import RedisServer, free_port, missing

redis = pytest.importorskip("redis")
pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))
ROOT = Path(__file__).resolve().parents[2]
# execution order: the unreachable host drops out on the first task
EXPECTED = ["playbook_started", "host_unreachable", "host_changed", "host_failed", "playbook_finished"]

PLAYBOOK = """
- name: Events demo
  hosts: all
  gather_facts: false
  tasks:
    - name: Ok
      ansible.builtin.command: "true"
      changed_when: false
    - name: Changed
      ansible.builtin.command: "true"
      when: inventory_hostname == 'local'
    - name: Failed
      ansible.builtin.command: "false"
      ignore_errors: true
      when: inventory_hostname == 'local'
"""
INVENTORY = """
all:
  hosts:
    local: {ansible_connection: local, ansible_python_interpreter: "{{ ansible_playbook_python }}"}
    gone:
      ansible_host: 198.18.0.250
      ansible_ssh_common_args: "-o ConnectTimeout=2"
      ansible_timeout: 3
"""


def run(tmp: Path, url: str) -> tuple[subprocess.CompletedProcess[str], float]:
    (tmp / "play.yml").write_text(PLAYBOOK)
    (tmp / "hosts.yml").write_text(INVENTORY)
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_CALLBACKS_ENABLED": "homelab.steward.events",
        "STEWARD_REDIS_URL": url,
        "STEWARD_JOURNAL": str(tmp / "state" / "journal.jsonl"),
    }
    t0 = time.monotonic()
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(tmp / "hosts.yml"), str(tmp / "play.yml")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc, time.monotonic() - t0


def test_events_reach_stream(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    client = server.client(decode_responses=False)
    try:
        proc, _ = run(tmp_path, server.url)
        assert "PLAY RECAP" in proc.stdout, proc.stdout + proc.stderr
        entries = client.xrange("steward:events")
        types = [f[b"type"].decode() for _, f in entries]
        assert types == EXPECTED, types
        last = json.loads(entries[-1][1][b"event"])
        # the failed `command` task also reports changed
        assert last["recap"]["local"]["changed"] == 2
        assert last["recap"]["gone"]["unreachable"] == 1
    finally:
        server.stop()


def test_redis_down(tmp_path: Path) -> None:
    proc, _ = run(tmp_path, f"redis://steward:down-pw-x1@127.0.0.1:{free_port()}/0")
    assert "down-pw-x1" not in proc.stdout + proc.stderr
    assert "PLAY RECAP" in proc.stdout, proc.stdout + proc.stderr
    lines = (tmp_path / "state" / "journal.jsonl").read_text().splitlines()
    assert [json.loads(x)["type"] for x in lines] == EXPECTED
    # not retried per event: every event waits in the outbox, spooled in order, for Redis to come back
    spooled = (tmp_path / "state" / "engine" / "outbox.jsonl").read_text().splitlines()
    assert [json.loads(x)["type"] for x in spooled] == EXPECTED


def test_an_unauthenticated_redis_is_refused_and_no_password_is_printed(tmp_path: Path) -> None:
    """A Redis anyone may write to (no ACL users) is not published to; the URL is shown with ***."""
    open_server = RedisServer(tmp_path / "open", acl=False).start()
    try:
        url = f"redis://steward:leak-pw-q7@127.0.0.1:{open_server.port}/0"
        proc, _ = run(tmp_path, url)
        assert "PLAY RECAP" in proc.stdout, proc.stdout + proc.stderr
        assert open_server.client().xlen("steward:events") == 0
        assert "leak-pw-q7" not in proc.stdout + proc.stderr
        outbox = tmp_path / "state" / "engine" / "outbox.jsonl"
        assert [json.loads(x)["type"] for x in outbox.read_text().splitlines()] == EXPECTED  # kept, not lost
    finally:
        open_server.stop()
