# Copyright: Steward maintainers
# MIT License (see galaxy.yml)
"""Controller side of homelab.steward.node_observe: one module run per host, world file written here.

The module runs every requested check on the node in a single round trip. This action then
writes ``<state_dir>/world/<host>.json`` itself, in the worker that already holds the result,
so observing a host costs one module run; there is no second task delegated to localhost.

Nothing about a host's state fails the task:

* unreachable (the connection failed) -> ``reachable: false``, Ansible's message, ``checks: {}``;
* the module itself failed on the node (no usable python, a crash) -> every requested check is
  ``check_failed`` with the message;
* otherwise the checks as the module reported them, each one validated first, field by field,
  with plugins/module_utils/_world_schema.py (the same code the controller's loader runs): a
  check with a value the schema does not allow becomes ``invalid_report`` ("could not look:
  invalid value from the node (field, escaped excerpt)") for this host only; the valid checks
  stay as they are. A ``checks`` that is not an object, or a report larger than
  ``MAX_REPORT_BYTES``, makes every requested check ``invalid_report``. A check the node
  reports but was not asked for is dropped; one it leaves out is ``invalid_report``.

So the world file (and the world document in the task result, which the executor judges on) is
always schema-valid: an unusable world file still means torn or corrupt, and one bad node is
that node's "could not look", never the whole fleet's. Text from the node or the connection
that goes into the document (unreachable and failure messages) is escaped into one line.

The task only fails for its own bad arguments or when the world file cannot be written.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure, AnsibleRuntimeError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.homelab.steward.plugins.module_utils import _world_schema as schema
from ansible_collections.homelab.steward.plugins.module_utils._atomic import atomic_write_json

display = Display()

MODULE = "homelab.steward.node_observe"
SCHEMA_VERSION = schema.SCHEMA_VERSION

# The module's options (plugins/modules/node_observe.py ARGUMENT_SPEC; a unit test keeps them equal).
ARGUMENT_SPEC = dict(
    checks=dict(type="dict", default={}),
    timeout=dict(type="int", default=60),
    state_dir=dict(type="path"),
    cycle=dict(type="str"),
)


class InvalidHostName(ValueError):
    pass


def check_host_name(host: str) -> None:
    """A host name becomes a file name: refuse anything that could leave world/ or hide."""
    if not host:
        raise InvalidHostName("the host name must not be empty")
    if "/" in host or "\0" in host:
        raise InvalidHostName(f"host {host!r} must not contain '/' or NUL: it becomes a file name")
    if host.startswith("."):
        raise InvalidHostName(f"host {host!r} must not start with '.': it becomes a file name")


def build_world(host: str, now: datetime, cycle: str | None, reachable: bool, error: str | None, checks: dict) -> dict:
    """The world-state document, schema 1 (the contract the drift engine's loader validates)."""
    now = now.astimezone(UTC)
    if not reachable and not error:
        error = "host unreachable"
    return {
        "schema": SCHEMA_VERSION,
        "host": host,
        "observed_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cycle": cycle if cycle else now.strftime("%Y%m%dT%H%M%SZ"),
        "reachable": reachable,
        "error": error if error else None,
        # Could not look -> no checks at all; never an empty container list.
        "checks": dict(checks) if reachable else {},
    }


def failure_message(module_result: dict) -> str:
    """One line saying why the module did not return checks (escaped: it is the node's text)."""
    msg = to_text(module_result.get("msg") or "the node_observe module failed")
    stderr = to_text(module_result.get("module_stderr") or "").strip()
    if stderr:
        msg = f"{msg}: {stderr.splitlines()[-1]}"
    return schema.inert(msg)


def validated_checks(requested: dict, reported: object) -> tuple[dict, list[str]]:
    """The checks to record for this host, each one schema-valid; and one line per refused check.

    ``reported`` is the module's ``checks`` as the node sent it (untrusted).
    """
    problems: list[str] = []
    areas = sorted(requested)
    if not isinstance(reported, dict):
        problem = schema.InvalidValue("checks", reported, "not an object")
        return {area: schema.invalid_report(problem) for area in areas}, [str(problem)]
    size = schema.report_size(reported)
    if size > schema.MAX_REPORT_BYTES:
        problem = schema.InvalidValue(
            "checks", reported, f"the report is {size} bytes, more than {schema.MAX_REPORT_BYTES}"
        )
        return {area: schema.invalid_report(problem) for area in areas}, [str(problem)]
    checks = {}
    for area in areas:
        if area not in reported:
            problem = schema.InvalidValue("checks." + schema.inert(area), None, "the node did not report this check")
        else:
            problem = schema.check_problem(area, reported[area])
        if problem is None:
            checks[area] = reported[area]
        else:
            checks[area] = schema.invalid_report(problem)
            problems.append(str(problem))
    extra = [k for k in reported if k not in requested]
    if extra:
        problems.append(f"checks: dropped {len(extra)} check(s) that were not requested")
    return checks, problems


def _elapsed(requested: dict, value: object) -> dict | None:
    """The module's per-check timings, if they are what they should be (else left out)."""
    if not isinstance(value, dict) or len(value) > len(requested) or not set(value) <= set(requested):
        return None
    for seconds in value.values():
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))):
            return None
    return value


