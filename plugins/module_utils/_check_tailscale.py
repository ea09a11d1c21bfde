# Copyright: Steward maintainers
# MIT License (see galaxy.yml)
"""Tailscale check: ask tailscaled's LocalAPI for its status, over its unix socket.

Private to homelab.steward. Runs on the node, so it uses the standard library only; it does
not need the ``tailscale`` CLI either, only the daemon's socket. It makes the request the CLI
makes for ``tailscale status --json``: ``GET /localapi/v0/status`` with the Host header
``local-tailscaled.sock`` (tailscaled answers 403 to any other Host, and to requests that
carry a Referer or an Origin).

:func:`collect` never raises for what it observes: every outcome is a ``status``

* ``ok`` - tailscaled answered with its status (whatever its backend state is);
* ``absent`` - the socket does not exist: tailscaled is not installed or not running;
* ``unreachable`` - the socket exists but nothing answers (refused, not a socket, timed out);
* ``permission_denied`` - the socket may not be opened, or tailscaled answered 401/403;
* ``api_error`` - tailscaled answered with another HTTP error, or with something that is
  not an ``ipnstate.Status`` JSON object.

Only options that cannot work at all (a relative socket path, a timeout <= 0, expected peers
that are not a list of names) raise :class:`InvalidOption`: that is a configuration mistake.
"""

from __future__ import annotations

import errno
import http.client
import json
import os
import socket as _socket
import stat
from typing import Any

DEFAULT_SOCKET = "/var/run/tailscale/tailscaled.sock"
DEFAULT_TIMEOUT = 5.0

# The CLI's client (client/local) always talks to http://local-tailscaled.sock/...; the daemon
# checks the Host header (ipn/localapi: Handler.validHost).
LOCALAPI_HOST = "local-tailscaled.sock"
STATUS_PATH = "/localapi/v0/status"

# Go's zero time.Time, which tailscaled reports for "never" (e.g. LastSeen of an online peer).
_ZERO_TIME = "0001-01-01T00:00:00Z"
# At most this much of an error body goes into a message.
_MAX_ERROR_BODY = 200

# collect()'s keyword arguments as an Ansible argument_spec: the options of the standalone
# module homelab.steward.tailscale_status_info and of the tailscale check of node_observe.
OPTIONS_SPEC: dict[str, dict[str, Any]] = dict(
    socket=dict(type="str", default=DEFAULT_SOCKET),
    expected_peers=dict(type="list", elements="str", default=[]),
    timeout=dict(type="float", default=DEFAULT_TIMEOUT),
)

# Keys of the dict collect() returns, in order; everything but status/error/socket is None
# unless status is "ok".
RESULT_KEYS = (
    "status",
    "error",
    "socket",
    "backend_state",
    "tailnet",
    "self",
    "health",
    "peers",
    "peer_count",
)
PEER_KEYS = ("name", "found", "online", "ips", "last_seen", "dns_name")
SELF_KEYS = ("hostname", "dns_name", "ips", "online")


class InvalidOption(ValueError):
    """An option collect() cannot work with at all."""


