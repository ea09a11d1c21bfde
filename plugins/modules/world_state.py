#!/usr/bin/python
# Copyright: Steward maintainers
# MIT License (see galaxy.yml)

# Ansible module layout: DOCUMENTATION/EXAMPLES/RETURN come before the imports (hence the E402 noqa).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: world_state
short_description: Record what was observed on one host as its world-state file
version_added: 0.1.0
description:
  - Writes C(<state_dir>/world/<host>.json), the actual state of one host that the drift engine reads.
  - The file is written atomically (temp file in the same folder, fsync, rename, fsync of the folder),
    so a reader never sees a half-written file. Missing folders are created.
  - 'The document always has exactly the keys C(schema) (V(1)), C(host), C(observed_at), C(cycle),
    C(reachable), C(error) and C(checks), with C(observed_at) in UTC, seconds precision, for example
    C(2026-11-27T04:00:00Z).'
  - For an unreachable host (O(reachable=false)) C(checks) is always written as an empty dict;
    nothing could be looked at, which is never the same as "nothing is running".
  - 'Run it on the controller, for example with C(delegate_to: localhost).'
author:
  - Steward maintainers
options:
  state_dir:
    description:
      - Steward's runtime state folder, as an absolute path. The file goes to its C(world/) subfolder.
    type: path
    required: true
  host:
    description:
      - Inventory name of the observed host; it becomes the file name.
      - Must not be empty, contain C(/) or start with C(.).
    type: str
    required: true
  cycle:
    description:
      - ID of the observe cycle this observation belongs to.
      - Defaults to the observation time in compact form, for example C(20261127T040000Z).
    type: str
  reachable:
    description:
      - Whether Ansible could reach the host at all.
      - When V(false), O(checks) is ignored and C(checks) is written as C({}).
    type: bool
    default: true
  error:
    description:
      - Why the host could not be observed, typically Ansible's unreachable message.
      - Written as V(null) when omitted and the host is reachable.
    type: str
  checks:
    description:
      - One entry per stability check, keyed by the check's name.
      - For example C(docker) holds the RV(homelab.steward.docker_containers_info#module:docker) dict.
    type: dict
    default: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: In check mode nothing is written and RV(changed=true) is reported.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
notes:
  - Every run writes a new observation (C(observed_at) moves on), so the module always reports a change.
seealso:
  - module: homelab.steward.docker_containers_info
"""

EXAMPLES = r"""
---
- name: Record what the docker check saw
  homelab.steward.world_state:
    state_dir: /opt/homelab
    host: "{{ inventory_hostname }}"
    cycle: "{{ steward_cycle_id }}"
    checks:
      docker: "{{ docker_health_result.docker }}"
  delegate_to: localhost

- name: Record that the host could not be reached
  homelab.steward.world_state:
    state_dir: /opt/homelab
    host: "{{ inventory_hostname }}"
    cycle: "{{ steward_cycle_id }}"
    reachable: false
    error: "{{ docker_health_result.msg }}"
  delegate_to: localhost
"""

RETURN = r"""
path:
  description: The world-state file that was written (or would be written in check mode).
  returned: always
  type: str
  sample: /opt/homelab/world/saturn.json
world:
  description: The document that was written.
  returned: always
  type: dict
  sample:
    schema: 1
    host: saturn
    observed_at: "2026-11-27T04:00:00Z"
    cycle: 20261127T040000Z
    reachable: false
    error: "Failed to connect to the host via ssh: ssh: connect to host 198.18.0.11 port 22: Connection timed out"
    checks: {}
"""

import os  # noqa: E402
import traceback  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.homelab.steward.plugins.module_utils._atomic import atomic_write_json  # noqa: E402

SCHEMA_VERSION = 1
# Not datetime.UTC: that needs Python 3.11, and modules must import on older pythons too.
UTC = timezone.utc  # noqa: UP017

ARGUMENT_SPEC = dict(
    state_dir=dict(type="path", required=True),
    host=dict(type="str", required=True),
    cycle=dict(type="str"),
    reachable=dict(type="bool", default=True),
    error=dict(type="str"),
    checks=dict(type="dict", default={}),
)


class InvalidHostName(ValueError):
    pass


def check_host_name(host: str) -> None:
    """A host name becomes a file name: refuse anything that could leave world/ or hide."""
    if not host:
        raise InvalidHostName("host must not be empty")
    if "/" in host or "\0" in host:
        raise InvalidHostName(f"host {host!r} must not contain '/' or NUL: it becomes a file name")
    if host.startswith("."):
        raise InvalidHostName(f"host {host!r} must not start with '.': it becomes a file name")


def build_world(
    host: str,
    now: datetime,
    cycle: str | None,
    reachable: bool,
    error: str | None,
    checks: dict,
) -> dict:
    """The world-state document, schema 1."""
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


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    try:
        check_host_name(p["host"])
    except InvalidHostName as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    if not os.path.isabs(p["state_dir"]):
        module.fail_json(msg=f"state_dir must be an absolute path, got {p['state_dir']!r}")
    if not p["reachable"] and p["checks"]:
        module.warn(f"host {p['host']} is unreachable: its checks are not recorded")

    world = build_world(p["host"], datetime.now(UTC), p["cycle"], p["reachable"], p["error"], p["checks"])
    world_dir = os.path.join(p["state_dir"], "world")
    path = os.path.join(world_dir, p["host"] + ".json")
    if not module.check_mode:
        try:
            os.makedirs(world_dir, exist_ok=True)
            atomic_write_json(path, world)
        except OSError as exc:
            module.fail_json(msg=f"cannot write {path}: {exc}", path=path, exception=traceback.format_exc())
    module.exit_json(changed=True, path=path, world=world)


if __name__ == "__main__":
    main()
