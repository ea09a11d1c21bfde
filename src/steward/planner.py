"""Render one drift into a remediation playbook a human can review at 3 a.m."""

from __future__ import annotations

from typing import Any

import yaml

from steward.desired import Service
from steward.drift import Drift

FIXES = {
    "missing": ("create and start the container from the desired image", "started", {}),
    "wrong_image": ("recreate the container from the desired image", "started", {}),
    "not_running": ("start the existing container", "started", {}),
    "unhealthy": ("restart the container", "started", {"restart": True}),
    "should_be_stopped": ("stop the container", "stopped", {}),
    "should_be_absent": ("remove the container", "absent", {}),
}


def remediation_task(drift: Drift, service: Service) -> dict[str, Any]:
    what, state, extra = FIXES[drift.kind]
    if state == "absent" or drift.kind == "should_be_stopped":
        params: dict[str, Any] = {"name": service.name}
    else:
        params = service.container_spec()
    params["state"] = state
    params.update(extra)
    params["docker_host"] = "{{ steward_docker_host | default(omit) }}"
    return {"name": f"{what.capitalize()}: {service.name}", "community.docker.docker_container": params}


def describe_fix(kind: str) -> str:
    return FIXES[kind][0]


def render_action(drift: Drift, service: Service, meta: dict[str, Any], approve_hint: dict[str, str]) -> str:
    """The playbook text: a comment header, then one play whose vars carry steward_action."""
    observed = ", ".join(f"{k}={v}" for k, v in drift.observed.items())
    desired = ", ".join(f"{k}={v}" for k, v in drift.desired.items())
    header = [
        "# Steward remediation playbook: waiting for a human decision",
        "#",
        f"# What drifted : {drift.summary}",
        f"#   drift key  : {drift.key}",
        f"#   desired    : {desired}   (inventory: steward_services of {drift.host})",
        f"#   observed   : {observed}",
        f"# Evidence     : world/{drift.host}.json observed at {meta['evidence']['observed_at']}"
        f" (cycle {meta['evidence']['cycle']})",
        f"#   seen in {meta['evidence']['observations']} consecutive observations since {meta['evidence']['since']}",
        f"# Proposed fix : {describe_fix(drift.kind)} with community.docker.docker_container",
        f"# Written at   : {meta['created_at']}     expires at: {meta['expires_at']}",
        "#",
        "# To approve   : " + approve_hint["approve"],
        "#          or  : " + approve_hint["approve_cli"],
        "# To reject    : " + approve_hint["reject_cli"],
        "# The engine signed this file. An edited or hand-written copy is quarantined, never run;",
        "# before it runs, the executor re-checks that the drift still holds on the newest world state.",
        "",
    ]
    play = {
        "name": f"Steward {meta['id']}: {describe_fix(drift.kind)} ({service.name} on {drift.host})",
        "hosts": drift.host,
        "gather_facts": False,
        "vars": {"steward_action": meta},
        "tasks": [remediation_task(drift, service)],
    }
    body = yaml.safe_dump([play], sort_keys=False, default_flow_style=False, width=100)
    return "\n".join(header) + "---\n" + body
