"""Render one drift and its remedy into a playbook a human can review at 3 a.m."""

from __future__ import annotations

from typing import Any

import yaml

from steward.model import Drift, Remedy


def _line(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def render_action(drift: Drift, remedy: Remedy, meta: dict[str, Any], hint: dict[str, str]) -> str:
    """The playbook text: a comment header, then one play whose vars carry steward_action."""
    ev = meta["evidence"]
    header = [
        "# Steward remediation playbook: waiting for a human decision",
        "#",
        f"# What drifted : {drift.summary}",
        f"#   drift key  : {drift.key}",
        f"#   desired    : {_line(drift.desired)}   (inventory of {drift.host})",
        f"#   observed   : {_line(drift.observed)}",
        f"# Evidence     : world/{drift.host}.json observed at {ev['observed_at']} (cycle {ev['cycle']})",
        f"#   seen in {ev['observations']} consecutive observations since {ev['since']}",
        f"# Proposed fix : {remedy.what}",
        f"#   with       : {remedy.modules}, on {drift.host} only",
        f"# Written at   : {meta['created_at']}     expires at: {meta['expires_at']}",
        "#",
        "# To approve   : " + hint["approve"],
        "#          or  : " + hint["approve_cli"],
        "# To reject    : " + hint["reject_cli"],
        "# The engine signed this file. An edited or hand-written copy is quarantined, never run;",
        "# before it runs, the executor re-checks that the drift still holds on the newest world state.",
        "",
    ]
    play = {
        "name": f"Steward {meta['id']}: {remedy.what.split(' (')[0]} ({drift.target} on {drift.host})",
        "hosts": drift.host,
        "gather_facts": False,
        "vars": {"steward_action": meta},
        "tasks": remedy.tasks,
    }
    body = yaml.safe_dump([play], sort_keys=False, default_flow_style=False, width=100)
    return "\n".join(header) + "---\n" + body
