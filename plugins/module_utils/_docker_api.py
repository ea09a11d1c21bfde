# Copyright: Steward maintainers
# MIT License (see galaxy.yml)
"""A tiny, read-only Docker Engine API client over a unix socket.

Private to homelab.steward. Runs on the node, so it uses the standard library only
(a homelab node has python3 and little else; community.docker needs ``requests``).

Errors are typed so that callers can tell "could not look" apart from "looked and saw":

* :class:`EngineUnreachable` - the socket is missing, refuses connections, or times out;
* :class:`PermissionDenied` - the socket exists but we may not open it (EACCES/EPERM);
* :class:`ApiError` - the engine answered, but with a non-2xx status or unparsable JSON.

All three derive from :class:`DockerError`. A ``docker_host`` the client cannot use at all
(not ``unix://``) raises :class:`InvalidDockerHost` (a ``ValueError``): that is a
configuration mistake, not engine trouble.
"""

from __future__ import annotations

import errno
import http.client
import json
import re
import socket
from urllib.parse import quote

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
DEFAULT_TIMEOUT = 10

# Docker reports this for a container that never started.
_ZERO_TIME = "0001-01-01T00:00:00Z"
_COMPOSE_PROJECT_LABEL = "com.docker.compose.project"


class DockerError(Exception):
    """Base class for every engine problem; ``status`` is the value reported to the user."""

    status = "error"


class EngineUnreachable(DockerError):
    status = "engine_unreachable"


class PermissionDenied(DockerError):
    status = "permission_denied"


class ApiError(DockerError):
    status = "api_error"

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class InvalidDockerHost(ValueError):
    """``docker_host`` is not a ``unix://`` URL with an absolute path."""


def socket_path_from_host(docker_host: str) -> str:
    """Return the socket path of ``unix:///path/to/docker.sock``."""
    prefix = "unix://"
    if not docker_host.startswith(prefix):
        raise InvalidDockerHost(f"docker_host {docker_host!r} is not supported: only unix:///path/to/docker.sock is")
    path = docker_host[len(prefix) :]
    if not path.startswith("/"):
        raise InvalidDockerHost(f"docker_host {docker_host!r} must name an absolute socket path")
    return path


class UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTPConnection whose transport is an AF_UNIX stream socket."""

    def __init__(self, socket_path: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        # The host name only ends up in the Host header; Docker ignores it.
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _translate_os_error(exc: OSError, socket_path: str) -> DockerError:
    """Map a transport error to the typed exception a user should see."""
    # socket.timeout is an alias of TimeoutError only since Python 3.10; nodes may be older.
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return EngineUnreachable(f"timed out talking to the Docker engine at {socket_path}")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return PermissionDenied(f"permission denied opening the Docker socket {socket_path}")
    if exc.errno == errno.ENOENT:
        return EngineUnreachable(f"Docker socket {socket_path} does not exist")
    if exc.errno == errno.ECONNREFUSED:
        return EngineUnreachable(f"Docker engine refused the connection on {socket_path}")
    reason = exc.strerror or str(exc) or type(exc).__name__
    return EngineUnreachable(f"cannot talk to the Docker engine at {socket_path}: {reason}")


class DockerClient:
    """Read-only client; one connection is kept open and reused for all requests."""

    def __init__(self, docker_host: str = DEFAULT_DOCKER_HOST, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.docker_host = docker_host
        self.socket_path = socket_path_from_host(docker_host)
        self.timeout = timeout
        self._conn = UnixHTTPConnection(self.socket_path, timeout=timeout)
        self._reused = False

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> DockerClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _request(self, path: str) -> tuple[http.client.HTTPResponse, bytes]:
        self._conn.request("GET", path, headers={"Accept": "application/json"})
        response = self._conn.getresponse()
        body = response.read()
        self._reused = not response.will_close
        return response, body

    def get_json(self, path: str) -> tuple[int, object]:
        """GET ``path``; return ``(http_status, parsed_json)``.

        Raises EngineUnreachable / PermissionDenied for transport trouble and ApiError
        for a body that is not JSON. Non-2xx statuses are returned, not raised, so that
        callers can decide (a 404 on inspect only means the container just went away).
        """
        try:
            try:
                response, body = self._request(path)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                if not self._reused:
                    raise
                # The engine closed our idle keep-alive connection: one fresh attempt.
                self._conn.close()
                self._reused = False
                response, body = self._request(path)
        except OSError as exc:
            self._conn.close()
            raise _translate_os_error(exc, self.socket_path) from exc
        except http.client.HTTPException as exc:
            # RemoteDisconnected is both; it was handled above as an OSError.
            self._conn.close()
            raise ApiError(f"malformed HTTP response from the Docker engine on {path}: {exc!r}") from exc
        try:
            data = json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, ValueError) as exc:
            raise ApiError(
                f"Docker engine sent invalid JSON for {path} (HTTP {response.status})",
                http_status=response.status,
            ) from exc
        return response.status, data

    def get_ok(self, path: str) -> object:
        status, data = self.get_json(path)
        if not 200 <= status < 300:
            raise ApiError(_error_message(path, status, data), http_status=status)
        return data

    def containers(self) -> list[dict]:
        """List all containers (running or not) with the fields Steward reports, sorted by name."""
        listing = self.get_ok("/containers/json?all=1")
        if not isinstance(listing, list):
            raise ApiError("Docker engine answered /containers/json with something that is not a list")
        result = []
        images: dict[str, dict] = {}
        for entry in listing:
            if not isinstance(entry, dict) or not isinstance(entry.get("Id"), str):
                raise ApiError("Docker engine listed a container without an Id")
            path = f"/containers/{quote(entry['Id'], safe='')}/json"
            status, data = self.get_json(path)
            if status == 404:
                # Removed between the listing and the inspect: it is not there any more.
                continue
            if not 200 <= status < 300:
                raise ApiError(_error_message(path, status, data), http_status=status)
            if not isinstance(data, dict):
                raise ApiError(f"Docker engine answered {path} with something that is not an object")
            result.append(summarize(data, self._image_config(data.get("Image"), images)))
        result.sort(key=lambda c: (c["name"], c["id"]))
        return result

    def _image_config(self, image_id: object, seen: dict[str, dict]) -> dict:
        """The image's own Config (its env and labels), asked once per image; {} if it is gone."""
        if not isinstance(image_id, str) or not image_id:
            return {}
        if image_id not in seen:
            path = f"/images/{quote(image_id, safe='')}/json"
            status, data = self.get_json(path)
            config = data.get("Config") if 200 <= status < 300 and isinstance(data, dict) else None
            seen[image_id] = config if isinstance(config, dict) else {}
        return seen[image_id]


