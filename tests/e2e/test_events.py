"""The event path end to end on the namespace lab: a container stops on a lab host, and with
nobody running observe the pending action appears - exactly one.

Real parts: the lab's sshd + dockerd per host, the node agent on each host (role node_agent),
redis-server, ansible-rulebook with rulebooks/steward.yml, observe.yml + the drift engine.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from event_lab import EventLab, journal_events, missing

from conftest import lab_docker

pytestmark = pytest.mark.slow


def pending_actions(state: Path) -> list[Path]:
    folder = state / "actions" / "pending"
    return sorted(folder.glob("*.yml")) if folder.exists() else []


def test_stopped_container_becomes_one_pending_action_with_nobody_running_observe(lab, tmp_path) -> None:
    why = missing()
    if why:
        pytest.skip(why)
    state = Path(lab.state_dir)
    events = EventLab(tmp_path / "events")
    try:
        events.start_redis()
        events.deploy_agents()
        assert events.agent_hosts == ["piha", "saturn"]
        events.start_rulebook(state)

        lab_docker("saturn", "stop", "web")
        deadline = time.monotonic() + 90
        while not pending_actions(state):
            assert events.rulebook and events.rulebook.poll() is None, events.log_tail()
            assert time.monotonic() < deadline, events.log_tail()
            time.sleep(0.2)
        # let anything else the event could have started finish: still exactly one action
        time.sleep(8)
        client = events.client()
        group = client.xinfo_groups("steward:events")[0]
        assert (group["pending"], group["lag"]) == (0, 0), group
    finally:
        events.close()

    (action,) = pending_actions(state)
    assert "-saturn-web-not_running-" in action.name
    journal = journal_events(state)
    # nobody ran observe: every observation came from the rulebook's run, limited to saturn
    assert not any(e["type"] == "observe_completed" for e in journal)
    assert sorted(p.name for p in (state / "world").glob("*.json")) == ["saturn.json"]
    # one observe run (its own events never start another), then the notification of the action
    plays = [e["play"] for e in journal if e["type"] == "playbook_started"]
    assert plays == ["Observe hosts and record their world state", "Notify about a pending action"], plays
    (notified,) = [json.loads(x) for x in (state / "notify.log").read_text().splitlines()]
    assert notified["action"] == action.stem
    # confirmation came from two separate event-triggered looks, each one counted
    (pending,) = [e for e in journal if e["type"] == "action_pending"]
    assert pending["key"] == "saturn/docker/web/not_running"
    evidence = json.loads((state / "engine" / "ledger" / f"{action.stem}.json").read_text())["evidence"]
    assert evidence["observations"] == 2
    assert evidence["cycle"].endswith("-c1"), evidence  # the confirming look of the same run
