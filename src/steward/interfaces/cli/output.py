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
from steward.events.health import EventPathHealth

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
    if status.event_path is not None:
        lines += event_path_lines(status.event_path)
    return "\n".join(terminal(line) for line in lines)


def event_path_lines(health: EventPathHealth) -> list[str]:
    """The event path in a few lines; every problem on its own line, in capitals first."""
    if not health.reachable:
        return [f"EVENT PATH DOWN: {p}" for p in health.problems]
    group = f"rulebook group {health.group}: " + (
        "missing"
        if not health.group_exists
        else f"lag {health.group_lag}, pending {health.group_pending}"
        + ("" if health.consumer_idle is None else f", last read {health.consumer_idle:.0f} s ago")
    )
    lines = [f"event path: Redis {health.url}, stream {health.stream_length} entries; {group}"]
    if health.agents:
        lines.append(
            "agents: "
            + ", ".join(
                f"{h} {'never' if a.last_heartbeat_age is None else f'{a.last_heartbeat_age:.0f} s ago'}"
                for h, a in sorted(health.agents.items())
            )
        )
    lines += [f"EVENT PATH PROBLEM: {p}" for p in health.problems]
    return lines
