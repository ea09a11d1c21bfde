#!/usr/bin/python
# Copyright: Steward maintainers
# MIT License (see galaxy.yml)

# Ansible module layout: DOCUMENTATION/EXAMPLES/RETURN come before the imports (hence the E402 noqa).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: container_logs_info
short_description: Report one Docker container's exit state and its last log lines, read-only
version_added: 0.1.0
description:
  - Inspects one container of the node's Docker engine and reads its last log lines through the
    Engine API on a unix socket, for Steward's diagnosis of a pending action (docs/diagnosis.md).
  - Reports the state, exit code, the OOM-killed flag, the engine's error text, restart count and
    start/finish times, and the last O(lines) lines of stdout and stderr with their timestamps.
  - The values of the container's environment are scrubbed from the lines on the node, before they
    leave it (each becomes C([env:NAME])); only the variable names are returned. Short or plain
    values (under 4 characters, digits only, true/false...) and PATH, HOME, HOSTNAME, TERM, LANG,
    LANGUAGE, LC_*, PWD, SHLVL, TZ, USER and SHELL are not scrubbed.
  - Uses the Python standard library only, so it runs on any node with python3.
  - Never fails because of the engine or the container. An engine that cannot be asked is reported
    in RV(container_logs.status), a container that does not exist as V(not_found), a log driver that
    cannot be read in RV(container_logs.logs_error) with RV(container_logs.lines=null).
  - The task fails only for options it cannot use (a bad container name, a O(docker_host) that is
    not a C(unix://) URL, numbers out of range).
author:
  - Steward maintainers
options:
  name:
    description:
      - Name of the container (letters, digits, C(_), C(.) and C(-), starting with a letter or digit).
    type: str
    required: true
  docker_host:
    description:
      - URL of the Docker engine socket on the node. Only C(unix://) followed by an absolute path is supported.
    type: str
    default: unix:///var/run/docker.sock
  timeout:
    description:
      - Seconds to wait for each request to the engine (connect, send, each read).
    type: int
    default: 10
  lines:
    description:
      - How many of the newest log lines to return, from 1 to 500.
    type: int
    default: 50
  max_line_length:
    description:
      - Longer lines are cut to this many characters (the last one an ellipsis); at least 20.
    type: int
    default: 500
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The module only reads, so it behaves the same in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
notes:
  - At most 4 MiB of log output is read; beyond that the newest lines are missing and
    RV(container_logs.truncated) is V(true).
  - Two requests: C(GET /containers/NAME/json) and C(GET /containers/ID/logs?tail=N). Nothing is written.
seealso:
  - module: homelab.steward.docker_containers_info
    description: Every container of the node, without logs.
"""

EXAMPLES = r"""
---
- name: Read why a container stopped
  homelab.steward.container_logs_info:
    name: mosquitto
  register: look

- name: A lab node's own engine, the last 20 lines
  homelab.steward.container_logs_info:
    name: web
    docker_host: unix:///run/lab/saturn/docker.sock
    lines: 20
  check_mode: true
  register: look

- name: Say when the kernel killed it for memory
  ansible.builtin.debug:
    msg: "{{ look.container_logs.name }} was OOM-killed"
  when: look.container_logs.oom_killed | default(false)
"""

RETURN = r"""
container_logs:
  description: What the engine reported about the container, or why it could not be asked.
  returned: always
  type: dict
  contains:
    status:
      description:
        - V(ok) when the container was inspected (its logs may still be unreadable, see RV(container_logs.logs_error)).
        - V(not_found) when the engine has no container of that name.
        - V(engine_unreachable), V(permission_denied), V(api_error) as for M(homelab.steward.docker_containers_info).
      type: str
      returned: always
      choices: [ok, not_found, engine_unreachable, permission_denied, api_error]
      sample: ok
    error:
      description: Why the container could not be inspected; V(null) when RV(container_logs.status=ok).
      type: str
      returned: always
      sample: no container named web on this engine
    docker_host:
      description: The O(docker_host) that was asked.
      type: str
      returned: always
      sample: unix:///var/run/docker.sock
    name:
      description: The O(name) that was asked for.
      type: str
      returned: always
      sample: web
    state:
      description: Engine state of the container; V(null) unless RV(container_logs.status=ok).
      type: str
      returned: always
      sample: exited
    exit_code:
      description: Exit code of the last run (0 while running).
      type: int
      returned: always
      sample: 137
    oom_killed:
      description: Whether the kernel's OOM killer ended the last run (C(State.OOMKilled)).
      type: bool
      returned: always
      sample: false
    engine_error:
      description: The engine's own error text for the last start (C(State.Error)), V(null) when empty.
      type: str
      returned: always
      sample: "failed to create task for container: ... executable file not found"
    restart_count:
      description: How often the engine restarted the container.
      type: int
      returned: always
      sample: 3
    started_at:
      description: When the container was last started; V(null) if it never started.
      type: str
      returned: always
      sample: "2026-11-27T03:59:12.123456789Z"
    finished_at:
      description: When the last run ended; V(null) if it never ended.
      type: str
      returned: always
      sample: "2026-11-27T04:01:40.5Z"
    image:
      description: The image reference the container was created from (C(Config.Image)).
      type: str
      returned: always
      sample: eclipse-mosquitto:2
    health:
      description: Health check status; V(null) when the container has no health check.
      type: str
      returned: always
      sample: unhealthy
    env_names:
      description: The names of the container's environment variables (never their values).
      type: list
      elements: str
      returned: always
      sample: [PATH, MQTT_PASSWORD]
    env_values_scrubbed:
      description: How many environment values were replaced in the returned lines.
      type: int
      returned: always
      sample: 1
    lines:
      description:
        - The newest log lines, oldest first; V(null) when the logs could not be read.
      type: list
      elements: dict
      returned: always
      contains:
        at:
          description: The engine's timestamp of the line.
          type: str
          sample: "2026-11-27T04:01:40.123456789Z"
        stream:
          description: Where the program wrote it.
          type: str
          choices: [stdout, stderr]
          sample: stderr
        text:
          description: The line, environment values scrubbed, cut to O(max_line_length).
          type: str
          sample: "Error: address already in use"
    logs_error:
      description: Why the logs could not be read (for example the C(none) log driver); V(null) otherwise.
      type: str
      returned: always
      sample: null
    truncated:
      description: Whether the log output was larger than 4 MiB and was cut (the newest lines are then missing).
      type: bool
      returned: always
      sample: false
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.homelab.steward.plugins.module_utils._container_logs import (
    OPTIONS_SPEC,
    InvalidLogOptions,
    collect,
)

ARGUMENT_SPEC = dict(OPTIONS_SPEC)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        container_logs = collect(**module.params)
    except InvalidLogOptions as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(changed=False, container_logs=container_logs)


if __name__ == "__main__":
    main()