def _error_message(path: str, status: int, data: object) -> str:
    detail = data.get("message") if isinstance(data, dict) else None
    msg = f"Docker engine answered GET {path} with HTTP {status}"
    return f"{msg}: {detail}" if detail else msg


def summarize(inspect: dict, image_config: dict | None = None) -> dict:
    """Reduce one ``GET /containers/<id>/json`` document to Steward's container record.

    ``image_config`` is the ``Config`` of the container's image: env entries and labels the image
    sets (and the container did not change) are the image's, not the container's own config, and
    are left out. Environment variables are reported by **name only**: their values never leave
    the node. Compose's own labels (``com.docker.compose.*``) are reported as ``compose_project``,
    ``compose_service`` and ``config_hash``, not again under ``labels``.
    """
    state = inspect.get("State") or {}
    config = inspect.get("Config") or {}
    host_config = inspect.get("HostConfig") or {}
    labels = config.get("Labels") or {}
    health = state.get("Health")
    started_at = state.get("StartedAt") or None
    if started_at == _ZERO_TIME:
        started_at = None
    image_config = image_config or {}
    networks = (inspect.get("NetworkSettings") or {}).get("Networks") or {}
    if labels.get(_COMPOSE_ONEOFF_LABEL) == "True":
        labels = {k: v for k, v in labels.items() if k != _COMPOSE_SERVICE_LABEL}  # `compose run`: not the service
    return {
        "name": (inspect.get("Name") or "").lstrip("/"),
        "id": (inspect.get("Id") or "")[:12],
        "state": state.get("Status"),
        "health": health.get("Status") if isinstance(health, dict) else None,
        "image": config.get("Image"),
        "image_id": inspect.get("Image"),
        "restart_count": inspect.get("RestartCount", 0),
        "started_at": started_at,
        "exit_code": state.get("ExitCode"),
        "compose_project": labels.get(_COMPOSE_PROJECT_LABEL),
        "compose_service": labels.get(_COMPOSE_SERVICE_LABEL),
        "config_hash": labels.get(_COMPOSE_HASH_LABEL),
        "labels": _own_labels(labels, image_config.get("Labels") or {}),
        "env": _own_env_names(config.get("Env") or [], image_config.get("Env") or []),
        "mounts": _mounts(inspect.get("Mounts") or []),
        "ports": _ports(host_config.get("PortBindings") or {}),
        "networks": [n if _NAME.fullmatch(n) else UNREPORTABLE for n in sorted(networks)],
        "settings": settings(inspect, image_config),
    }


_COMPOSE_SERVICE_LABEL = "com.docker.compose.service"
_COMPOSE_ONEOFF_LABEL = "com.docker.compose.oneoff"
# A label key, env name, network name or mount source the world schema would refuse is reported
# as this marker (never dropped: what a recreate would lose must still show, and one odd container
# must not make the whole check unreadable).
UNREPORTABLE = "steward.unreportable"
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}")
_LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,254}")
_COMPOSE_HASH_LABEL = "com.docker.compose.config-hash"
_COMPOSE_LABEL_PREFIX = "com.docker.compose."
# A label value that could not pass the world schema's free-text rule (control characters, a
# template marker, over 4 096 characters) is reported as null: its key is what Steward needs.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff\ud800-\udfff]|\\{[{%#]")
_MAX_LABEL_VALUE = 4096


