"""Desk render: the queue page and /metrics against `steward list --json`, on one state, in one process.

    .venv/bin/python bench/desk_render/run.py [--hosts 100] [--services 10] [--reps 15]

Builds a state folder with hosts x services pending actions (default 100 x 10 = 1 000), written
by two real plan cycles over real world files (the storm breaker opened wide), and a desk token.
Then, interleaved in one process, REPS times each (median, and the spread):
  (a) the baseline: `steward list --json` through the CLI's own main() (output to /dev/null);
  (b) GET / (the queue page) through the real Starlette app (httpx in-process ASGI transport),
      logged in, server-side render included;
  (c) GET /metrics;
  (d) GET /actions/ID of one pending action.
Prints the table and writes bench/desk_render/results/latest.json; the goal is (b) and (c) <= 1.5x (a).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from starlette.testclient import TestClient  # noqa: E402

from helpers import container, write_world  # noqa: E402
from steward.interfaces.cli.main import main  # noqa: E402
from steward.interfaces.web.app import build_app  # noqa: E402
from steward.plan.engine import Engine  # noqa: E402
from steward.state.settings import Settings  # noqa: E402
from steward.state.tokens import Tokens  # noqa: E402

IMAGE = "steward-lab/busybox:1"
ORIGIN = "http://127.0.0.1:8754"


def build(root: Path, hosts: int, services: int) -> tuple[Settings, str]:
    names = [f"svc{j:02d}" for j in range(services)]
    inv = {
        "all": {
            "vars": {"steward_policy": {"storm_max_actions": hosts * services + 1, "storm_host_fraction": 1.0}},
            "children": {
                "fleet": {
                    "vars": {"steward_containers": [{"name": n, "image": IMAGE} for n in names]},
                    "hosts": {f"h{i:03d}": None for i in range(hosts)},
                }
            },
        }
    }
    (root / "hosts.yml").write_text(yaml.safe_dump(inv))
    settings = Settings(project_dir=ROOT, inventory=root / "hosts.yml", state_dir=root / "state")
    settings.paths.ensure()
    engine = Engine(settings)
    start = datetime.now(UTC) - timedelta(minutes=5)
    for n in range(2):
        at = start + timedelta(minutes=n)
        for i in range(hosts):
            world = [container(name, state="exited") for name in names]
            write_world(settings, f"h{i:03d}", world, observed_at=at)
        report = engine.plan(now=at + timedelta(seconds=5))
    assert len(report.new_actions) == hosts * services, (len(report.new_actions), report.held)
    return settings, Tokens(settings.paths).add("bench")


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(hosts: int, services: int, reps: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="desk-bench-") as tmp:
        settings, token = build(Path(tmp), hosts, services)
        argv = ["--state-dir", str(settings.state_dir), "-i", str(settings.inventory), "list", "--json"]
        client = TestClient(build_app(settings), base_url=ORIGIN, follow_redirects=False)
        nonce = re.search(r'name="nonce" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
        client.post("/login", data={"token": token, "nonce": nonce}, headers={"Origin": ORIGIN})
        one = next(p.stem for p in (settings.paths.actions / "pending").glob("*.yml"))

        def cli() -> None:
            with contextlib.redirect_stdout(io.StringIO()) as out:
                assert main(argv) == 0
            assert len(json.loads(out.getvalue())) == hosts * services

        def get(path: str, must: str) -> None:
            answer = client.get(path)
            assert answer.status_code == 200 and must in answer.text, (path, answer.status_code)

        cases = {
            "list_json": cli,
            "queue_page": lambda: get("/", f"<strong>{hosts * services}</strong>"),
            "metrics": lambda: get("/metrics", f'steward_actions{{folder="pending"}} {float(hosts * services)}'),
            "action_page": lambda: get(f"/actions/{one}", "Approve"),
        }
        for fn in cases.values():  # warm: the inventory parse, the template compile, the page cache
            fn()
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(reps):
            for name, fn in cases.items():
                times[name].append(timed(fn))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "hosts": hosts,
        "services": services,
        "pending": hosts * services,
        "reps": reps,
        "median_s": {k: round(v, 4) for k, v in med.items()},
        "min_s": {k: round(min(v), 4) for k, v in times.items()},
        "max_s": {k: round(max(v), 4) for k, v in times.items()},
        "ratio_to_list_json": {k: round(v / med["list_json"], 2) for k, v in med.items()},
    }


def main_() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", type=int, default=100)
    p.add_argument("--services", type=int, default=10)
    p.add_argument("--reps", type=int, default=15)
    args = p.parse_args()
    result = run(args.hosts, args.services, args.reps)
    when = datetime.now(UTC).isoformat(timespec="seconds")
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "at": when}
    print(f"{'case':<12} {'median s':>9} {'min':>8} {'max':>8} {'x list --json':>14}")
    for k, v in result["median_s"].items():
        low, high, ratio = result["min_s"][k], result["max_s"][k], result["ratio_to_list_json"][k]
        print(f"{k:<12} {v:>9.4f} {low:>8.4f} {high:>8.4f} {ratio:>14.2f}")
    out = ROOT / "bench" / "desk_render" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main_())