class _CouldNotLook(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


class _LocalAPIConnection(http.client.HTTPConnection):
    """HTTP over tailscaled's AF_UNIX socket; the host name only ends up in the Host header."""

    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__(LOCALAPI_HOST, timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _validate(socket: object, expected_peers: object, timeout: object) -> tuple[str, list[str], float]:
    if not isinstance(socket, str) or not socket.startswith("/"):
        raise InvalidOption(f"socket must be an absolute path to tailscaled's unix socket, got {socket!r}")
    if expected_peers is None:
        expected_peers = []
    if not isinstance(expected_peers, (list, tuple)) or not all(isinstance(p, str) for p in expected_peers):
        raise InvalidOption(f"expected_peers must be a list of peer names, got {expected_peers!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise InvalidOption(f"timeout must be a positive number of seconds, got {timeout!r}")
    names: list[str] = []
    seen: set[str] = set()
    for raw in expected_peers:
        name = raw.strip()
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
    return socket, names, float(timeout)


def _transport_problem(exc: OSError, socket_path: str, timeout: float) -> _CouldNotLook:
    """Map a connect/send/receive error to what a user should read."""
    # socket.timeout is an alias of TimeoutError only since Python 3.10; nodes may be older.
    if isinstance(exc, (TimeoutError, _socket.timeout)):
        return _CouldNotLook(
            "unreachable", f"timed out after {timeout:g} s waiting for tailscaled to answer on {socket_path}"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return _CouldNotLook(
            "permission_denied",
            f"permission denied opening the tailscaled socket {socket_path} (run as root or as the tailscale operator)",
        )
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return _CouldNotLook(
            "absent", f"tailscaled socket {socket_path} does not exist: tailscaled is not installed or not running"
        )
    if exc.errno == errno.ECONNREFUSED:
        try:
            is_socket = stat.S_ISSOCK(os.stat(socket_path).st_mode)
        except OSError:
            is_socket = True
        if not is_socket:
            return _CouldNotLook("unreachable", f"{socket_path} exists but is not a unix socket")
        return _CouldNotLook(
            "unreachable",
            f"nothing is listening on the tailscaled socket {socket_path} (connection refused): "
            "tailscaled is probably not running and left its socket behind",
        )
    if isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
        return _CouldNotLook("unreachable", f"tailscaled closed the connection on {socket_path} without answering")
    reason = exc.strerror or str(exc) or type(exc).__name__
    return _CouldNotLook("unreachable", f"cannot talk to tailscaled on {socket_path}: {reason}")


def _body_text(body: bytes) -> str:
    """The start of an error body as one line (tailscaled's errors are short plain text or JSON)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        text = data["error"]
    text = " ".join(text.split())
    return text[:_MAX_ERROR_BODY] + ("..." if len(text) > _MAX_ERROR_BODY else "")


def fetch_status(socket_path: str, timeout: float) -> dict[str, Any]:
    """``GET /localapi/v0/status``: the daemon's ipnstate.Status as a dict, or _CouldNotLook."""
    conn = _LocalAPIConnection(socket_path, timeout)
    try:
        try:
            conn.request("GET", STATUS_PATH, headers={"Accept": "application/json"})
            response = conn.getresponse()
            body = response.read()
        except OSError as exc:
            raise _transport_problem(exc, socket_path, timeout) from exc
        except http.client.HTTPException as exc:
            raise _CouldNotLook(
                "api_error", f"tailscaled sent a malformed HTTP response on {socket_path}: {exc!r}"
            ) from exc
    finally:
        conn.close()

    where = f"GET {STATUS_PATH} on {socket_path}"
    if response.status in (401, 403):
        detail = _body_text(body)
        raise _CouldNotLook(
            "permission_denied",
            f"tailscaled refused {where} with HTTP {response.status}" + (f": {detail}" if detail else ""),
        )
    if response.status != 200:
        detail = _body_text(body)
        raise _CouldNotLook(
            "api_error", f"tailscaled answered {where} with HTTP {response.status}" + (f": {detail}" if detail else "")
        )
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _CouldNotLook(
            "api_error", f"tailscaled answered {where} with a body that is not valid JSON ({len(body)} bytes)"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("BackendState"), str):
        raise _CouldNotLook(
            "api_error", f"tailscaled answered {where} with JSON that is not a status (no BackendState)"
        )
    return data


def _fqdn(dns_name: object) -> str | None:
    """A MagicDNS name without its trailing dot; None when empty."""
    if not isinstance(dns_name, str) or not dns_name.strip("."):
        return None
    return dns_name.rstrip(".")


def _ips(value: object) -> list[str]:
    return [ip for ip in value if isinstance(ip, str)] if isinstance(value, list) else []


def _time(value: object) -> str | None:
    if not isinstance(value, str) or not value or value == _ZERO_TIME:
        return None
    return value


def _names(peer: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """(casefolded HostName, casefolded first DNS label, casefolded FQDN) of a PeerStatus."""
    raw_host = peer.get("HostName")
    host = raw_host if isinstance(raw_host, str) else ""
    fqdn = _fqdn(peer.get("DNSName"))
    label = fqdn.split(".", 1)[0] if fqdn else None
    return host.casefold(), (label.casefold() if label else None), (fqdn.casefold() if fqdn else None)


def find_peer(name: str, peers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The PeerStatus that ``name`` designates, or None.

    A name matches a peer's MagicDNS name (its first label, or the whole name without the
    trailing dot) or its HostName, case-insensitively. The MagicDNS name is unique in a
    tailnet and wins over HostName (which is not: a re-installed machine can leave an old
    node with the same HostName behind). Among several matches an online one wins.
    """
    wanted = name.rstrip(".").casefold()
    by_dns, by_host = [], []
    for peer in peers:
        host, label, fqdn = _names(peer)
        if wanted in (label, fqdn):
            by_dns.append(peer)
        elif wanted == host:
            by_host.append(peer)
    candidates = by_dns or by_host
    if not candidates:
        return None
    return sorted(candidates, key=lambda p: p.get("Online") is not True)[0]


def summarize(status_doc: dict[str, Any], expected_peers: list[str]) -> dict[str, Any]:
    """Reduce an ipnstate.Status to the fields Steward reports (status/error/socket not included)."""
    raw_self = status_doc.get("Self")
    raw_peers = status_doc.get("Peer")
    if not isinstance(raw_self, dict):
        raw_self = None
    if not isinstance(raw_peers, dict):
        raw_peers = {}
    # ShareeNode peers are other users' nodes that might connect to us; `tailscale status`
    # hides them and so does the peer matching.
    peers = [p for p in raw_peers.values() if isinstance(p, dict) and not p.get("ShareeNode")]
    tailnet = status_doc.get("CurrentTailnet")
    health = status_doc.get("Health")

    self_info = None
    if raw_self is not None:
        self_info = {
            "hostname": raw_self.get("HostName") or None,
            "dns_name": _fqdn(raw_self.get("DNSName")),
            "ips": _ips(status_doc.get("TailscaleIPs")) or _ips(raw_self.get("TailscaleIPs")),
            "online": raw_self.get("Online") is True,
        }

    reported = []
    for name in expected_peers:
        peer = find_peer(name, peers)
        if peer is None:
            reported.append(
                {"name": name, "found": False, "online": None, "ips": [], "last_seen": None, "dns_name": None}
            )
            continue
        reported.append(
            {
                "name": name,
                "found": True,
                "online": peer.get("Online") is True,
                "ips": _ips(peer.get("TailscaleIPs")),
                "last_seen": _time(peer.get("LastSeen")),
                "dns_name": _fqdn(peer.get("DNSName")),
            }
        )

    return {
        "backend_state": status_doc["BackendState"],
        "tailnet": (tailnet.get("Name") or None) if isinstance(tailnet, dict) else None,
        "self": self_info,
        "health": [h for h in health if isinstance(h, str)] if isinstance(health, list) else [],
        "peers": reported,
        "peer_count": len(peers),
    }


def _result(status: str, error: str | None, socket_path: str, **fields: object) -> dict[str, Any]:
    result: dict[str, Any] = dict.fromkeys(RESULT_KEYS)
    result.update(status=status, error=error, socket=socket_path, **fields)
    return result


def collect(
    socket: str = DEFAULT_SOCKET, expected_peers: list[str] | None = None, timeout: float = DEFAULT_TIMEOUT
) -> dict[str, Any]:
    """What tailscaled on this node reports, or why it could not be asked.

    Returns a JSON-able dict with the keys of :data:`RESULT_KEYS`: ``status``, ``error``,
    ``socket``, and when ``status == "ok"`` also ``backend_state`` (ipn.State: Running,
    NeedsLogin, NeedsMachineAuth, Stopped, Starting, NoState, ...), ``tailnet`` (name or None),
    ``self`` ({hostname, dns_name, ips, online}), ``health`` (list of messages), ``peers``
    (one {name, found, online, ips, last_seen, dns_name} per expected peer, in the given
    order) and ``peer_count``. Otherwise those are None: "could not look" is never "no peers".
    """
    socket_path, names, timeout_s = _validate(socket, expected_peers, timeout)
    try:
        status_doc = fetch_status(socket_path, timeout_s)
    except _CouldNotLook as exc:
        return _result(exc.status, str(exc), socket_path)
    return _result("ok", None, socket_path, **summarize(status_doc, names))
