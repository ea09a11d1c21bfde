"""The engine's memory (engine/observations.json) as typed dataclasses: same file, same bytes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from steward.state.memory import (
    BackoffMark,
    EngineMemory,
    FlapEntry,
    HostMemory,
    StormState,
    Streak,
    WrittenAction,
    read_memory,
    write_memory,
)
from steward.state.paths import StatePaths

# written by the engine before its memory was typed (a real run: streaks, a resolved count, flap
# histories, a storm, backoff marks, holds, the storm window, a host that left the inventory)
OLD_FILE = Path(__file__).parent / "data" / "observations-0.1.json"


def state(tmp_path: Path) -> StatePaths:
    paths = StatePaths(tmp_path / "state")
    paths.memory.parent.mkdir(parents=True)
    return paths


def test_a_memory_file_written_by_the_untyped_engine_loads_and_is_written_back_identically(tmp_path) -> None:
    paths = state(tmp_path)
    paths.memory.write_bytes(OLD_FILE.read_bytes())
    memory = read_memory(paths)
    piha = memory.hosts["piha"]
    assert isinstance(piha, HostMemory) and piha.observations == 10
    assert piha.resolved == {"piha/docker/mqtt/not_running": 1}
    streak = piha.keys["piha/docker/grafana/not_running"]
    assert isinstance(streak, Streak) and streak.count == 3 and streak.since == "2024-05-01T12:04:00Z"
    assert all(isinstance(e, FlapEntry) for e in memory.flap.values())
    assert memory.storm == StormState(since_cycle=9, reason="more than 50 % of the services of piha at once")
    assert isinstance(memory.backoff["piha/docker/mqtt/not_running"], BackoffMark)
    assert memory.written == [WrittenAction("2024-05-01T12:03:31Z", "piha", "piha/docker/mqtt/not_running")]
    assert memory.cycle == 10 and memory.inventory_hosts == ["piha", "saturn"]
    assert memory.left_inventory == {"gone": "2024-05-01T12:03:31Z"} and memory.absent_cycles == {"gone": 4}
    write_memory(paths, memory)
    assert paths.memory.read_bytes() == OLD_FILE.read_bytes()


def test_every_key_by_hand_round_trips_byte_for_byte(tmp_path) -> None:
    doc = {
        "hosts": {
            "piha": {
                "observed_at": "2024-05-01T12:00:00Z",
                "keys": {
                    "piha/docker/mqtt/missing": {
                        "count": 3,
                        "since": "2024-05-01T11:58:00Z",
                        "fingerprint": "abc",
                        "last_seen": "2024-05-01T12:00:00Z",
                        "cycle": "c-17",
                    }
                },
                "resolved": {"piha/docker/web/not_running": 1},
                "observations": 7,
            },
            "busy": {"observed_at": None, "keys": {}, "resolved": {}},  # seen, never counted
        },
        "cycle": 17,
        "flap": {"piha/docker/mqtt/missing": {"samples": [False, True, True], "flapping": True, "pct": 52.5}},
        "storm": None,
        "backoff": {"piha/docker/mqtt/missing": {"observation": 4, "action": "a-1"}},
        "held": {"piha/docker/mqtt/missing": "flapping"},
        "written": [{"at": "2024-05-01T11:59:00Z", "host": "piha", "key": "piha/docker/mqtt/missing"}],
        "inventory_hosts": None,
        "left_inventory": {},
        "absent_cycles": {},
    }
    paths = state(tmp_path)
    data = (json.dumps(doc, separators=(",", ":")) + "\n").encode()  # how the engine has always written it
    paths.memory.write_bytes(data)
    memory = read_memory(paths)
    assert memory.hosts["busy"] == HostMemory() and memory.storm is None and memory.inventory_hosts is None
    write_memory(paths, memory)
    assert paths.memory.read_bytes() == data


def test_no_file_or_a_torn_one_is_a_fresh_memory_and_unknown_keys_are_kept(tmp_path) -> None:
    paths = state(tmp_path)
    assert read_memory(paths) == EngineMemory()
    paths.memory.write_text('{"hosts": {"pi')
    assert read_memory(paths) == EngineMemory()
    paths.memory.write_text(json.dumps({"cycle": 3, "later_version": {"x": 1}, "hosts": {"odd": 5}}))
    memory = read_memory(paths)
    assert memory.cycle == 3 and memory.hosts == {}  # an entry of the wrong shape is dropped, not trusted
    write_memory(paths, memory)
    assert json.loads(paths.memory.read_text())["later_version"] == {"x": 1}


def test_observe_and_status_read_the_memory_without_importing_the_engine() -> None:
    code = (
        "import sys, steward.ansible.observe, steward.state.memory; "
        "sys.exit('steward.plan.engine' in sys.modules or 'steward.execute.executor' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
