"""Event latency: a container stops on a lab host -> the pending playbook is on disk.

    .venv/bin/python bench/event_latency/run.py [--trials 20] [--warm-ssh] [--keep-work]    (as root)

Real parts only, as in tests/e2e/test_events.py: the namespace lab (its own folder; refuses to
run next to another lab), the node agent on each lab host, redis-server (append-only file on),
ansible-rulebook with rulebooks/steward.yml and the homelab.steward.events callback. Each trial
is independent: fresh state folder, empty stream, a fresh ansible-rulebook (so its per-host
throttle starts empty), ssh ControlPersist masters closed (an event after a quiet night finds
no warm connection; --warm-ssh keeps them), then `docker stop web` on saturn.

Breakdown, from timestamps the parts record themselves:
  agent    Docker's die event (timeNano)          -> Redis added the stream entry (entry id, ms)
  rulebook stream entry                           -> the observe play started (callback event id, ns)
  observe  play start                             -> first look planned (drift_detected event id, ns)
  confirm  first look planned                     -> the pending playbook on disk (its mtime, ns);
           includes steward_policy.confirm_interval (1 s), the second look and the second plan
Baseline, in the same session: `ansible-playbook observe.yml --limit saturn` by hand (one look,
no plan), same ssh treatment; the event path is reported as a ratio to it.
Writes bench/event_latency/results/latest.json and prints a Markdown table.
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
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from lab_bench import lab_refusal, sh  # noqa: E402

HERE = Path(__file__).resolve().parent


def close_ssh_masters(lab_dir: Path) -> None:
    for sock in (lab_dir / "cp").glob("*"):
        subprocess.run(
            ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "steward-lab"],
            capture_output=True,
            timeout=10,
            check=False,
        )


def one_trial(lab: Any, work: Path, n: int, env: dict[str, str], warm: bool) -> dict[str, float]:
    from event_lab import LAB_DIR, event_time, journal_events, stream_time

    state = work / f"trial-{n:02d}" / "state"
    lab.reset_stream()
    if not warm:
        close_ssh_masters(LAB_DIR)
    lab.start_rulebook(state)
    try:
        sh(str(ROOT / "lab" / "docker.sh"), "saturn", "stop", "web", env=env)
        pending = state / "actions" / "pending"
        deadline = time.monotonic() + 120
        while not (pending.exists() and any(pending.glob("*.yml"))):
            if time.monotonic() > deadline:
                raise RuntimeError("no pending action within 120 s\n" + lab.log_tail())
            time.sleep(0.02)
        (action,) = pending.glob("*.yml")
        written = action.stat().st_mtime_ns / 1e9
        time.sleep(1.5)  # the callback's recap and the notify run: not timed, keeps the log whole
    finally:
        lab.stop_rulebook()
        sh(str(ROOT / "lab" / "docker.sh"), "saturn", "start", "web", env=env)
    client = lab.client()
    entries = client.xrange("steward:events")
    die = [(i, json.loads(f["event"])) for i, f in entries if f.get("type") == "container_die"]
    die_id, die_event = next((i, e) for i, e in die if e.get("container") == "web" and e.get("host") == "saturn")
    journal = journal_events(state)
    play = next(e for e in journal if e["type"] == "playbook_started" and e["play"].startswith("Observe"))
    detected = next(e for e in journal if e["type"] == "drift_detected" and e["key"] == "saturn/docker/web/not_running")
    assert [e["action"] for e in journal if e["type"] == "action_pending"] == [action.stem]
    t0 = die_event["time_nano"] / 1e9
    t1 = stream_time(die_id)
    t2, t3 = event_time(play), event_time(detected)
    return {
        "agent": t1 - t0,
        "rulebook": t2 - t1,
        "observe": t3 - t2,
        "confirm": written - t3,
        "total": written - t0,
    }


def baseline(env: dict[str, str], lab_dir: Path, warm: bool, reps: int = 5) -> list[float]:
    """`ansible-playbook observe.yml --limit saturn` by hand: one look, no plan."""
    times = []
    state = Path(tempfile.mkdtemp(prefix="stwb-base-"))
    for _ in range(reps):
        if not warm:
            close_ssh_masters(lab_dir)
        started = time.monotonic()
        sh(
            "ansible-playbook",
            "-i",
            str(ROOT / "lab" / "inventory" / "hosts.yml"),
            str(ROOT / "observe.yml"),
            "--limit",
            "saturn",
            env={**env, "STEWARD_STATE_DIR": str(state)},
        )
        times.append(time.monotonic() - started)
    return times


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--warm-ssh", action="store_true", help="keep ssh ControlPersist masters between trials")
    p.add_argument("--keep-work", action="store_true", help="keep the work folder (logs, states)")
    args = p.parse_args()
    why = lab_refusal()
    if why:
        print(f"bench: {why}", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="stwe."))
    os.environ["STEWARD_LAB_DIR"] = str(work / "lab")  # short: unix sockets < 108 bytes
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "collections")]
    from event_lab import LAB_DIR, EventLab, missing

    why = missing()
    if why:
        print(f"bench: {why}", file=sys.stderr)
        return 1
    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
    }
    lab = EventLab(work / "events")
    trials: list[dict[str, float]] = []
    try:
        sh(str(ROOT / "lab" / "up.sh"), env=env)
        sh("ansible-playbook", "-i", str(ROOT / "lab" / "inventory" / "hosts.yml"), "playbooks/deploy.yml", env=env)
        lab.start_redis()
        lab.deploy_agents()
        base = baseline(env, LAB_DIR, args.warm_ssh)
        for n in range(args.trials):
            trials.append(one_trial(lab, work, n, env, args.warm_ssh))
            t = trials[-1]
            print(
                f"trial {n + 1:2d}: total {t['total']:.2f} s  (agent {t['agent'] * 1000:.0f} ms, "
                f"rulebook {t['rulebook']:.2f}, observe {t['observe']:.2f}, confirm {t['confirm']:.2f})",
                flush=True,
            )
    finally:
        lab.close()
        subprocess.run([str(ROOT / "lab" / "down.sh")], cwd=ROOT, env=env, capture_output=True, check=False)
        if not args.keep_work:
            subprocess.run(["rm", "-rf", str(work)], check=False)

    parts = ("agent", "rulebook", "observe", "confirm", "total")
    summary = {
        k: {
            "median": statistics.median(t[k] for t in trials),
            "worst": max(t[k] for t in trials),
            "best": min(t[k] for t in trials),
        }
        for k in parts
    }
    base_median = statistics.median(base)
    result = {
        "date": datetime.now().strftime("%Y-%m-%d"),
        "trials": len(trials),
        "warm_ssh": args.warm_ssh,
        "cpus": os.cpu_count(),
        "summary": summary,
        "baseline_manual_observe": {"runs": base, "median": base_median},
        "ratio_total_to_baseline": summary["total"]["median"] / base_median,
        "per_trial": trials,
    }
    (HERE / "results").mkdir(exist_ok=True)
    name = "latest-warm.json" if args.warm_ssh else "latest.json"
    (HERE / "results" / name).write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(f"| part ({len(trials)} trials{', warm ssh' if args.warm_ssh else ''}) | median | worst | best |")
    print("|---|---|---|---|")
    for k in parts:
        s = summary[k]
        if k == "agent":
            print(f"| {k} | {s['median'] * 1000:.1f} ms | {s['worst'] * 1000:.1f} ms | {s['best'] * 1000:.1f} ms |")
        else:
            print(f"| {k} | {s['median']:.2f} s | {s['worst']:.2f} s | {s['best']:.2f} s |")
    print(
        f"\nbaseline (ansible-playbook observe.yml --limit saturn by hand, median of {len(base)}): "
        f"{base_median:.2f} s; event path median / baseline = {result['ratio_total_to_baseline']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
