"""Builders shared by the tests: a real inventory file, world files, settings."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from steward.core.atomic import atomic_write_json
from steward.state.settings import Settings

REPO = Path(__file__).resolve().parents[1]
IMAGE = "steward-lab/busybox:1"


def service(name: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "image": IMAGE, "network_mode": "none", **kw}


def write_inventory(path: Path, hosts: dict[str, list[dict[str, Any]]], **host_extra: Any) -> Path:
    inv = {"all": {"hosts": {h: {"steward_services": svcs, **host_extra} for h, svcs in hosts.items()}}}
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return path


def make_settings(tmp_path: Path, hosts: dict[str, list[dict[str, Any]]], **kw: Any) -> Settings:
    inv = write_inventory(tmp_path / "hosts.yml", hosts)
    settings = Settings(project_dir=REPO, inventory=inv, state_dir=tmp_path / "state", **kw)
    settings.paths.ensure()
    return settings


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def container(name: str, state: str = "running", image: str = IMAGE, **kw: Any) -> dict[str, Any]:
    return {
        "name": name,
        "id": hashlib.sha256(name.encode()).hexdigest()[:12],
        "state": state,
        "image": image,
        "image_id": "sha256:" + hashlib.sha256(image.encode()).hexdigest(),
        "health": None,
        "restart_count": 0,
        "started_at": None,
        "exit_code": 0 if state == "running" else 137,
        "compose_project": None,
        "compose_service": None,
        "config_hash": None,
        "labels": {},
        "env": [],
        "mounts": [],
        "ports": [],
        "networks": ["bridge"],
        "settings": [],
        **kw,
    }


def world_doc(
    host: str,
    containers: list[dict[str, Any]] | None,
    observed_at: datetime | None = None,
    reachable: bool = True,
    docker_status: str = "ok",
    cycle: str | None = None,
) -> dict[str, Any]:
    observed_at = observed_at or datetime.now(UTC)
    checks: dict[str, Any] = {}
    if reachable:
        checks["docker"] = {
            "status": docker_status,
            "error": None if docker_status == "ok" else "boom",
            "docker_host": "unix:///x.sock",
            "containers": containers if docker_status == "ok" else None,
        }
    return {
        "schema": 1,
        "host": host,
        "observed_at": iso(observed_at),
        "cycle": cycle or iso(observed_at),
        "reachable": reachable,
        "error": None if reachable else "ssh: connect timed out",
        "checks": checks,
    }


def write_world(settings: Settings, host: str, containers: list[dict[str, Any]] | None, **kw: Any) -> Path:
    return atomic_write_json(settings.paths.world / f"{host}.json", world_doc(host, containers, **kw))


class Clock:
    """Observation times one minute apart, ending about now (so nothing is stale)."""

    def __init__(self) -> None:
        self.t = datetime.now(UTC) - timedelta(minutes=10)

    def tick(self) -> datetime:
        self.t += timedelta(minutes=1)
        return self.t


def journal_types(settings: Settings) -> list[str]:
    if not settings.paths.journal.exists():
        return []
    return [json.loads(line)["type"] for line in settings.paths.journal.read_text().splitlines()]


def all_files(root: Path) -> set[str]:
    """Every file under root (relative), to prove nothing vanished."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}
