"""Corrupt world state never turns into actions: the cycle is skipped, last-known-good is kept."""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from collections.abc import Callable
from typing import Any

import pytest
import world_reports

from helpers import Clock, all_files, container, journal_types, make_settings, service, world_doc, write_world
from steward.plan.engine import Engine

SERVICES = [f"svc{i}" for i in range(6)]


@pytest.fixture
def fleet(tmp_path):
    hosts = {h: [service(s) for s in SERVICES] for h in ("saturn", "piha", "solaria", "vps")}
    settings = make_settings(tmp_path, hosts)
    clock = Clock()

    def observe(down: dict[str, set[str]] | None = None) -> None:
        t = clock.tick()
        for h in hosts:
            stopped = (down or {}).get(h, set())
            write_world(
                settings,
                h,
                [container(s, state="exited" if s in stopped else "running") for s in SERVICES],
                observed_at=t,
            )

    return settings, Engine(settings), observe


def with_check(area: str, check: dict[str, Any]) -> Callable[[bytes], bytes]:
    """The world file with `check` as its checks[area] (added beside the docker check)."""

    def corrupt(raw: bytes) -> bytes:
        doc = json.loads(raw)
        doc["checks"][area] = check
        return json.dumps(doc).encode()

    return corrupt


CORRUPTIONS = {
    "truncated": lambda raw: raw[: len(raw) // 3],
    "empty": lambda raw: b"",
    "binary garbage": lambda raw: bytes(range(256)) * 4,
    "valid JSON, wrong schema": lambda raw: json.dumps({"host": "piha", "containers": []}).encode(),
    "valid JSON object, empty": lambda raw: b"{}",
    "schema 1 but no containers list": lambda raw: raw.replace(b'"containers": [', b'"containerz": ['),
    # each area judges its own check: a disk or MQTT result of the wrong shape skips the cycle too
    "schema 1, disk mounts not a list": with_check("disk", {"status": "ok", "error": None, "mounts": "all fine"}),
    "schema 1, disk used_pct as text": with_check(
        "disk", {"status": "ok", "error": None, "mounts": [world_reports.mount("/", used_pct="91 %")]}
    ),
    "schema 1, mqtt check without brokers": with_check("mqtt", {"status": "ok", "error": None}),
    "schema 1, mqtt broker reachable as text": with_check(
        "mqtt", world_reports.with_value(world_reports.mqtt_ok(), ("brokers", 0, "reachable"), "yes")
    ),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupt_world_file_skips_cycle_and_writes_nothing(fleet, fault, corruption, caplog) -> None:
    settings, engine, observe = fleet
    observe(down={"piha": {"svc0"}})
    engine.plan()  # svc0 seen once
    memory = settings.paths.memory.read_bytes()
    last_good = settings.paths.last_good.read_bytes()
    before = all_files(settings.state_dir)
    target = settings.paths.world / "piha.json"
    target.write_bytes(CORRUPTIONS[corruption](target.read_bytes()))
    fault.inject(f"piha.json {corruption}")
    for _ in range(3):  # several cycles on the broken file: never an action
        report = engine.plan()
        fault.check(report.skipped and report.new_actions == [], "cycle skipped, zero actions")
    fault.check(not any((settings.paths.actions / "pending").iterdir()), "no pending file written")
    fault.check(settings.paths.memory.read_bytes() == memory, "engine memory untouched")
    fault.check(settings.paths.last_good.read_bytes() == last_good, "last-known-good kept")
    fault.check(before <= all_files(settings.state_dir), "no file vanished")
    fault.check(
        any(r.levelname == "WARNING" and "piha.json" in r.getMessage() for r in caplog.records),
        "a WARNING names the file",
    )
    fault.check(journal_types(settings).count("cycle_skipped") == 3, "each skip journaled")


@pytest.mark.parametrize("area", ["disk", "mqtt"])
def test_a_valid_disk_or_mqtt_check_beside_docker_is_used_not_skipped(fleet, fault, area: str) -> None:
    """The control for the malformed disk/MQTT cases above: the same file with a well-formed check loads."""
    settings, engine, observe = fleet
    observe()
    target = settings.paths.world / "piha.json"
    valid = {"disk": world_reports.disk_ok, "mqtt": world_reports.mqtt_ok}[area]()
    target.write_bytes(with_check(area, valid)(target.read_bytes()))
    fault.inject(f"piha.json with a valid {area} check")
    report = engine.plan()
    fault.check(not report.skipped, "the cycle ran")
    fault.check(area in json.loads(settings.paths.last_good.read_text())["hosts"]["piha"]["checks"], "kept as good")


def test_seed_outage_every_world_file_unreadable(fleet, fault) -> None:
    """The outage Steward exists for: every file half-written at once. Never a wall of redeploys."""
    settings, engine, observe = fleet
    observe()
    engine.plan()
    for path in settings.paths.world.glob("*.json"):
        path.write_bytes(path.read_bytes()[:40])
        fault.inject(f"{path.name} half-written")
    report = engine.plan()
    fault.check(report.skipped and report.new_actions == [], "zero actions")
    fault.check(len(json.loads(settings.paths.last_good.read_text())["hosts"]) == 4, "last-known-good has 4 hosts")


def _sloppy_writer(world_dir: str, stop_at: float) -> None:
    doc = world_doc("piha", [container(s, state="exited") for s in SERVICES])
    data = json.dumps(doc, indent=2)
    while time.time() < stop_at:
        with open(f"{world_dir}/piha.json", "w") as fh:  # the seed's bug: no temp file, no rename
            for i in range(0, len(data), 256):
                fh.write(data[i : i + 256])
                fh.flush()


def test_concurrent_non_atomic_writer_never_produces_an_action_from_a_torn_read(fleet, fault) -> None:
    settings, engine, observe = fleet
    observe()
    writer = mp.get_context("fork").Process(target=_sloppy_writer, args=(str(settings.paths.world), time.time() + 60))
    writer.start()
    fault.inject("a process rewriting piha.json non-atomically during 200 plan cycles")
    try:
        skipped = 0
        for _ in range(200):
            report = engine.plan()
            skipped += report.skipped
            # a torn read is skipped; a whole read shows all six containers exited (a storm, held)
            fault.check(report.skipped or report.new_actions == [] or report.storm, "no action from a torn read")
    finally:
        writer.kill()  # SIGKILL: a SIGTERM handler inherited through fork may ignore terminate()
        writer.join()
    fault.check(not any((settings.paths.actions / "pending").iterdir()), "no pending file")
    fault.check(skipped > 0, f"torn reads were detected and skipped ({skipped} of 200)")
