# Copyright: Steward maintainers
# MIT License (see galaxy.yml)
"""homelab.steward.notify_pending: announce a pending action, from the signed ledger, templating nothing.

Why an action plugin and not tasks: ansible-rulebook writes the event into the extra vars of the
playbook it runs, and Ansible treats extra vars as trusted templates - *any* expression that
reads ``ansible_eda.event.x`` renders whatever template ``x`` holds, as root, on the controller.
This plugin takes the raw event from ``task_vars`` without templating it, keeps nothing of it
but the action id (checked against the queue's id pattern), and reads what it shows - host, drift
key, summary - from the ledger entry the engine wrote (``<state>/engine/ledger/<id>.json``).
What it prints is one inert line (control characters escaped); the ``notify.log`` line is JSON
(ASCII-escaped), appended with one ``write`` through ``O_APPEND|O_NOFOLLOW``.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

ARGUMENT_SPEC = dict(state_dir=dict(type="str", required=True))
# steward.state.actions.ID_RE: the same pattern every queue operation checks
ACTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,150}$")
FOLDERS = ("pending", "approved", "running", "done", "failed", "rejected", "expired", "quarantine")
MAX_LEDGER_BYTES = 1024 * 1024
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u0085\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _fallback_terminal(value: object) -> str:
    text = value if isinstance(value, str) else str(value)

    def esc(m: re.Match[str]) -> str:
        ch = m.group(0)
        return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) <= 0xFF else f"\\u{ord(ch):04x}")

    return _CONTROL.sub(esc, text)


try:
    from steward.core.inert import terminal
except ImportError:  # the collection without the controller package: the same rule
    terminal = _fallback_terminal


def plain(value: Any) -> str | None:
    """A plain (untagged) str copy of a string, else None: nothing of the event keeps a template tag."""
    if not isinstance(value, str):
        return None
    return "".join(value)


def action_id(task_vars: dict[str, Any]) -> str:
    """The action id of the event in the raw extra vars ``ansible_eda.event.action``, checked."""
    eda = task_vars.get("ansible_eda")
    event = eda.get("event") if isinstance(eda, dict) else None
    if not isinstance(event, dict):
        raise AnsibleActionFail("no ansible_eda.event: run this from the rulebook, or give -e with an event")
    value = plain(event.get("action"))
    if value is None or not ACTION_ID.fullmatch(value) or ".." in value:
        raise AnsibleActionFail(f"the event's action is not an action id: {terminal(repr(event.get('action')))[:200]}")
    return value


def read_ledger(state_dir: str, ident: str) -> dict[str, Any] | None:
    path = os.path.join(state_dir, "engine", "ledger", f"{ident}.json")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        data = os.read(fd, MAX_LEDGER_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_LEDGER_BYTES:
        return None
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and doc.get("id") == ident else None


def folder_of(state_dir: str, ident: str) -> str | None:
    for folder in FOLDERS:
        if os.path.lexists(os.path.join(state_dir, "actions", folder, f"{ident}.yml")):
            return folder
    return None


def append_line(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


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
        if not isinstance(state_dir, str) or not os.path.isabs(state_dir):
            raise AnsibleActionFail(f"state_dir must be an absolute path, got {terminal(repr(state_dir))[:200]}")
        ident = action_id(task_vars)
        eda = task_vars["ansible_eda"]
        meta = eda["event"].get("meta")
        redis_id = plain(meta.get("redis_id")) if isinstance(meta, dict) else None
        if redis_id is not None and not re.match(r"^[0-9]{1,20}-[0-9]{1,20}$", redis_id):
            redis_id = None
        entry = read_ledger(state_dir, ident)
        if entry is None:
            result.update(
                changed=False,
                action=ident,
                known=False,
                msg=f"Action {ident}: no ledger entry in {terminal(state_dir)}: not an action the engine wrote; "
                "nothing announced",
            )
            result["warnings"] = [result["msg"]]
            return result
        host = entry.get("host") if isinstance(entry.get("host"), str) else None
        key = entry.get("key") if isinstance(entry.get("key"), str) else None
        summary = entry.get("summary") if isinstance(entry.get("summary"), str) else None
        folder = folder_of(state_dir, ident)
        state = "waits for approval" if folder == "pending" else f"is in {folder or 'no queue folder'}/"
        msg = (
            f"Action {ident} for {terminal(host or '?')} {state}: {terminal(summary or '')} "
            f"(steward show {ident}; steward approve {ident})"
        )
        line = {
            "notified_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "action": ident,
            "host": host,
            "key": key,
            "summary": summary,
            "folder": folder,
            "redis_id": redis_id,
        }
        changed = False
        if self._task.check_mode:
            result["skipped_log"] = "check mode: notify.log not written"
        else:
            append_line(os.path.join(state_dir, "notify.log"), json.dumps(line, sort_keys=True) + "\n")
            changed = True
        result.update(changed=changed, action=ident, known=True, host=host, folder=folder, msg=msg)
        return result