def _own_labels(labels: dict, image_labels: dict) -> dict:
    own = {}
    for key, value in labels.items():
        if not isinstance(key, str) or key.startswith(_COMPOSE_LABEL_PREFIX):
            continue
        if key in image_labels and image_labels[key] == value:
            continue
        ok = isinstance(value, str) and len(value) <= _MAX_LABEL_VALUE and not _UNPRINTABLE.search(value)
        own[key if _LABEL_KEY.fullmatch(key) else UNREPORTABLE] = value if ok else None
    return dict(sorted(own.items()))


def _own_env_names(env: list, image_env: list) -> list:
    inherited = set(e for e in image_env if isinstance(e, str))
    names = set()
    for entry in env:
        if isinstance(entry, str) and entry not in inherited:
            name = entry.split("=", 1)[0]
            names.add(name if _ENV_NAME.fullmatch(name) else "STEWARD_UNREPORTABLE")
    return sorted(names)


def _mounts(mounts: list) -> list:
    result = []
    for m in mounts:
        if not isinstance(m, dict):
            continue
        kind = m.get("Type")
        source = m.get("Name") if kind == "volume" else m.get("Source")
        if source and not (_NAME.fullmatch(source) if kind == "volume" else str(source).startswith("/")):
            source = UNREPORTABLE if kind == "volume" else "/" + UNREPORTABLE
        result.append(
            {
                "type": kind,
                "source": source or None,
                "destination": m.get("Destination"),
                "read_only": m.get("RW") is False,
            }
        )
    result.sort(key=lambda m: str(m["destination"]))
    return result


def settings(inspect: dict, image_config: dict) -> list:
    """The names of the other settings a recreate from the inventory would lose: the ones that are
    not Docker's defaults nor the image's (their values are not reported, only that they are set)."""
    config = inspect.get("Config") or {}
    host = inspect.get("HostConfig") or {}
    short_id = str(inspect.get("Id") or "")[:12]
    name = str(inspect.get("Name") or "").lstrip("/")
    found = set()
    for setting, value in (
        ("cap_add", host.get("CapAdd")),
        ("cap_drop", host.get("CapDrop")),
        ("devices", host.get("Devices")),
        ("dns", host.get("Dns") or host.get("DnsSearch") or host.get("DnsOptions")),
        ("extra_hosts", host.get("ExtraHosts")),
        ("group_add", host.get("GroupAdd")),
        ("privileged", host.get("Privileged")),
        ("read_only", host.get("ReadonlyRootfs")),
        ("security_opt", host.get("SecurityOpt")),
        ("sysctls", host.get("Sysctls")),
        ("tmpfs", host.get("Tmpfs")),
        ("ulimits", host.get("Ulimits")),
        ("init", host.get("Init")),
        ("memory_limits", host.get("Memory") or host.get("MemoryReservation") or (host.get("MemorySwap") or 0) > 0),
        ("cpu_limits", host.get("NanoCpus") or host.get("CpuShares") or host.get("CpusetCpus") or host.get("CpuQuota")),
        ("pid_mode", host.get("PidMode")),
        ("ipc_mode", host.get("IpcMode") not in (None, "", "private", "shareable")),
        ("shm_size", host.get("ShmSize") not in (None, 0, 67108864)),
        ("log_driver", ((host.get("LogConfig") or {}).get("Type") or "json-file") != "json-file"),
        ("restart_policy", ((host.get("RestartPolicy") or {}).get("Name") or "no") != "no"),
        ("hostname", config.get("Hostname") not in (None, "", short_id) or bool(config.get("Domainname"))),
    ):
        if value:
            found.add(setting)
    for setting, key in (("command", "Cmd"), ("entrypoint", "Entrypoint"), ("user", "User"),
                         ("working_dir", "WorkingDir"), ("healthcheck", "Healthcheck")):  # fmt: skip
        if config.get(key) and config.get(key) != image_config.get(key):
            found.add(setting)
    for net in ((inspect.get("NetworkSettings") or {}).get("Networks") or {}).values():
        if not isinstance(net, dict):
            continue
        if set(net.get("Aliases") or ()) - {short_id, name}:
            found.add("network_aliases")
        ipam = net.get("IPAMConfig") or {}
        if ipam.get("IPv4Address") or ipam.get("IPv6Address"):
            found.add("static_ip")
    return sorted(found)


def _ports(bindings: dict) -> list:
    """Published ports as configured (HostConfig.PortBindings: also known while the container is stopped)."""
    result = []
    for port, binds in bindings.items():
        for bind in binds or [{}]:
            bind = bind if isinstance(bind, dict) else {}
            host_port = bind.get("HostPort") or None
            result.append(
                {
                    "port": port,
                    "host_ip": bind.get("HostIp") or None,
                    "host_port": int(host_port) if isinstance(host_port, str) and host_port.isdigit() else None,
                }
            )
    result.sort(key=lambda p: (str(p["port"]), str(p["host_ip"]), p["host_port"] or 0))
    return result


def list_containers(docker_host: str = DEFAULT_DOCKER_HOST, timeout: float = DEFAULT_TIMEOUT) -> list[dict]:
    """Every container of the engine at ``docker_host``; see :meth:`DockerClient.containers`."""
    with DockerClient(docker_host, timeout) as client:
        return client.containers()
