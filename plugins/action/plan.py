# Copyright: Steward maintainers
# MIT License (see galaxy.yml)
"""homelab.steward.plan: one drift-engine cycle, run on the controller inside the playbook.

It is what ``steward plan`` does (the use case ``steward.app.plan``), in the ``ansible-playbook``
process itself, so an observe run (observe.yml with ``steward_observe_plan=true``, as the
rulebook starts it) can plan right after its look and see whether the host must be looked at
again to confirm a drift. It needs the
``steward`` controller package in the Python that runs ansible-playbook; the rest of the
collection does not.

The task never fails because of what it found. It fails only for its own arguments, a desired
state (inventory) with errors (the message names the host and variable, or the file, line and
column Ansible could not parse) or a missing package. A skipped cycle (unusable world state, an
inventory that changed while it was read) is a warning and ``cycle_skipped=true``: nothing is
written, exactly as with ``steward plan``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

ARGUMENT_SPEC = dict(
    state_dir=dict(type="path", required=True),
    inventory=dict(type="raw", required=True),
)


def single_inventory(value: object) -> str:
    """The desired state comes from one inventory file or folder: accept a string or a 1-item list."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, (list, tuple)):
        sources = [to_text(v) for v in value if v]
        if len(sources) == 1:
            return sources[0]
        raise AnsibleActionFail(
            f"inventory: Steward reads the desired state from one inventory source, got {len(sources)}: "
            f"{', '.join(sources) or 'none'}"
        )
    raise AnsibleActionFail(f"inventory must be a path (or a list holding one path), got {value!r}")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        state_dir = args["state_dir"]
        if not os.path.isabs(state_dir):
            raise AnsibleActionFail(f"state_dir must be an absolute path, got {state_dir!r}")
        inventory = os.path.abspath(single_inventory(args["inventory"]))
        if self._task.check_mode:
            result.update(changed=False, skipped=True, msg="check mode: no plan cycle (it would write actions)")
            return result
        try:
            from steward.app.errors import DesiredStateError
            from steward.app.plan import NoWorldState, confirming_hosts, plan_after_a_look
            from steward.app.settings import Settings
        except ImportError as exc:
            raise AnsibleActionFail(
                "homelab.steward.plan runs Steward's drift engine and needs the steward controller package "
                f"in the Python that runs ansible-playbook ({exc})"
            ) from exc

        settings = Settings(
            project_dir=Path(to_text(task_vars.get("playbook_dir") or os.getcwd())),
            inventory=Path(inventory),
            state_dir=Path(state_dir),
        )
        try:
            report = plan_after_a_look(settings)
        except NoWorldState as exc:  # never a fresh, empty state folder (no memory of open actions, storms)
            raise AnsibleActionFail(str(exc)) from None
        except DesiredStateError as exc:
            raise AnsibleActionFail(f"desired state ({inventory}): {exc}") from exc
        result.update(
            changed=bool(report.new_actions or report.expired),
            cycle_skipped=report.skipped,
            new_actions=report.new_actions,
            expired=report.expired,
            held=report.held,
            storm=report.storm,
            drifts=report.drifts,
            confirming=report.confirming,
            confirming_hosts=confirming_hosts(report),
            confirm_after=report.confirm_after,
            confirm_interval=report.confirm_interval,
        )
        if report.skipped:
            result["warnings"] = [f"plan cycle skipped: {report.reason}; last-known-good kept, no action written"]
        return result
