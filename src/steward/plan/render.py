"""Render one drift and its remedy into a playbook a human can review at 3 a.m.

What a node reported (the observed image, state, error text, and the summary built from them)
is untrusted data: in the comment header every value goes through `inert.comment`, so a comment
stays one line whatever it holds; in the play, the name and every string of `steward_action`
carry `!unsafe`, so Ansible never templates them, and `steward_action` holds only what the
executor needs (id, key, host, times, the evidence fingerprint) - the desired/observed values
stay in the header and the signed ledger. The play's `hosts:` is the drift's host, an inventory
host name; the tasks come from the area's remedy, built from the inventory alone.
"""

from __future__ import annotations

from typing import Any

from steward.core.inert import comment
from steward.core.model import Drift, Remedy
from steward.plan.playbook import Unsafe, dump_play, unsafe_strings

# the evidence fields the playbook carries (the executor's stale check reads them)
PLAY_EVIDENCE = ("fingerprint", "observed_at", "cycle", "observations", "since")


def _line(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def play_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """The steward_action vars of the play: the ledger's metadata minus node-reported values."""
    evidence = {k: meta["evidence"][k] for k in PLAY_EVIDENCE if k in meta["evidence"]}
    out = {k: meta[k] for k in ("id", "key", "host", "created_at", "expires_at")}
    return unsafe_strings({**out, "evidence": evidence})


def render_action(drift: Drift, remedy: Remedy, meta: dict[str, Any], hint: dict[str, str]) -> str:
    """The playbook text: a comment header, then one play whose vars carry steward_action."""
    ev = meta["evidence"]
    lines = [
        ("Steward remediation playbook: waiting for a human decision", ""),
        ("", ""),
        ("What drifted : ", drift.summary),
        ("  drift key  : ", drift.key),
        ("  desired    : ", f"{_line(drift.desired)}   (inventory of {drift.host})"),
        ("  observed   : ", _line(drift.observed)),
        ("Evidence     : ", f"world/{drift.host}.json observed at {ev['observed_at']} (cycle {ev['cycle']})"),
        ("  seen in ", f"{ev['observations']} consecutive observations since {ev['since']}"),
        ("Proposed fix : ", remedy.what),
        ("  with       : ", f"{remedy.modules}, on {drift.host} only"),
        ("Written at   : ", f"{meta['created_at']}     expires at: {meta['expires_at']}"),
        ("", ""),
        ("To approve   : ", hint["approve"]),
        ("         or  : ", hint["approve_cli"]),
        ("To reject    : ", hint["reject_cli"]),
        ("The engine signed this file. An edited or hand-written copy is quarantined, never run;", ""),
        ("before it runs, the executor re-checks that the drift still holds on a look taken then.", ""),
    ]
    header = [("# " + label + comment(value)).rstrip() for label, value in lines]
    play = {
        "name": Unsafe(f"Steward {meta['id']}: {remedy.what.split(' (')[0]} ({drift.target} on {drift.host})"),
        "hosts": drift.host,
        "gather_facts": False,
        "vars": {"steward_action": play_meta(meta)},
        "tasks": remedy.tasks,
    }
    return "\n".join(header) + "\n\n---\n" + dump_play(play)
