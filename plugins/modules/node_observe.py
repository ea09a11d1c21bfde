#!/usr/bin/python
# Copyright: Steward maintainers
# MIT License (see galaxy.yml)

# Ansible module layout: DOCUMENTATION/EXAMPLES/RETURN come before the imports (pyproject.toml ignores E402 here).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: node_observe
short_description: Run every requested stability check on a node in one round trip and record its world state
version_added: 0.1.0
description:
  - Runs the requested checks (C(docker), C(disk), C(mqtt), C(tailscale)) on the node in a single module
    run, in parallel, and returns what each one saw. The checks are the same collectors that the
    standalone modules M(homelab.steward.docker_containers_info), M(homelab.steward.disk_usage_info),
    M(homelab.steward.mqtt_broker_info) and M(homelab.steward.tailscale_status_info) run, with the same options.
  - A check never fails the task. Options it cannot use, a crash or a check still running at
    O(timeout) is reported as that check's C(status=check_failed) with an C(error); the other checks
    are still reported.
  - Has an action plugin. On the controller it writes C(<state_dir>/world/<host>.json) atomically
    (temp file in the same folder, fsync, rename, fsync of the folder), so a reader never sees a
    half-written file. An unreachable host does not fail the task either; its world file says
    C(reachable=false) with Ansible's message and no checks, because "could not look" is never "nothing is there".
  - 'The world file has exactly the keys C(schema) (V(1)), C(host), C(observed_at) (UTC, seconds, for example
    C(2026-11-27T04:00:00Z)), C(cycle), C(reachable), C(error) and C(checks) (one entry per check that ran).'
  - With no check requested (an empty O(checks)) the host is not contacted, the task is skipped and no file is written.
author:
  - Steward maintainers
options:
  checks:
    description:
      - The checks to run, keyed by area; each value holds the options of that check (V(null) or
        V({}) for the defaults).
      - C(docker) takes the options of M(homelab.steward.docker_containers_info), C(disk) those of
        M(homelab.steward.disk_usage_info), C(mqtt) those of M(homelab.steward.mqtt_broker_info) and
        C(tailscale) those of M(homelab.steward.tailscale_status_info).
      - Options are validated per check, so one misconfigured check does not hide the others.
    type: dict
    default: {}
  timeout:
    description:
      - Seconds to wait for all checks together. A check still running then is reported as
        C(check_failed); each check also has its own, shorter timeouts.
    type: int
    default: 60
  state_dir:
    description:
      - Steward's runtime state folder on the controller, as an absolute path; the world file goes to
        its C(world/) subfolder, which is created when missing.
      - When omitted, nothing is written and the observation is only returned.
    type: path
  cycle:
    description:
      - ID of the observe cycle this observation belongs to, written into the world file.
      - Defaults to the observation time in compact form, for example C(20261127T040000Z).
    type: str
attributes:
  action:
    description:
      - Indicates this has a corresponding action plugin so some parts of the task can be executed on the controller.
    support: full
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The checks run in check mode too (they only read); the world file is not written.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
notes:
  - Observing changes nothing on the node, so the task always reports C(changed=false), also when it
    writes the world file.
  - The world file's name is the inventory name of the host, which must not be empty, contain C(/) or start with C(.).
  - C(observe.yml) runs this module once per host with the checks the C(*_health) roles configured.
seealso:
  - module: homelab.steward.docker_containers_info
  - module: homelab.steward.disk_usage_info
  - module: homelab.steward.mqtt_broker_info
  - module: homelab.steward.tailscale_status_info
"""

EXAMPLES = r"""
---
- name: Observe the node and record its world state
  homelab.steward.node_observe:
    state_dir: /opt/homelab
    cycle: "{{ steward_cycle_id }}"
    checks:
      docker:
        docker_host: unix:///var/run/docker.sock
      disk:
        mounts:
          - path: /
            max_used_pct: 90
      mqtt:
        brokers:
          - host: piha.tail0.ts.net
      tailscale: {}

- name: Look at the disks only, without writing anything
  homelab.steward.node_observe:
    checks:
      disk: {}
  register: seen

- name: Show what was seen
  ansible.builtin.debug:
    var: seen.world.checks.disk
"""

RETURN = r"""
elapsed:
  description: Seconds each check took on the node (V(null) for one still running at O(timeout)).
  returned: when the host was reached
  type: dict
  sample:
    docker: 0.012
reachable:
  description: Whether the host could be reached; V(false) is recorded in the world file, it does not fail the task.
  returned: when at least one check was requested
  type: bool
  sample: true
