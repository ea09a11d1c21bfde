#!/usr/bin/env python3
"""Time `ansible -m ping`, `ansible -m setup` and `ansible-playbook observe.yml` on the namespace lab.

Called by bench/observe_cost/run.sh, which brings the lab and the services up and down; this
script only writes inventories, runs the commands and reports. Standard library only.

For every N it writes an inventory of the first N lab hosts, warms every ssh ControlPersist
master (one unmeasured round of every command), then runs each command REPS times in rotation
and keeps the median wall time. After every observe run it checks the world files (one per
host, all four checks, what the lab really holds), so a fast but broken observe cannot pass.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
NET = "198.18.0"


def host_names(count: int) -> list[str]:
    return [f"h{i:02d}" for i in range(1, count + 1)]


def write_inventory(path: Path, n: int, args: argparse.Namespace, compose: bool = True) -> None:
    """An inventory of the first n lab hosts, modelled on lab/inventory/hosts.yml (YAML is JSON)."""
    hosts = {}
    for i, name in enumerate(host_names(n), start=1):
        hosts[name] = {
            "ansible_host": f"{NET}.{10 + i}",
            "steward_docker_host": f"unix://{args.lab_dir}/hosts/{name}/docker.sock",
            # run.sh deployed this project there: the docker check also reports the compose plugin
            "steward_compose_dir": f"{args.lab_dir}/hosts/{name}/compose",
            "steward_compose_projects": [{"name": "app", "src": "services/app", "healthy": True}],
        }
        if not compose:  # the same hosts and containers, the project not named: no compose plugin look
            del hosts[name]["steward_compose_projects"]
    inventory = {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": f"{args.lab_dir}/ssh/id_ed25519",
                "ansible_ssh_common_args": (
                    "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
                ),
                "ansible_control_path_dir": f"{args.lab_dir}/cp",
                # What a node has: the system python (the checks need the standard library only).
                "ansible_python_interpreter": args.python,
                "steward_state_dir": str(args.state_dir),
                # Desired state the four check roles read.
                "steward_disk": {"/": 99},
                "steward_mqtt_brokers": [{"name": "bench", "host": f"{NET}.1", "port": args.mqtt_port}],
                "steward_tailscale": {"required": True, "expected_peers": host_names(min(n, 2))},
                "tailscale_health_socket": args.tailscale_socket,
            },
            "hosts": hosts,
        }
    }
    path.write_text(json.dumps(inventory, indent=2) + "\n")


def commands(inventory: Path, variants: bool) -> dict[str, list[str]]:
    cmds = {
        "ping": ["ansible", "all", "-i", str(inventory), "-m", "ansible.builtin.ping"],
        "setup": ["ansible", "all", "-i", str(inventory), "-m", "ansible.builtin.setup"],
        "observe": ["ansible-playbook", "-i", str(inventory), "observe.yml", "-e", "steward_cycle=bench"],
        # the CLI around the same playbook (issue 16): without and with its plan cycle
        "steward_observe_no_plan": ["steward", "-i", str(inventory), "observe", "--no-plan"],
        "steward_observe": ["steward", "-i", str(inventory), "observe"],
    }
    if variants:
        for name in ("per_host_config", "standalone_roles"):
            play = HERE.relative_to(REPO) / "variants" / f"{name}.yml"
            cmds[name] = ["ansible-playbook", "-i", str(inventory), str(play), "-e", "steward_cycle=bench"]
    return cmds


def ansible_settings(env: dict[str, str]) -> dict[str, object]:
    """forks and the ssh plugin's pipelining, as ansible itself resolves them for this run."""

    def dump(*extra: str) -> str:
        cmd = ["ansible-config", "dump", "--only-changed", *extra]
        return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout

    forks = re.search(r"^DEFAULT_FORKS\(.*\) = (\d+)$", dump(), flags=re.M)
    ssh = dump("-t", "connection", "ssh")
    pipelining = re.search(r"^pipelining\(.*\) = (\w+)$", ssh, flags=re.M)
    return {
        "forks": int(forks.group(1)) if forks else 5,
        "pipelining": bool(pipelining and pipelining.group(1) == "True"),
    }