STATE_MARKER = ".steward-state"


def _registry_path() -> str:
    """The per-user list of state folders Steward used (the twin of steward.state.folder.registry_path)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "steward", "state-folders.json")


def state_folder_problem(state_dir: str) -> str | None:
    """Why world files must not be written into state_dir: it moved away (known, no marker) or world/ is a link."""
    if os.path.islink(os.path.join(state_dir, "world")) or os.path.islink(state_dir):
        return f"{state_dir} (or its world/) is a symlink: refusing to write world files through it"
    if os.path.exists(os.path.join(state_dir, STATE_MARKER)):
        return None
    try:
        with open(_registry_path(), encoding="utf-8") as fh:
            known = json.load(fh).get("folders", {})
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(known, dict) and os.path.realpath(state_dir) in known:
        return (
            f"the state folder {state_dir} was in use and its marker is gone: it was moved or deleted; "
            "point STEWARD_STATE_DIR / steward_state_dir at the right one (or `steward init`); nothing was observed"
        )
    return None


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp

        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        host = to_text(task_vars.get("inventory_hostname") or "")
        try:
            check_host_name(host)
        except InvalidHostName as exc:
            raise AnsibleActionFail(str(exc)) from exc
        state_dir = args["state_dir"]
        if state_dir is not None and not os.path.isabs(state_dir):
            raise AnsibleActionFail(f"state_dir must be an absolute path, got {state_dir!r}")
        if state_dir is not None:
            problem = state_folder_problem(state_dir)
            if problem:
                raise AnsibleActionFail(problem)
        if args["cycle"] and schema.cycle_problem(args["cycle"]):
            raise AnsibleActionFail(f"cycle: {schema.cycle_problem(args['cycle'])}")
        if args["timeout"] <= 0:
            raise AnsibleActionFail(f"timeout must be a positive number of seconds, got {args['timeout']}")
        requested = args["checks"]
        result["changed"] = False
        if not requested:
            # Nothing to look at (every check switched off or left out by --tags): do not contact
            # the host and do not claim "reachable, no checks" in a world file.
            result.update(skipped=True, msg="no check requested for this host: nothing observed, nothing written")
            return result

        try:
            module_result = self._execute_module(
                module_name=MODULE,
                module_args={"checks": requested, "timeout": args["timeout"]},
                task_vars=task_vars,
            )
        except AnsibleConnectionFailure as exc:
            module_result = {"unreachable": True, "msg": to_text(exc)}
        except AnsibleRuntimeError as exc:
            # Ansible refuses to decode a module answer that is not valid UTF-8 (strings with
            # surrogates, MODULE_STRICT_UTF8_RESPONSE) and raises this very class; its subclasses
            # (a missing module, a template error, ...) are the controller's trouble: not caught.
            if type(exc) is not AnsibleRuntimeError:
                raise
            module_result = {"unreadable": to_text(exc)}
        now = datetime.now(UTC)

        if module_result.get("unreachable"):
            error = schema.inert(to_text(module_result.get("msg") or "host unreachable"))
            reachable, checks = False, {}
        elif "unreadable" in module_result:
            reachable, error = True, None
            problem = schema.InvalidValue("result", module_result["unreadable"], "Ansible could not decode the answer")
            checks = {area: schema.invalid_report(problem) for area in sorted(requested)}
            display.warning(f"{host}: unreadable answer from the node, recorded as invalid_report: {problem}")
        elif module_result.get("failed") or "checks" not in module_result:
            reachable, error = True, None
            why = failure_message(module_result)
            checks = {area: {"status": "check_failed", "error": why} for area in sorted(requested)}
            display.warning(f"{host}: the checks could not run on the node, recorded as check_failed: {why}")
        else:
            reachable, error = True, None
            checks, problems = validated_checks(requested, module_result["checks"])
            for problem in problems:
                display.warning(f"{host}: invalid report from the node, recorded as invalid_report: {problem}")

        world = build_world(host, now, args["cycle"], reachable, error, checks)
        result.update(world=world, reachable=reachable)
        elapsed = _elapsed(requested, module_result.get("elapsed"))
        if elapsed is not None:
            result["elapsed"] = elapsed
        if not reachable:
            result["msg"] = f"host unreachable, recorded as such: {error}"
        if state_dir is not None:
            path = os.path.join(state_dir, "world", host + ".json")
            result["path"] = path
            if not self._task.check_mode:
                try:
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    atomic_write_json(path, world)
                except OSError as exc:
                    raise AnsibleActionFail(f"cannot write the world file {path}: {exc}") from exc
        return result