world:
  description:
    - The world-state document (written to RV(path) unless in check mode or without O(state_dir)).
    - C(checks) holds what each requested check saw, keyed by area; the same dicts the standalone modules
      return (for example RV(homelab.steward.docker_containers_info#module:docker)), or C(status=check_failed)
      with an C(error) when the check could not run. It is empty when the host was unreachable.
  returned: when at least one check was requested
  type: dict
  sample:
    schema: 1
    host: saturn
    observed_at: "2026-11-27T04:00:00Z"
    cycle: 20261127T040000Z
    reachable: false
    error: "Failed to connect to the host via ssh: ssh: connect to host 198.18.0.11 port 22: Connection timed out"
    checks: {}
path:
  description: The world-state file that was written (or would have been, in check mode).
  returned: when O(state_dir) is given
  type: str
  sample: /opt/homelab/world/saturn.json
"""

import threading
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

# Static imports on purpose: AnsiballZ ships only the module_utils it finds imported here.
from ansible_collections.homelab.steward.plugins.module_utils import (
    _check_disk,
    _check_docker,
    _check_mqtt,
    _check_tailscale,
)

ARGUMENT_SPEC = dict(
    checks=dict(type="dict", default={}),
    timeout=dict(type="int", default=60),
    state_dir=dict(type="path"),
    cycle=dict(type="str"),
)

# The options of homelab.steward.disk_usage_info (collect()'s keyword arguments). A unit test keeps
# every area's spec equal to its standalone module's ARGUMENT_SPEC.
DISK_OPTIONS_SPEC = dict(
    mounts=dict(
        type="list",
        elements="dict",
        default=[{"path": "/"}],
        options=dict(
            path=dict(type="str", required=True),
            max_used_pct=dict(type="int"),
            max_inodes_pct=dict(type="int"),
        ),
    ),
    timeout=dict(type="int", default=5),
)

# The options of homelab.steward.tailscale_status_info (collect()'s keyword arguments).
TAILSCALE_OPTIONS_SPEC = dict(
    socket=dict(type="str", default="/var/run/tailscale/tailscaled.sock"),
    expected_peers=dict(type="list", elements="str", default=[]),
    timeout=dict(type="float", default=5.0),
)

# area -> (argument_spec of its options, collect function)
CHECKS = {
    "docker": (_check_docker.OPTIONS_SPEC, _check_docker.collect),
    "disk": (DISK_OPTIONS_SPEC, _check_disk.collect),
    "mqtt": (_check_mqtt.OPTIONS_SPEC, _check_mqtt.collect),
    "tailscale": (TAILSCALE_OPTIONS_SPEC, _check_tailscale.collect),
}


def check_failed(error: str) -> dict:
    """The entry of a check that could not run at all."""
    return {"status": "check_failed", "error": error}


class _Job:
    """One check running in its own thread; ``result`` is set when it ends, however it ends."""

    def __init__(self, area: str, collect, options: dict) -> None:
        self.area = area
        self.result: dict | None = None
        self.elapsed: float | None = None
        self._collect = collect
        self._options = options
        self.thread = threading.Thread(target=self._run, name=f"steward-check-{area}", daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        try:
            result = self._collect(**self._options)
            if not isinstance(result, dict) or "status" not in result:
                result = check_failed(f"the {self.area} check returned {type(result).__name__}, not a status dict")
        except ValueError as exc:  # the check's own way of saying "cannot use these options"
            result = check_failed(f"the {self.area} check cannot use its options: {exc}")
        except Exception as exc:  # a bug in a check must not blind the other checks
            result = check_failed(f"the {self.area} check crashed: {type(exc).__name__}: {exc}")
        self.elapsed = round(time.monotonic() - start, 3)
        self.result = result


def validate_options(area: str, options: object) -> tuple[dict | None, str | None, set]:
    """(validated options, error, values to hide from output) for one requested check."""
    if area not in CHECKS:
        return None, f"unknown check {area!r}: this node_observe knows {', '.join(sorted(CHECKS))}", set()
    if options is None:
        options = {}
    if not isinstance(options, dict):
        return None, f"the options of the {area} check must be a dict, got {type(options).__name__}", set()
    spec = CHECKS[area][0]
    validated = ArgumentSpecValidator(spec).validate(options)
    no_log_values = set(getattr(validated, "_no_log_values", ()))
    if validated.error_messages:
        return None, f"invalid options for the {area} check: {'; '.join(validated.error_messages)}", no_log_values
    return validated.validated_parameters, None, no_log_values


def run_checks(requested: dict, timeout: float) -> tuple[dict, dict, set]:
    """Run every requested check in parallel; return (checks, elapsed, no_log values)."""
    checks: dict = {}
    elapsed: dict = {}
    hidden: set = set()
    jobs = []
    for area in sorted(requested):
        options, error, no_log_values = validate_options(area, requested[area])
        hidden |= no_log_values
        if error is not None:
            checks[area] = check_failed(error)
            elapsed[area] = 0.0
            continue
        job = _Job(area, CHECKS[area][1], options)
        job.thread.start()
        jobs.append(job)
    deadline = time.monotonic() + timeout
    for job in jobs:
        job.thread.join(max(0.0, deadline - time.monotonic()))
    for job in jobs:
        # Read once: a check finishing right now must not leave a half-reported state.
        result = job.result
        if result is None:
            result = check_failed(f"the {job.area} check did not finish within {timeout:g} s")
        checks[job.area] = result
        elapsed[job.area] = job.elapsed
    return dict(sorted(checks.items())), dict(sorted(elapsed.items())), hidden


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if module.params["timeout"] <= 0:
        module.fail_json(msg=f"timeout must be a positive number of seconds, got {module.params['timeout']}")
    checks, elapsed, hidden = run_checks(module.params["checks"], module.params["timeout"])
    # Secrets among a check's options (an MQTT password) are masked in everything returned.
    module.no_log_values.update(v for v in hidden if v)
    module.exit_json(changed=False, checks=checks, elapsed=elapsed)


if __name__ == "__main__":
    main()
