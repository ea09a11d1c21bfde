"""Fixtures of the diagnosis tests: a real state folder with one pending action (written by the real engine) and a
server speaking Ollama."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ollama_server import OllamaServer

from helpers import Clock, container, make_settings, service, write_world
from steward.diagnose.config import DiagnosisConfig
from steward.plan.engine import Engine
from steward.state.settings import Settings

MODEL = "llama3.2"


@dataclass
class Lab:
    settings: Settings
    action_id: str
    clock: Clock
    looks: list[tuple[str, str, int]] = field(default_factory=list)
    # what the fake look at the container returns (container_logs_info's result)
    seen: dict[str, Any] = field(default_factory=dict)

    @property
    def pending(self) -> Path:
        return self.settings.paths.folder("pending") / f"{self.action_id}.yml"

    @property
    def diagnosis_file(self) -> Path:
        return self.settings.paths.folder("pending") / f"{self.action_id}.diagnosis.json"

    def look(self, settings: Settings, host: str, name: str, lines: int) -> dict[str, Any]:
        self.looks.append((host, name, lines))
        return self.seen

    def observe(self, mqtt: str = "exited") -> None:
        write_world(
            self.settings,
            "piha",
            [container("mqtt", state=mqtt), container("homeauto")],
            observed_at=self.clock.tick(),
        )


def container_seen(*lines: str, **extra: Any) -> dict[str, Any]:
    """A container_logs_info result for container mqtt that exited with code 1."""
    return {
        "status": "ok",
        "error": None,
        "docker_host": "unix:///var/run/docker.sock",
        "name": "mqtt",
        "state": "exited",
        "exit_code": 1,
        "oom_killed": False,
        "engine_error": None,
        "restart_count": 0,
        "started_at": "2026-11-27T03:59:12Z",
        "finished_at": "2026-11-27T03:59:13Z",
        "image": "steward-lab/busybox:1",
        "health": None,
        "env_names": ["PATH", "MQTT_PASSWORD"],
        "env_values_scrubbed": 0,
        "lines": [{"at": "2026-11-27T03:59:13Z", "stream": "stderr", "text": text} for text in lines],
        "logs_error": None,
        "truncated": False,
        **extra,
    }


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    settings = make_settings(tmp_path, {"piha": [service("mqtt"), service("homeauto")]})
    engine, clock = Engine(settings), Clock()
    new: list[str] = []
    lab = Lab(settings, "", clock, seen=container_seen("Error: unable to open /mosquitto/config/mosquitto.conf"))
    for _ in range(2):
        lab.observe()
        new = engine.plan().new_actions
    (lab.action_id,) = new
    return lab


@pytest.fixture
def server() -> Iterator[OllamaServer]:
    srv = OllamaServer()
    yield srv
    srv.close()


@pytest.fixture
def config(server: OllamaServer) -> DiagnosisConfig:
    return DiagnosisConfig(enabled=True, url=server.url, model=MODEL, timeout=5.0)


def tree_digest(root: Path, skip: Callable[[Path], bool] = lambda p: False) -> dict[str, str]:
    """sha256 of every file under root (relative path -> digest): byte-identical before and after."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not skip(p)
    }