def run_timed(cmd: list[str], env: dict[str, str], log: Path) -> float:
    with log.open("ab") as out:
        out.write(f"\n$ {shlex.join(cmd)}\n".encode())
        out.flush()
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
        elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench: {shlex.join(cmd)} failed with rc {proc.returncode}; see {log}")
    return elapsed


def verify_world(
    state_dir: Path, n: int, tailscale_status: str, compose: bool = True, cycle: str | None = "bench"
) -> None:
    """Every host has a fresh world file with the four checks showing what the lab holds."""
    world = state_dir / "world"
    files = sorted(p.name for p in world.glob("*.json"))
    want = [f"{h}.json" for h in host_names(n)]
    if files != want:
        sys.exit(f"bench: world files {files}, expected {want}")
    for name in host_names(n):
        doc = json.loads((world / f"{name}.json").read_text())
        checks = doc["checks"]
        problems = []
        if not doc["reachable"] or (cycle is not None and doc["cycle"] != cycle):
            problems.append(f"reachable={doc['reachable']} cycle={doc['cycle']}")
        if sorted(checks) != ["disk", "docker", "mqtt", "tailscale"]:
            problems.append(f"checks {sorted(checks)}")
        else:
            docker = checks["docker"]
            states = sorted(c["state"] for c in docker["containers"] or [])
            if docker["status"] != "ok" or states != ["exited", "running", "running"]:
                problems.append(f"docker {docker['status']} {states}")
            services = sorted(str(c["compose_service"]) for c in docker["containers"] or [] if c["compose_project"])
            plugin = (docker.get("compose") or {}).get("status")
            if services != ["web", "worker"] or plugin != ("ok" if compose else None):
                problems.append(f"compose {services} {docker.get('compose')}")
            if checks["disk"]["status"] != "ok" or checks["disk"]["mounts"][0]["present"] is not True:
                problems.append(f"disk {checks['disk']}")
            if [b["status"] for b in checks["mqtt"]["brokers"]] != ["accepted"]:
                problems.append(f"mqtt {checks['mqtt']}")
            if checks["tailscale"]["status"] != tailscale_status:
                problems.append(f"tailscale {checks['tailscale']['status']}")
        if problems:
            sys.exit(f"bench: world file of {name} is wrong: {'; '.join(problems)}")
        (world / f"{name}.json").unlink()  # the next run must write it again


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab-dir", required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--mqtt-port", type=int, required=True)
    parser.add_argument("--tailscale-socket", required=True)
    parser.add_argument("--tailscale-expected", default="ok", help="status the tailscale check must report")
    parser.add_argument("--python", default="/usr/bin/python3", help="ansible_python_interpreter of the hosts")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--variants", action="store_true", help="also time the rejected designs")
    parser.add_argument("--out", type=Path, required=True, help="JSON results file")
    parser.add_argument("sizes", type=int, nargs="+")
    args = parser.parse_args()
    args.state_dir = args.work / "state"
    (args.state_dir / "standalone").mkdir(parents=True, exist_ok=True)  # variants/standalone_roles.yml

    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["STEWARD_STATE_DIR"] = str(args.state_dir)
    # Ansible's own ssh_args, with masters kept for the whole run instead of 60 s.
    env.setdefault("ANSIBLE_SSH_ARGS", "-C -o ControlMaster=auto -o ControlPersist=900s")
    env["PATH"] = f"{REPO / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    ansible_version = subprocess.run(
        ["ansible", "--version"], cwd=REPO, env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]
    log = args.work / "bench.log"
    settings = ansible_settings(env)
    if not settings["pipelining"]:
        sys.exit("bench: ssh pipelining is off; set [ssh_connection] pipelining = True in ansible.cfg")

    results: dict = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "ansible": ansible_version,
            "kernel": platform.release(),
        },
        "settings": {
            "reps": args.reps,
            **settings,
            "ansible_ssh_args": env["ANSIBLE_SSH_ARGS"],
            "interpreter": args.python,
        },
        "sizes": {},
    }
    for n in args.sizes:
        inventory = args.work / f"inventory-{n}.yml"
        write_inventory(inventory, n, args)
        cmds = commands(inventory, args.variants)
        plain = args.work / f"inventory-{n}-no-compose.yml"
        write_inventory(plain, n, args, compose=False)
        cmds["observe_no_compose"] = commands(plain, False)["observe"]
        load_before = os.getloadavg()
        print(f"bench: N={n}: warm-up", flush=True)
        for cmd in cmds.values():  # one unmeasured round: every ControlPersist master is up
            run_timed(cmd, env, log)
        shutil.rmtree(args.state_dir / "world", ignore_errors=True)
        times: dict[str, list[float]] = {name: [] for name in cmds}
        for rep in range(args.reps):
            for name, cmd in cmds.items():
                times[name].append(run_timed(cmd, env, log))
                if name in ("observe", "observe_no_compose", "steward_observe_no_plan", "steward_observe"):
                    cycle = None if name.startswith("steward") else "bench"  # the CLI names its own cycle
                    verify_world(args.state_dir, n, args.tailscale_expected, name != "observe_no_compose", cycle)
                else:
                    shutil.rmtree(args.state_dir / "world", ignore_errors=True)
            print(
                f"bench: N={n} rep {rep + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True
            )
        median = {name: statistics.median(values) for name, values in times.items()}
        results["sizes"][str(n)] = {
            "commands": {name: shlex.join(cmd) for name, cmd in cmds.items()},
            "runs_s": {name: [round(v, 3) for v in values] for name, values in times.items()},
            "median_s": {name: round(v, 3) for name, v in median.items()},
            "per_host_s": {name: round(v / n, 3) for name, v in median.items()},
            "observe_over_ping": round(median["observe"] / median["ping"], 2),
            "observe_over_setup": round(median["observe"] / median["setup"], 2),
            "steward_observe_no_plan_over_observe": round(median["steward_observe_no_plan"] / median["observe"], 2),
            "steward_observe_over_ping": round(median["steward_observe"] / median["ping"], 2),
            # Other work on the machine shows here: the figures are only comparable when it is low.
            "loadavg_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        }
    sizes = sorted(int(n) for n in results["sizes"])
    if len(sizes) >= 2:
        lo, hi = str(sizes[0]), str(sizes[-1])
        span = sizes[-1] - sizes[0]
        results["marginal_per_host_s"] = {
            name: round((results["sizes"][hi]["median_s"][name] - results["sizes"][lo]["median_s"][name]) / span, 3)
            for name in results["sizes"][hi]["median_s"]
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    return 0


def print_table(results: dict) -> None:
    names = list(next(iter(results["sizes"].values()))["median_s"])
    print()
    ratios = "observe/ping | observe/setup | steward observe --no-plan/observe | steward observe/ping"
    print("| N | " + " | ".join(f"{n} median s (per host)" for n in names) + f" | {ratios} |")
    print("|---" * (len(names) + 5) + "|")
    for n, r in results["sizes"].items():
        cells = [f"{r['median_s'][k]:.2f} ({r['per_host_s'][k]:.3f})" for k in names]
        figures = [r["observe_over_ping"], r["observe_over_setup"]]
        figures += [r["steward_observe_no_plan_over_observe"], r["steward_observe_over_ping"]]
        print(f"| {n} | " + " | ".join(cells) + " | " + " | ".join(f"{x:.2f}" for x in figures) + " |")
    if "marginal_per_host_s" in results:
        print()
        print(
            "marginal cost per extra host (s): "
            + ", ".join(f"{k} {v:.3f}" for k, v in results["marginal_per_host_s"].items())
        )


if __name__ == "__main__":
    sys.exit(main())
