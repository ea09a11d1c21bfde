# Copyright: Steward maintainers
# MIT License (see galaxy.yml)
"""Docker check: every container of the node's Docker engine, or why the engine could not be asked.

Private to homelab.steward. Runs on the node, so it uses the standard library only (through
:mod:`._docker_api`, a read-only Engine API client on a unix socket).

:func:`collect` never raises for what it observes: a missing socket, a refused or timed-out
connection, a permission problem or an API error is reported in ``status`` with
``containers: null``, so that "could not look" is never mistaken for "no containers". Only
options the check cannot use at all raise, as :class:`InvalidDockerOptions` (a ``ValueError``):
a ``docker_host`` that is not ``unix:///absolute/path`` or a timeout that is not a positive
number. That is a configuration mistake, not something observed on the node.

Result::

    {"status": "ok" | "engine_unreachable" | "permission_denied" | "api_error",
     "error": None | str,
     "docker_host": "unix:///var/run/docker.sock",
     "compose": None | {"status": "ok" | "missing" | "too_old" | "error", "version": str | None,
                        "error": str | None},   (only when asked: compose=True)
     "containers": [ {name, id, state, health, image, image_id, restart_count,
                      started_at, exit_code, compose_project, compose_service, config_hash,
                      labels, env (names only), mounts, ports, networks}, ... ] | None}
"""

from __future__ import annotations

import os
import re
import subprocess

from ansible_collections.homelab.steward.plugins.module_utils._docker_api import (
    DEFAULT_DOCKER_HOST,
    DEFAULT_TIMEOUT,
    DockerError,
    InvalidDockerHost,
    list_containers,
    socket_path_from_host,
)

# The keyword arguments of collect(), as an Ansible argument_spec: the options of
# homelab.steward.docker_containers_info and of the `docker` entry of homelab.steward.node_observe.
OPTIONS_SPEC = dict(
    docker_host=dict(type="str", default=DEFAULT_DOCKER_HOST),
    timeout=dict(type="int", default=DEFAULT_TIMEOUT),
    compose=dict(type="bool", default=False),
)

# Where the docker CLI looks for plugins (cli/cli-plugins/manager: the user's, then the system's).
PLUGIN_DIRS = (
    "~/.docker/cli-plugins",
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)
# community.docker.docker_compose_v2 needs Compose 2.18.0 or newer.
MIN_COMPOSE = (2, 18, 0)
_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


class InvalidDockerOptions(ValueError):
    """Options the docker check cannot use (not something observed on the node)."""


def validate(docker_host: str = DEFAULT_DOCKER_HOST, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Raise InvalidDockerOptions for a docker_host or timeout the check cannot use."""
    if not isinstance(docker_host, str):
        raise InvalidDockerOptions(f"docker_host must be a string, got {docker_host!r}")
    try:
        socket_path_from_host(docker_host)
    except InvalidDockerHost as exc:
        raise InvalidDockerOptions(str(exc)) from exc
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise InvalidDockerOptions(f"timeout must be a positive number of seconds, got {timeout!r}")


def compose_plugin(timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Whether Docker Compose v2 (2.18 or newer) is installed as a docker CLI plugin, and its version."""
    config = os.environ.get("DOCKER_CONFIG")
    dirs = ((config + "/cli-plugins",) if config else ()) + PLUGIN_DIRS
    for folder in dirs:
        path = os.path.join(os.path.expanduser(folder), "docker-compose")
        if not os.access(path, os.X_OK):
            continue
        try:
            done = subprocess.run(
                [path, "version", "--short"], capture_output=True, text=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return {"status": "error", "version": None, "error": f"{path} version: {type(exc).__name__}"}
        found = _VERSION.match(done.stdout.strip())
        if done.returncode != 0 or not found:
            return {
                "status": "error",
                "version": None,
                "error": f"{path} version gave no version (exit {done.returncode})",
            }
        version = ".".join(found.groups())
        if tuple(int(n) for n in found.groups()) < MIN_COMPOSE:
            return {"status": "too_old", "version": version, "error": f"compose plugin {version} is older than 2.18"}
        return {"status": "ok", "version": version, "error": None}
    return {
        "status": "missing",
        "version": None,
        "error": "no docker compose plugin (docker-compose in a cli-plugins folder)",
    }


def collect(docker_host: str = DEFAULT_DOCKER_HOST, timeout: float = DEFAULT_TIMEOUT, compose: bool = False) -> dict:
    """List and inspect every container of the engine at ``docker_host`` (see the module docstring).

    ``timeout`` bounds each request (connect, send, each read); N containers take N+1 requests
    on one keep-alive connection.
    """
    validate(docker_host, timeout)
    try:
        containers = list_containers(docker_host, timeout)
    except DockerError as exc:
        return {"status": exc.status, "error": str(exc), "docker_host": docker_host, "containers": None}
    result = {"status": "ok", "error": None, "docker_host": docker_host, "containers": containers}
    if compose:  # asked only for a host with Compose projects: one subprocess
        result["compose"] = compose_plugin(timeout)
    return result
