"""What the CLI writes: its exit codes, JSON for `--json`, inert text for a human.

Every line of text goes through `steward.core.inert.terminal` (a playbook shown by `show` keeps
its newlines and tabs, nothing else): a node's string never moves the cursor or fakes a line.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from steward.app.plan import CycleReport
from steward.app.status import Status
from steward.core.inert import terminal

OK, FAILURE, BAD_INPUT = 0, 1, 2


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """`data` as JSON with --json, else `text` (already inert)."""
    print(json.dumps(data, indent=2, sort_keys=True, default=str) if getattr(args, "json", False) else text)


def terminal_lines(text: str) -> str:
    """A file shown as it is, line by line: newlines and tabs kept, every other control character escaped."""
    return "\n".join("\t".join(terminal(part) for part in line.split("\t")) for line in text.split("\n"))


def plan_text(report: CycleReport) -> str:
    if report.skipped:
        return terminal(f"plan: cycle SKIPPED ({report.reason}); last-known-good kept, no action written")
    lines = [f"plan: {len(report.drifts)} drift(s), {len(report.new_actions)} new pending action(s)"]
    for d in report.drifts:
        tag = "notice" if d["notice_only"] else f"seen {d['observations']}x"
        lines.append(terminal(f"  drift  {d['key']}  [{tag}]  {d['summary']}"))
    lines += [terminal(f"  NEW    pending/{a}.yml") for a in report.new_actions]
    lines += [terminal(f"  expired {a}") for a in report.expired]
    return "\n".join(lines)


def status_text(status: Status) -> str:
    lines = [
        f"state: {status.state_dir}",
        f"inventory: {status.inventory}",
        "queue: " + "  ".join(f"{f}={n}" for f, n in status.queue.items()),
    ]
    if status.inventory_error is not None:
        lines.append(f"INVENTORY UNUSABLE: {status.inventory_error}")
        lines.append("cycles are skipped until the inventory reads whole; nothing is planned or run")
    lines += [
        f"host {h:<12} observed {v.observed_at}  reachable={v.reachable}  docker={v.docker}"
        + ("  (not in the inventory)" if v.in_inventory is False else "")
        for h, v in sorted(status.hosts.items())
    ]
    if status.left_inventory:
        lines.append(
            "left the inventory: " + ", ".join(f"{h} (at {t})" for h, t in sorted(status.left_inventory.items()))
        )
    lines += [f"WORLD FILE UNUSABLE {f}: {why}" for f, why in sorted(status.world_errors.items())]
    if status.last_known_good is not None:
        lines.append(
            "cycles are skipped until every world file is whole; last-known-good: "
            + (", ".join(f"{h} @ {t}" for h, t in sorted(status.last_known_good.items())) or "none")
        )
    if status.diagnosis is not None:
        lines.append(status.diagnosis)
    return "\n".join(terminal(line) for line in lines)
