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

import contextlib
import json
import os
import re
import subprocess
import tempfile

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
# The plugin's version, kept on the node per binary (path, inode, size, mtime, ctime): starting the
# 60 MB Go binary costs ~50 ms of a shared CPU per observation; a cached answer runs it once per
# upgrade. Best effort: an unwritable or unreadable cache only means the binary runs every time.
CACHE_PATH = "~/.cache/steward/compose-plugin.json"
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


def _binary_key(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _cached_version(path: str, key: list[int]) -> str | None:
    try:
        with open(os.path.expanduser(CACHE_PATH), encoding="utf-8") as fh:
            entry = json.load(fh).get(path)
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(entry, dict) and entry.get("key") == key and isinstance(entry.get("version"), str):
        return entry["version"] if _VERSION.fullmatch(entry["version"]) else None
    return None


def _remember_version(path: str, key: list[int], version: str) -> None:
    cache = os.path.expanduser(CACHE_PATH)
    tmp = None
    try:
        os.makedirs(os.path.dirname(cache), mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".compose-plugin.", dir=os.path.dirname(cache))
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({path: {"key": key, "version": version}}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, cache)
    except OSError:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _judge(version: str) -> dict:
    if tuple(int(n) for n in version.split(".")) < MIN_COMPOSE:
        return {"status": "too_old", "version": version, "error": f"compose plugin {version} is older than 2.18"}
    return {"status": "ok", "version": version, "error": None}


def compose_plugin(timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Whether Docker Compose v2 (2.18 or newer) is installed as a docker CLI plugin, and its version.

    The first plugin found is asked ``version --short`` once per binary; the answer is kept in
    :data:`CACHE_PATH` keyed on the binary's inode, size and times, so a replaced binary is asked again.
    """
    config = os.environ.get("DOCKER_CONFIG")
    dirs = ((config + "/cli-plugins",) if config else ()) + PLUGIN_DIRS
    for folder in dirs:
        path = os.path.join(os.path.expanduser(folder), "docker-compose")
        if not os.access(path, os.X_OK):
            continue
        key = _binary_key(path)
        cached = _cached_version(path, key) if key else None
        if cached:
            return _judge(cached)
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
        if key and _binary_key(path) == key:  # not replaced while it ran
            _remember_version(path, key, version)
        return _judge(version)
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
