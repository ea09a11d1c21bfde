#!/usr/bin/python
# Copyright: Steward maintainers
# MIT License (see galaxy.yml)

# Ansible module layout: DOCUMENTATION/EXAMPLES/RETURN come before the imports (pyproject.toml ignores E402 here).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_containers_info
short_description: Report every Docker container of a node, or why they could not be listed
version_added: 0.1.0
description:
  - Lists all containers of the node's Docker engine (running or not) through the Engine API on
    a unix socket and inspects each one for its state, health, image, restart count and compose project.
  - Uses the Python standard library only, so it runs on any node with python3 (no C(requests),
    no Docker SDK).
  - Never fails because of the engine. A missing socket, a refused or timed-out connection,
    a permission problem or an API error is reported in RV(docker.status) with RV(docker.containers=null),
    so that "could not look" is never mistaken for "no containers".
  - The task fails only for a O(docker_host) that is not a C(unix://) URL.
author:
  - Steward maintainers
options:
  docker_host:
    description:
      - URL of the Docker engine socket on the node. Only C(unix://) followed by an absolute path is supported.
    type: str
    default: unix:///var/run/docker.sock
  timeout:
    description:
      - Seconds to wait for each request to the engine (connect, send, each read).
      - Listing and inspecting N containers makes N+1 requests on one connection.
    type: int
    default: 10
  compose:
    description:
      - Also report whether Docker Compose v2 (2.18 or newer) is installed as a docker CLI plugin on the
        node, and its version (RV(docker.compose)). Steward asks for it on hosts with Compose projects.
    type: bool
    default: false
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
  - The API path is unversioned, so the engine answers with its own default API version.
  - Containers are sorted by name. A container removed between the listing and its inspect is left out.
seealso:
  - module: homelab.steward.node_observe
    description: Runs this check together with the other checks in one round trip and records the world state.
  - module: community.docker.docker_host_info
    description: The full-featured alternative; needs the C(requests) library on the node.
"""

EXAMPLES = r"""
---
- name: Look at the containers of the default engine
  homelab.steward.docker_containers_info:
  register: docker_info

- name: Look at a lab node's own engine with a short timeout
  homelab.steward.docker_containers_info:
    docker_host: unix:///run/lab/saturn/docker.sock
    timeout: 3
  register: docker_info

- name: Show unhealthy containers, but only if the engine could be asked
  ansible.builtin.debug:
    msg: "{{ docker_info.docker.containers | selectattr('health', 'equalto', 'unhealthy') | map(attribute='name') }}"
  when: docker_info.docker.status == 'ok'
"""

RETURN = r"""
docker:
  description: What the engine reported, or why it could not be asked.
  returned: always
  type: dict
  contains:
    status:
      description:
        - V(ok) when the containers were listed.
        - V(engine_unreachable) when the socket does not exist, refuses the connection or times out.
        - V(permission_denied) when the socket may not be opened by the remote user.
        - V(api_error) when the engine answered with an HTTP error or with unparsable JSON.
      type: str
      returned: always
      choices: [ok, engine_unreachable, permission_denied, api_error]
      sample: ok
    error:
      description: Why the containers could not be listed; V(null) when RV(docker.status=ok).
      type: str
      returned: always
      sample: Docker socket /var/run/docker.sock does not exist
    compose:
      description:
        - Only when O(compose=true). V(ok), V(missing) (no docker-compose in a cli-plugins folder),
          V(too_old) (older than 2.18) or V(error) (it did not say its version), with the version found.
      type: dict
      returned: when O(compose=true) and RV(docker.status=ok)
      sample: {status: ok, version: 2.40.3, error: null}
    docker_host:
      description: The O(docker_host) that was asked.
      type: str
      returned: always
      sample: unix:///var/run/docker.sock
    containers:
      description:
        - All containers, running or not, sorted by name.
        - V(null) unless RV(docker.status=ok); an engine without containers gives an empty list.
      type: list
      elements: dict
      returned: always
      contains:
        name:
          description: Container name without the leading slash.
          type: str
          sample: mosquitto
        id:
          description: The first 12 characters of the container ID.
          type: str
          sample: 3f4e5d6c7b8a
        state:
          description: Engine state of the container.
          type: str
          sample: running
          choices: [created, running, paused, restarting, removing, exited, dead]
        health:
          description: Health check status; V(null) when the container has no health check.
          type: str
          sample: healthy
          choices: [starting, healthy, unhealthy]
        image:
          description: The image reference the container was created from (C(Config.Image)).
          type: str
          sample: eclipse-mosquitto:2
        image_id:
          description: The ID of the image the container runs.
          type: str
          sample: sha256:4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b
        restart_count:
          description: How often the engine restarted the container (C(RestartCount)).
          type: int
          sample: 0
        started_at:
          description: When the container was last started; V(null) if it never started.
          type: str
          sample: "2026-11-27T03:59:12.123456789Z"
        exit_code:
          description: Exit code of the last run (0 while running).
          type: int
          sample: 0
        compose_project:
          description: The C(com.docker.compose.project) label, V(null) when absent.
          type: str
          sample: home
        compose_service:
          description:
            - The C(com.docker.compose.service) label, V(null) when absent and for a C(docker compose run) one-off.
          type: str
          sample: broker
        config_hash:
          description:
            - The C(com.docker.compose.config-hash) label (the hash of the service's configuration Compose
              created the container from), V(null) when absent.
          type: str
          sample: 3a5f0d1e6c0b7c2e9d8f4a1b2c3d4e5f60718293a4b5c6d7e8f9012345678901
        labels:
          description:
            - The container's own labels, without Compose's C(com.docker.compose.*) ones and without
              the labels its image sets with the same value.
            - A value that is not printable text (a control character, a template marker, over 4096
              characters) is V(null).
          type: dict
          sample: {owner: me}
        env:
          description:
            - The B(names) of the container's own environment variables (not those its image sets with
              the same value), sorted. Values never leave the node.
          type: list
          elements: str
          sample: [SECRET, TZ]
        mounts:
          description: The container's mounts, sorted by destination.
          type: list
          elements: dict
          sample: [{type: bind, source: /srv/www, destination: /var/www, read_only: true}]
          contains:
            type:
              description: C(bind), C(volume), C(tmpfs) ...
              type: str
            source:
              description: The host path of a bind mount, the name of a volume; V(null) for a tmpfs.
              type: str
            destination:
              description: The path inside the container.
              type: str
            read_only:
              description: Whether it is mounted read-only.
              type: bool
        ports:
          description: Published ports as configured (C(HostConfig.PortBindings)), also while stopped.
          type: list
          elements: dict
          sample: [{port: 80/tcp, host_ip: 127.0.0.1, host_port: 8080}]
          contains:
            port:
              description: The container port and protocol.
              type: str
            host_ip:
              description: The host address it is published on; V(null) for all.
              type: str
            host_port:
              description: The host port; V(null) when Docker picks one.
              type: int
        networks:
          description: The names of the networks the container is attached to, sorted.
          type: list
          elements: str
          sample: [bridge]
        settings:
          description:
            - The names of the container's other settings that are neither Docker's defaults nor its
              image's (C(devices), C(privileged), C(restart_policy), C(command) ...), that is what a recreate
              from an inventory entry that does not name them would lose. Values are not reported.
          type: list
          elements: str
          sample: [devices, restart_policy]
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.homelab.steward.plugins.module_utils._check_docker import (
    OPTIONS_SPEC,
    InvalidDockerOptions,
    collect,
)

# The options are collect()'s keyword arguments; homelab.steward.node_observe takes the same ones.
ARGUMENT_SPEC = dict(OPTIONS_SPEC)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        docker = collect(**module.params)
    except InvalidDockerOptions as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(changed=False, docker=docker)


if __name__ == "__main__":
    main()
