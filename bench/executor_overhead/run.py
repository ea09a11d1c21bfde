"""Executor overhead: `steward execute --once` for one approved action against `ansible-playbook` of
the very same playbook on the same host.

    .venv/bin/python bench/executor_overhead/run.py [--trials 5] [--keep-work]      (as root)

Real parts only: the namespace lab (its own folder; refuses to run next to another lab), `steward
observe` twice to confirm a stopped container (`docker stop web` on saturn), `steward approve`, then
the timed part. Trials alternate, in one session, with the same ssh treatment (ControlPersist masters
up, as for a cron executor):

  executor   `steward execute --once` as a process (wall time): claim, signature and shape checks,
             the look before (an observe of the host, execute/look.py), the run through
             ansible-runner, the verification after (a second observe, execute/verify.py)
  looks      of that same process, the time spent in the look before and the verification after
             (timed from inside by wrapping the two functions; the process is otherwise the CLI's)
  playbook   `ansible-playbook -i lab/inventory/hosts.yml runs/ID/playbook.yml --limit saturn`, the
             byte-for-byte copy the executor ran, with the container stopped again first

"executor without the looks" is executor − looks: what the executor adds around the run itself.
Writes bench/executor_overhead/results/latest.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from lab_bench import lab_refusal, sh  # noqa: E402

# measured as installed: Python writes and reuses bytecode caches. This machine's environment sets
# PYTHONDONTWRITEBYTECODE=1, which makes every Python start (Ansible's as well as steward's) compile its modules.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
HERE = Path(__file__).resolve().parent
INVENTORY = ROOT / "lab" / "inventory" / "hosts.yml"

# `steward execute --once`, with the look before and the verification after timed from inside
TIMED_EXECUTE = """
import sys, time
from steward.execute import executor
spent = {"look": 0.0, "verify": 0.0}
def timed(name, fn):
    def run(*a, **kw):
        t = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            spent[name] += time.perf_counter() - t
    return run
executor.look_now = timed("look", executor.look_now)
executor.verify = timed("verify", executor.verify)
from steward.interfaces.cli.main import main
rc = main(["execute", "--once", "--json"])
print("SPENT", spent["look"], spent["verify"], file=sys.stderr)
sys.exit(rc)
"""


def docker(env: dict[str, str], *args: str) -> None:
    sh(str(ROOT / "lab" / "docker.sh"), "saturn", *args, env=env)


def approved_action(env: dict[str, str], state: Path) -> str:
    """Stop web, observe until the engine writes the pending action, approve it: its id."""
    docker(env, "stop", "web")
    pending = state / "actions" / "pending"
    for _ in range(4):  # two counted looks confirm it (steward observe waits out confirm_interval)
        sh("steward", "observe", env=env)
        found = sorted(pending.glob("*-saturn-web-not_running-*.yml")) if pending.exists() else []
        if found:
            action = found[0].stem
            sh("steward", "approve", action, env=env)
            return action
    raise RuntimeError("no pending action after 4 observes")


def one_trial(env: dict[str, str], state: Path) -> dict[str, float]:
    action = approved_action(env, state)
    t = time.perf_counter()
    run = sh(sys.executable, "-c", TIMED_EXECUTE, env=env)
    executor = time.perf_counter() - t
    look, verify = (float(x) for x in run.stderr.rsplit("SPENT", 1)[1].split()[:2])
    result = json.loads((state / "actions" / "done" / f"{action}.result.json").read_text())
    if result.get("status") != "succeeded" or (result.get("verification") or {}).get("verified") is not True:
        raise RuntimeError(f"the action did not succeed and verify: {json.dumps(result)[:2000]}")
    copy = state / "runs" / action / "playbook.yml"
    docker(env, "stop", "web")
    t = time.perf_counter()
    sh("ansible-playbook", "-i", str(INVENTORY), str(copy), "--limit", "saturn", env=env)
    playbook = time.perf_counter() - t
    return {
        "executor": executor,
        "look": look,
        "verify": verify,
        "without_looks": executor - look - verify,
        "playbook": playbook,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--keep-work", action="store_true", help="keep the work folder (logs, state)")
    args = p.parse_args()
    why = lab_refusal()
    if why:
        print(f"bench: {why}", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="stwx."))
    state = work / "state"
    env = {
        **os.environ,
        "STEWARD_LAB_DIR": str(work / "lab"),  # short: unix sockets < 108 bytes
        "STEWARD_STATE_DIR": str(state),
        "STEWARD_INVENTORY": str(INVENTORY),
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
    }
    env.pop("STEWARD_REDIS_URL", None)
    trials: list[dict[str, float]] = []
    try:
        sh(str(ROOT / "lab" / "up.sh"), env=env)
        sh("ansible-playbook", "-i", str(INVENTORY), "playbooks/deploy.yml", env=env)
        sh("steward", "observe", env=env)  # warm-up: ssh masters up, the state folder's key and caches
        for n in range(args.trials):
            trials.append(one_trial(env, state))
            t = trials[-1]
            print(
                f"trial {n + 1}: executor {t['executor']:.2f} s (look {t['look']:.2f}, verify {t['verify']:.2f}, "
                f"without them {t['without_looks']:.2f}); ansible-playbook {t['playbook']:.2f} s",
                flush=True,
            )
    finally:
        subprocess.run([str(ROOT / "lab" / "down.sh")], cwd=ROOT, env=env, capture_output=True, check=False)
        if not args.keep_work:
            subprocess.run(["rm", "-rf", str(work)], check=False)
    parts = ("executor", "look", "verify", "without_looks", "playbook")
    median = {k: statistics.median(t[k] for t in trials) for k in parts}
    summary = {
        "median": median,
        "executor_over_playbook": median["executor"] / median["playbook"],
        "without_looks_over_playbook": median["without_looks"] / median["playbook"],
    }
    out: dict[str, Any] = {"trials": trials, "summary": summary, "date": time.strftime("%Y-%m-%d")}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "latest.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"\n| part ({len(trials)} trials, median) | seconds | vs ansible-playbook |\n|---|---|---|")
    for k in parts:
        print(f"| {k} | {median[k]:.2f} | {median[k] / median['playbook']:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
