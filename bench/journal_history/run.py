"""Journal history: what the executor asks of the journal, with a 200 MB history against an empty one.

    .venv/bin/python bench/journal_history/run.py [--history-mb 200] [--actions 100] [--repeat 5]

In one process, two state folders: one with an empty journal, one with a history of about
--history-mb MB (old actions' events, written through steward's Journal, so rotated into
journal.d/ segments as in production). In each, for --actions new action ids, the journal work of
one executor pass that claims, runs and ends each action (steward/execute: the approval journaled
for a file moved by hand, the claim's "already ended?" check, action_claimed, action_running,
action_succeeded, a deferral check, recover()'s "did it start?"), timed; the median over
--repeat rounds (fresh ids each round). For reference, the same lookups answered by reading the whole
journal (what `Journal.has` did before the index): the cost that the index avoids.

Also timed: a full read of the journal (`Journal.events()`, what `steward events tail` and the desk's
history do), to show the history is all there, segments included.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from steward.core import segmented  # noqa: E402
from steward.execute.claim import END_EVENTS  # noqa: E402
from steward.state.journal import INDEX_BUILT, Journal  # noqa: E402


def history(path: Path, megabytes: int) -> int:
    """Old actions' events until the journal holds `megabytes` MB; the number of lines.

    The lines are steward's own event lines, appended (and rotated) the way Journal writes them,
    but without the per-action index files (one fsynced file per old action would take the bench
    longer than the measurement); the index is marked built, as a folder that wrote this history
    through Journal would have it. The lookups measured are of new actions, as an executor's are."""
    journal = Journal(path, bus=None)
    lines, n = 0, 0
    flow = ("action_pending", "action_approved", "action_claimed", "action_running", "action_succeeded")
    while segmented.total_size(path) < megabytes * 1_000_000:
        batch = []
        for _ in range(4000):
            action = f"20250101T000000Z-h{n % 997:04d}-docker-{n:07d}"
            for kind in flow:
                event = {"id": f"{n:016x}-{kind}", "type": kind, "at": "2025-01-01T00:00:00Z", "action": action}
                event.update(host=f"h{n % 997:04d}", key=f"h{n % 997:04d}/docker/c{n}/missing")
                batch.append((json.dumps(event, sort_keys=True) + "\n").encode())
                lines += 1
            n += 1
        segmented.append(path, b"".join(batch), journal.rotate_at)
    journal.index.mkdir(exist_ok=True)
    (journal.index / INDEX_BUILT).write_text("history written by the bench\n")
    return lines


def executor_journal_work(journal: Journal, ids: list[str]) -> None:
    """The journal calls of one executor pass that claims, runs and ends each of `ids`."""
    for action in ids:
        if not journal.has("action_approved", action):  # ActionQueue.journal_file_approval
            journal.append("action_approved", action=action, via="file")
        journal.has_any(END_EVENTS, action)  # claim: ended already?
        journal.append("action_claimed", action=action, src="approved", dst="running")
        journal.append("action_running", action=action)
        journal.has("action_running", action)  # recover(): did it start?
        journal.append("action_succeeded", action=action)
        journal.has("action_deferred", action)  # _release: deferred once already?


def scanned(journal: Journal, ids: list[str]) -> None:
    """The same lookups answered by reading the whole journal (before the index)."""
    for action in ids:
        journal._scan(("action_approved",), action)
        journal._scan(END_EVENTS, action)
        journal._scan(("action_running",), action)
        journal._scan(("action_deferred",), action)


def timed(fn, *args) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--history-mb", type=int, default=200)
    ap.add_argument("--actions", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="steward-bench-journal-"))
    try:
        empty, full = tmp / "empty" / "journal.jsonl", tmp / "full" / "journal.jsonl"
        t = time.perf_counter()
        lines = history(full, args.history_mb)
        built = time.perf_counter() - t
        size = segmented.total_size(full)
        print(
            f"history: {lines} lines, {size / 1e6:.0f} MB in {len(segmented.segments(full))} segments "
            f"+ journal.jsonl, written in {built:.1f} s",
            flush=True,
        )
        Journal(full, bus=None).has("action_approved", "x")  # the index exists (built as it was written)
        results: dict[str, list[float]] = {"empty": [], "full": [], "scan_full": []}
        for r in range(args.repeat):
            for label, path in (("empty", empty), ("full", full)):
                ids = [f"20261204T000000Z-saturn-{label}-{r}-{i:04d}" for i in range(args.actions)]
                results[label].append(timed(executor_journal_work, Journal(path, bus=None), ids))
        ids = [f"20261204T000000Z-saturn-scan-{i:04d}" for i in range(min(args.actions, 5))]
        per_action_scan = timed(scanned, Journal(full, bus=None), ids) / len(ids)
        read_all = timed(lambda: sum(1 for _ in Journal(full, bus=None).events()))
        e, f = statistics.median(results["empty"]), statistics.median(results["full"])
        summary = {
            "history_lines": lines,
            "history_bytes": size,
            "segments": len(segmented.segments(full)),
            "actions": args.actions,
            "empty_s": e,
            "full_s": f,
            "ratio": f / e,
            "scan_per_action_s": per_action_scan,
            "read_all_s": read_all,
        }
        out = ROOT / "bench" / "journal_history" / "results"
        out.mkdir(exist_ok=True)
        (out / "latest.json").write_text(json.dumps({**summary, "rounds": results}, indent=2) + "\n")
        print(f"| journal | executor journal work for {args.actions} actions (median of {args.repeat}) | vs empty |")
        print("|---|---|---|")
        print(f"| empty | {e:.3f} s | 1.00× |")
        print(f"| {size / 1e6:.0f} MB history | {f:.3f} s | {f / e:.2f}× |")
        print(
            f"| {size / 1e6:.0f} MB history, lookups by reading the journal (before the index) "
            f"| {per_action_scan * args.actions:.1f} s (from {len(ids)} actions) "
            f"| {per_action_scan * args.actions / e:.0f}× |"
        )
        print(f"full read of the history (Journal.events): {read_all:.1f} s")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
