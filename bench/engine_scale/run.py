"""Engine scale: one plan cycle over synthetic world state vs the floor of reading + parsing it.

    .venv/bin/python bench/engine_scale/run.py [--hosts 1000 10000] [--services 20] [--compose 5]

For each size, in one process: write N world files (20 containers each, one stopped per 50
hosts), then time (a) the floor: read and json-parse every world file; (b) a plan cycle with the
desired state already loaded (a long-running engine; the inventory is unchanged); (c) the first
cycle including Ansible's inventory parse. Peak memory is the process's max RSS after each size.

With ``--compose P`` each size is measured twice in the same process: the services as single
containers (``steward_containers``), then the same number of services as P Compose projects per
host (``steward_compose_projects``, P project folders shared by the fleet, their hashes computed
by the real compose binary), with world files whose containers carry Compose's labels and the
matching config hash: the compose cycle's cost as a ratio of the containers cycle's.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from steward.areas.docker.compose_hash import HASHES  # noqa: E402
from steward.core.atomic import atomic_write_json  # noqa: E402
from steward.desired.inventory import load_desired_cached  # noqa: E402
from steward.plan.engine import Engine  # noqa: E402
from steward.state.settings import Settings  # noqa: E402

IMAGE = "steward-lab/busybox:1"


def build(dirpath: Path, hosts: int, services: int, projects: int = 0) -> Settings:
    names = [f"svc{j:02d}" for j in range(services)]
    # a fleet: the service list lives once, in group vars, as an operator would write it
    fleet_vars: dict = {"steward_containers": [{"name": n, "image": IMAGE} for n in names]}
    if projects:
        fleet_vars = {"steward_compose_projects": [{"name": f"p{k}", "src": f"services/p{k}"} for k in range(projects)]}
        for k in range(projects):
            folder = dirpath / "services" / f"p{k}"
            folder.mkdir(parents=True)
            mine = [n for j, n in enumerate(names) if j % projects == k]
            compose = {"services": {n: {"image": IMAGE, "command": ["sleep", "infinity"]} for n in mine}}
            (folder / "compose.yml").write_text(yaml.safe_dump(compose))
    inv = {
        "all": {
            "vars": {"steward_policy": {"storm_max_actions": hosts}},
            "children": {"fleet": {"vars": fleet_vars, "hosts": {f"h{i:05d}": None for i in range(hosts)}}},
        }
    }
    (dirpath / "hosts.yml").write_text(yaml.safe_dump(inv))
    settings = Settings(project_dir=ROOT, inventory=dirpath / "hosts.yml", state_dir=dirpath / "state")
    settings.paths.ensure()
    return settings


def observe(
    settings: Settings, hosts: int, services: int, when: datetime, hashes: dict[str, tuple[str, str]] | None = None
) -> None:
    """hashes: service -> (project, config hash) for the compose variant."""
    at = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    for i in range(hosts):
        host = f"h{i:05d}"
        containers = []
        for j in range(services):
            name = f"svc{j:02d}"
            project, config_hash = (hashes or {}).get(name, (None, None))
            containers.append(
                {
                    "name": f"{project}-{name}-1" if project else name,
                    "id": f"{i:06d}{j:06d}",
                    "image": IMAGE,
                    "image_id": "sha256:" + "0" * 64,
                    "state": "exited" if (j == 0 and i % 50 == 0) else "running",
                    "health": None,
                    "restart_count": 0,
                    "started_at": at,
                    "exit_code": 0,
                    "compose_project": project,
                    "compose_service": name if project else None,
                    "config_hash": config_hash,
                    "labels": {},
                    "env": [],
                    "mounts": [],
                    "ports": [],
                    "networks": ["bridge"],
                    "settings": [],
                }
            )
        doc = {
            "schema": 1,
            "host": host,
            "observed_at": at,
            "cycle": at,
            "reachable": True,
            "error": None,
            "checks": {"docker": {"status": "ok", "error": None, "docker_host": "unix:///x", "containers": containers}},
        }
        atomic_write_json(settings.paths.world / f"{host}.json", doc)


def floor(settings: Settings) -> float:
    t = time.perf_counter()
    for p in sorted(settings.paths.world.iterdir()):
        json.loads(p.read_bytes())
    return time.perf_counter() - t


def measure(n: int, services: int, repeat: int, projects: int) -> tuple[float, float, float, int, float]:
    """(floor, warm cycle, first cycle incl. inventory parse, actions, compose cold s) for one variant."""
    tmp = Path(tempfile.mkdtemp(prefix="steward-bench-"))
    try:
        settings = build(tmp, n, services, projects)
        engine = Engine(settings)
        runs = HASHES.subprocess_runs
        t = time.perf_counter()
        desired = load_desired_cached(settings.inventory)
        cold_inventory = time.perf_counter() - t
        hashes = None
        if projects:
            hashes = {
                s.name: (p.name, s.config_hash)
                for p in next(iter(desired.hosts.values())).want("compose")
                for s in p.services
            }
        floors, cycles, written = [], [], []
        for _k in range(repeat + 1):
            # a fresh observation every cycle, as in production (observe, then plan)
            observe(settings, n, services, datetime.now(UTC).replace(microsecond=0), hashes)
            floors.append(floor(settings))
            t = time.perf_counter()
            report = engine.plan()
            cycles.append(time.perf_counter() - t)
            written.append(len(report.new_actions))
        spawned = HASHES.subprocess_runs - runs
        # the steady cycle: after the first, and not the one that wrote the (signed) actions
        steady = [c for c, w in zip(cycles[1:], written[1:], strict=True) if not w] or cycles[1:]
        return (
            statistics.median(floors[1:]),
            statistics.median(steady),
            cold_inventory + cycles[0],
            sum(written),
            spawned,
        )
    finally:
        shutil.rmtree(tmp)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--services", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--compose", type=int, default=0, help="also measure the services as this many Compose projects")
    args = ap.parse_args()
    print(
        "| hosts | variant | floor: read+parse (s) | plan cycle, warm (s) | ratio "
        "| first cycle incl. inventory parse (s) | actions | compose config runs | peak RSS (MiB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in args.hosts:
        variants = [("containers", 0)] + ([(f"{args.compose} compose projects", args.compose)] if args.compose else [])
        base = None
        for label, projects in variants:
            f, c, first, actions, spawned = measure(n, args.services, args.repeat, projects)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            vs = f" ({c / base:.2f}x the containers cycle)" if base else ""
            base = base or c
            print(
                f"| {n} | {label} | {f:.2f} | {c:.2f}{vs} | {c / f:.2f}x | {first:.1f} | {actions} | {spawned} "
                f"| {rss:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
