#!/usr/bin/python
# Copyright: Steward maintainers
# MIT License (see galaxy.yml)

# Documentation only: the work is done on the controller by the action plugin of the same name
# (plugins/action/notify_pending.py), like ansible.builtin.debug.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: notify_pending
short_description: Announce a pending Steward action from the signed ledger, templating nothing of the event
version_added: 0.3.0
description:
  - Run by C(playbooks/notify.yml) when the rulebook sees an C(action_pending) event. Takes the event
    from the raw extra var C(ansible_eda.event) without templating it, keeps only its C(action) (checked
    against the action id pattern C(^[A-Za-z0-9][A-Za-z0-9_.-]{0,150}$), no C(..)), and reads what it
    shows (host, drift key, summary, queue folder) from the ledger entry the engine wrote in
    O(state_dir)C(/engine/ledger/<id>.json).
  - Appends one JSON line to O(state_dir)C(/notify.log) (one write, C(O_APPEND), never through a
    symlink) and returns one line for a human with every control character escaped.
  - An id without a ledger entry is not an action the engine wrote; it is announced nowhere (a
    warning). A malformed id fails the task.
author:
  - Steward maintainers
options:
  state_dir:
    description: Steward's runtime state folder on the controller, as an absolute path.
    type: str
    required: true
attributes:
  action:
    description:
      - Indicates this has a corresponding action plugin so some parts of the task can be executed on the controller.
    support: full
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: In check mode nothing is appended to notify.log.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
notes:
  - Runs on the controller only and never contacts a host; use it with C(run_once=true).
seealso:
  - module: homelab.steward.plan
"""

EXAMPLES = r"""
- name: Announce the pending action of the event
  homelab.steward.notify_pending:
    state_dir: /srv/steward/state
  run_once: true
"""

RETURN = r"""
action:
  description: The action id of the event.
  returned: success
  type: str
known:
  description: Whether the ledger has an entry for it (only then is anything announced).
  returned: success
  type: bool
host:
  description: The action's host, from the ledger.
  returned: when known
  type: str
folder:
  description: The queue folder the action is in now (C(pending) while it waits), or null.
  returned: when known
  type: str
msg:
  description: One line for a human, control characters escaped.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(argument_spec=dict(state_dir=dict(type="str", required=True)), supports_check_mode=True)
    module.fail_json(msg="homelab.steward.notify_pending runs on the controller through its action plugin")


if __name__ == "__main__":
    main()
