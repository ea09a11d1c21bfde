"""Engine scale: one plan cycle over synthetic world state vs the floor of reading + parsing it.

    .venv/bin/python bench/engine_scale/run.py [--hosts 1000 10000] [--services 20] [--compose 5]

For each size, in one process: write N world files (20 containers each, one stopped per 50
hosts), then time (a) the floor: read and json-parse every world file; (b) a plan cycle with the
desired state already loaded (a long-running engine; the inventory is unchanged); (c) the first
cycle including Ansible's inventory parse. Peak memory is the process's max RSS after each size
(Ansible's inventory parse and the bench's own world files included), and the fresh process's own
(the engine alone: desired state from the cache, one cycle).

Two steady states are timed, in the same process and run: every host observed afresh each round
(every world file's bytes change: the worst case, nothing reusable), and ``--changed-pct`` of the
hosts (default 1 %) observed afresh each round, the rest of the files left as they are (the common
case: a cron observe rewrites every file, but an event-triggered observe or a fleet where most
hosts are quiet leaves most bytes the same). Then the first cycle of a fresh process (``steward
plan`` run again, no inventory file changed: the persisted desired-state cache), timed in a child.

With ``--compose P`` each size is measured twice in the same process: the services as single
containers (``steward_containers``), then the same number of services as P Compose projects per
host (``steward_compose_projects``, P project folders shared by the fleet, their hashes computed
by the real compose binary), with world files whose containers carry Compose's labels and the
matching config hash: the compose cycle's cost as a ratio of the containers cycle's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# measured as installed: Python writes and reuses bytecode caches. This machine's environment sets
# PYTHONDONTWRITEBYTECODE=1, which makes every Python start (Ansible's as well as steward's) compile its modules.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.path.insert(0, str(ROOT / "src"))

from steward.areas.docker.compose_hash import HASHES  # noqa: E402
from steward.core.atomic import atomic_write_json  # noqa: E402
from steward.desired.cached import load_desired_cached  # noqa: E402
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
    settings: Settings,
    hosts: int,
    services: int,
    when: datetime,
    hashes: dict[str, tuple[str, str]] | None = None,
    only: range | None = None,
) -> None:
    """hashes: service -> (project, config hash) for the compose variant; only: these hosts (else all)."""
    at = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    for i in only if only is not None else range(hosts):
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


FRESH = """
import resource, sys, time
sys.path.insert(0, {src!r})
from pathlib import Path
from steward.desired.cached import PersistedDesired, load_desired_cached
from steward.plan.engine import Engine
from steward.state.settings import Settings
settings = Settings(project_dir=Path({root!r}), inventory=Path({inv!r}), state_dir=Path({state!r}))
t = time.perf_counter()
load_desired_cached(settings.inventory, PersistedDesired(settings.paths))
loaded = time.perf_counter() - t
t = time.perf_counter()
Engine(settings).plan()
print(loaded, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def fresh_process_cycle(settings: Settings) -> tuple[float, float, float, float]:
    """(desired state load, first plan cycle incl. that load, whole process wall time, its peak RSS in
    MiB) of a new process, no inventory file changed. The load is timed first on its own; the cycle
    then finds it in memory. The RSS is the engine's own: no Ansible inventory parse, no bench data."""
    paths = {"src": str(ROOT / "src"), "root": str(ROOT), "inv": str(settings.inventory)}
    code = FRESH.format(**paths, state=str(settings.state_dir))
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    loaded, cycle, rss = (float(x) for x in out.split()[-3:])
    return loaded, loaded + cycle, time.perf_counter() - t, rss


def measure(n: int, services: int, repeat: int, projects: int, pct: float) -> dict[str, float]:
    """floor, both steady cycles, first cycles, actions, compose runs for one variant."""
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
            # a fresh observation of every host every cycle (observe, then plan)
            observe(settings, n, services, datetime.now(UTC).replace(microsecond=0), hashes)
            floors.append(floor(settings))
            t = time.perf_counter()
            report = engine.plan()
            cycles.append(time.perf_counter() - t)
            written.append(len(report.new_actions))
        # the steady cycle: after the first, and not the one that wrote the (signed) actions
        steady = [c for c, w in zip(cycles[1:], written[1:], strict=True) if not w] or cycles[1:]
        few, few_floors = [], []
        step = max(1, round(n * pct / 100))
        for k in range(repeat):
            time.sleep(1)  # a later observed_at: the changed hosts' looks count
            start = (k * step) % n
            observe(settings, n, services, datetime.now(UTC).replace(microsecond=0), hashes, range(start, start + step))
            few_floors.append(floor(settings))
            t = time.perf_counter()
            report = engine.plan()
            few.append(time.perf_counter() - t)
            written.append(len(report.new_actions))
        spawned = HASHES.subprocess_runs - runs
        loaded, fresh, wall, fresh_rss = fresh_process_cycle(settings)
        return {
            "floor": statistics.median(floors[1:] + few_floors),
            "all": statistics.median(steady),
            "few": statistics.median(few),
            "first": cold_inventory + cycles[0],
            "fresh": fresh,
            "loaded": loaded,
            "fresh_rss": fresh_rss,
            "wall": wall,
            "actions": sum(written),
            "spawned": spawned,
        }
    finally:
        shutil.rmtree(tmp)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--services", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--changed-pct", type=float, default=1.0, help="hosts observed afresh per round, quiet variant")
    ap.add_argument("--compose", type=int, default=0, help="also measure the services as this many Compose projects")
    args = ap.parse_args()
    print(
        "| hosts | variant | floor: read+parse (s) | cycle, every host changed (s) | ratio "
        f"| cycle, {args.changed_pct:g} % changed (s) | ratio | first cycle incl. inventory parse (s) "
        "| first cycle, fresh process (s) | of which desired state load (s) | fresh process wall (s) "
        "| actions | compose config runs | peak RSS (MiB) | fresh process peak RSS (MiB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in args.hosts:
        variants = [("containers", 0)] + ([(f"{args.compose} compose projects", args.compose)] if args.compose else [])
        base = None
        for label, projects in variants:
            m = measure(n, args.services, args.repeat, projects, args.changed_pct)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            f, c = m["floor"], m["all"]
            vs = f" ({c / base:.2f}x the containers cycle)" if base else ""
            base = base or c
            print(
                f"| {n} | {label} | {f:.2f} | {c:.2f}{vs} | {c / f:.2f}x | {m['few']:.2f} | {m['few'] / f:.2f}x "
                f"| {m['first']:.1f} | {m['fresh']:.2f} | {m['loaded']:.2f} | {m['wall']:.1f} "
                f"| {m['actions']:.0f} | {m['spawned']:.0f} "
                f"| {rss:.0f} | {m['fresh_rss']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
