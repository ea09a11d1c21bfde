"""Engine scale: one plan cycle over synthetic world state vs the floor of reading + parsing it.

    .venv/bin/python bench/engine_scale/run.py [--hosts 1000 10000] [--services 20]

For each size, in one process: write N world files (20 containers each, one stopped per 50
hosts), then time (a) the floor: read and json-parse every world file; (b) a plan cycle with the
desired state already loaded (a long-running engine; the inventory is unchanged); (c) the first
cycle including Ansible's inventory parse. Peak memory is the process's max RSS after each size.
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

from steward.core.atomic import atomic_write_json  # noqa: E402
from steward.desired.inventory import load_desired_cached  # noqa: E402
from steward.plan.engine import Engine  # noqa: E402
from steward.state.settings import Settings  # noqa: E402

IMAGE = "steward-lab/busybox:1"


def build(dirpath: Path, hosts: int, services: int) -> Settings:
    names = [f"svc{j:02d}" for j in range(services)]
    # a fleet: the service list lives once, in group vars, as an operator would write it
    inv = {
        "all": {
            "vars": {"steward_policy": {"storm_max_actions": hosts}},
            "children": {
                "fleet": {
                    "vars": {"steward_services": [{"name": n, "image": IMAGE} for n in names]},
                    "hosts": {f"h{i:05d}": None for i in range(hosts)},
                }
            },
        }
    }
    (dirpath / "hosts.yml").write_text(yaml.safe_dump(inv))
    settings = Settings(project_dir=ROOT, inventory=dirpath / "hosts.yml", state_dir=dirpath / "state")
    settings.paths.ensure()
    return settings


def observe(settings: Settings, hosts: int, services: int, when: datetime) -> None:
    at = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    for i in range(hosts):
        host = f"h{i:05d}"
        containers = [
            {
                "name": f"svc{j:02d}",
                "id": f"{i:06d}{j:06d}",
                "image": IMAGE,
                "image_id": "sha256:x",
                "state": "exited" if (j == 0 and i % 50 == 0) else "running",
                "health": None,
                "restart_count": 0,
                "started_at": at,
                "exit_code": 0,
                "compose_project": None,
            }
            for j in range(services)
        ]
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--services", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(
        "| hosts | floor: read+parse (s) | plan cycle, warm (s) | ratio | first cycle incl. inventory parse (s) "
        "| actions | peak RSS (MiB) |"
    )
    print("|---|---|---|---|---|---|---|")
    for n in args.hosts:
        tmp = Path(tempfile.mkdtemp(prefix="steward-bench-"))
        try:
            settings = build(tmp, n, args.services)
            engine = Engine(settings)
            observe(settings, n, args.services, datetime.now(UTC).replace(microsecond=0))
            t = time.perf_counter()
            load_desired_cached(settings.inventory)
            cold_inventory = time.perf_counter() - t
            floors, cycles, actions = [], [], 0
            for _k in range(args.repeat + 1):
                # a fresh observation every cycle, as in production (observe, then plan)
                observe(settings, n, args.services, datetime.now(UTC).replace(microsecond=0))
                floors.append(floor(settings))
                t = time.perf_counter()
                report = engine.plan()
                cycles.append(time.perf_counter() - t)
                actions += len(report.new_actions)
            f, c = statistics.median(floors[1:]), statistics.median(cycles[1:])
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"| {n} | {f:.2f} | {c:.2f} | {c / f:.2f}x | {cold_inventory + cycles[0]:.1f} | {actions} "
                f"| {rss:.0f} |",
                flush=True,
            )
        finally:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
