#!/usr/bin/python
# Copyright: Steward maintainers
# MIT License (see galaxy.yml)

# Documentation only: the work is done on the controller by the action plugin of the same name
# (plugins/action/plan.py), like ansible.builtin.debug.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: plan
short_description: Run one Steward drift-engine cycle on the controller and report what it wrote
version_added: 0.2.0
description:
  - Runs one plan cycle of Steward's drift engine, exactly as C(steward plan) does, inside the
    C(ansible-playbook) process on the controller - compare the desired state (the inventory) with
    the world files in O(state_dir), track drifts across observations, write pending remediation
    playbooks for confirmed drifts that pass the safety gates, expire stale ones.
  - Lets a playbook plan right after it observed. C(observe.yml) uses it when run with
    C(steward_observe_plan=true) (the rulebook does); after each look it plans, and while a drift on the
    host is seen but not yet confirmed it looks again after C(steward_policy.confirm_interval).
  - Never approves or runs anything. A cycle skipped because the world state is unusable, or because the
    inventory changed while it was read, is a warning with RV(cycle_skipped=true), not a failure.
  - An inventory that does not parse (a source, or a group_vars/host_vars file) fails the task with one line
    naming the file, line and column; the cycle is journaled as skipped and nothing is written.
  - Needs the C(steward) controller Python package in the Python that runs ansible-playbook.
author:
  - Steward maintainers
options:
  state_dir:
    description: Steward's runtime state folder on the controller, as an absolute path.
    type: path
    required: true
  inventory:
    description:
      - The inventory holding the desired state, one file or folder (a list with exactly one item is
        accepted, so V({{ ansible_inventory_sources }}) can be passed as is).
    type: raw
    required: true
attributes:
  action:
    description:
      - Indicates this has a corresponding action plugin so some parts of the task can be executed on the controller.
    support: full
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: none
    details: In check mode the task is skipped; a cycle would write actions.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
notes:
  - Runs on the controller only and never contacts a host; use it with C(run_once=true) and C(delegate_to=localhost).
  - One plan cycle runs at a time (a lock in the state folder), also against C(steward plan) run from cron.
seealso:
  - module: homelab.steward.node_observe
"""

EXAMPLES = r"""
- name: Plan one cycle over what observe just recorded
  homelab.steward.plan:
    state_dir: /srv/steward/state
    inventory: "{{ ansible_inventory_sources }}"
  run_once: true
  delegate_to: localhost
  register: steward_plan
"""

RETURN = r"""
cycle_skipped:
  description: The world state was unusable, so nothing was planned (last-known-good kept).
  returned: always
  type: bool
new_actions:
  description: IDs of the pending actions written in this cycle.
  returned: always
  type: list
  elements: str
expired:
  description: IDs of pending actions expired in this cycle (drift resolved, flapping, TTL).
  returned: always
  type: list
  elements: str
held:
  description: Confirmed drift keys for which no action was written, with the reason (silence, storm, backoff, ...).
  returned: always
  type: dict
drifts:
  description: Every drift the cycle saw, with its key, summary and number of observations.
  returned: always
  type: list
  elements: dict
confirming:
  description: Drift keys seen but not yet confirmed (fewer observations than C(confirm_after)) without an open action.
  returned: always
  type: list
  elements: str
confirming_hosts:
  description: The hosts of RV(confirming); looking at them again may turn those drifts into actions.
  returned: always
  type: list
  elements: str
confirm_after:
  description: Observations needed to confirm a drift (C(steward_policy.confirm_after)).
  returned: always
  type: int
confirm_interval:
  description: Seconds between the looks an event-triggered observe takes (C(steward_policy.confirm_interval)).
  returned: always
  type: int
storm:
  description: The storm breaker held this cycle's actions back.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(state_dir=dict(type="path", required=True), inventory=dict(type="raw", required=True))
    )
    module.fail_json(msg="homelab.steward.plan runs on the controller through its action plugin, not on a node")


if __name__ == "__main__":
    main()
