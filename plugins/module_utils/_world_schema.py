# Copyright: Steward maintainers
# MIT License (see galaxy.yml)
"""The world file (schema 1), field by field: the one definition of what a node may report.

Private to homelab.steward. Everything a node's ``node_observe`` module returns is untrusted
data (docs/architecture.md, "World file (schema 1)"; docs/reliability.md, "Trust boundary:
what a node reports"). This module says, for every check and every field, what a value may be,
and it is the only place that says so:

* the ``node_observe`` action plugin (plugins/action/node_observe.py) runs :func:`check_problem`
  on each check before it writes ``world/<host>.json`` or returns the world in the task result;
  a check that fails becomes :func:`invalid_report` ("could not look") for that host only;
* the controller's loader (``steward.state.world``) loads *this file* (not a copy) and runs
  :func:`envelope_problem` on every world file it reads, then each area's judge of its check
  (``steward.areas``, which calls :func:`check_problem`), so a file the controller did not write
  (torn, hand-edited, corrupt) still makes the plan cycle skip.

Standard library only, and no import of the ``steward`` package: the collection must work
without it. Nothing here runs on a node.

Rules that hold for every field: strings are bounded, contain no control character (C0, DEL,
C1, Unicode line/paragraph separators, bidirectional overrides, BOM, lone surrogates, which is
how bytes that are not UTF-8 arrive through Ansible) and no template marker (``{{``, ``{%``,
``{#``); names, image references, states and addresses match their own grammar or enum;
numbers are bounded (no booleans, no NaN); lists are bounded; records have exactly their keys.
Validation is written for speed (a host with thousands of containers): compiled patterns and
frozensets, one pass, no copies.
"""

from __future__ import annotations

import ipaddress
import json
import math
import operator
import re
from datetime import datetime

SCHEMA_VERSION = 1

# A module result (its ``checks``, as compact JSON) larger than this is not looked at: every
# requested check of that host becomes invalid_report. A container record is about 350 bytes,
# so 5 000 containers are about 1.8 MB; 8 MiB leaves room for long names and many mounts.
MAX_REPORT_BYTES = 8 * 1024 * 1024
# A world file on disk is indented JSON (about 1.4 times the compact size): the loader refuses,
# before parsing, a file larger than this.
MAX_WORLD_FILE_BYTES = 2 * MAX_REPORT_BYTES

MAX_CONTAINERS = 10_000
MAX_CONTAINER_LABELS = 256
MAX_CONTAINER_ENV = 1_024
MAX_CONTAINER_MOUNTS = 256
MAX_CONTAINER_PORTS = 1_024
MAX_CONTAINER_NETWORKS = 64
MAX_MOUNTS = 256  # disk check: configured paths
MAX_PEERS = 1_024  # tailscale: expected peers reported
MAX_IPS = 16
MAX_HEALTH_MESSAGES = 64
MAX_BROKERS = 64

MAX_NAME = 255  # container, broker, peer names; label keys
MAX_IMAGE = 512  # an image reference: name (255) + tag (128) + digest
MAX_PATH = 4_096  # PATH_MAX
MAX_TEXT = 2_048  # error messages and other free text
MAX_LABEL_VALUE = 4_096
MAX_INT = 2**63  # byte and inode counts (signed 64 bit either way)
MAX_EXCERPT = 60

# The "could not look" status this schema's failures become (the areas turn any status other
# than "ok" into one notice-only item; the engine counts the area as blind).
INVALID_REPORT = "invalid_report"
CHECK_FAILED = "check_failed"  # written by node_observe (module) and the action plugin

_BAD_CHARS = "\x00-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff\ud800-\udfff"
# A string with one of these anywhere is not valid free text.
_BAD_TEXT = re.compile("[" + _BAD_CHARS + "]|\\{[{%#]")
_ESCAPE = re.compile("[" + _BAD_CHARS + '\\\\"{}]')

# Docker's container name pattern (daemon/names: RestrictedNameChars), bounded.
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}")  # MAX_NAME
# The Docker image reference grammar (distribution/reference, regexp.go), ASCII only.
_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = _ALNUM + "(?:" + _SEP + _ALNUM + ")*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = r"(?:" + _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_REPO = "(?:" + _DOMAIN + "/)?" + _PATH_COMPONENT + "(?:/" + _PATH_COMPONENT + ")*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_IMAGE_REF = re.compile("(" + _REPO + ")(?::" + _TAG + ")?(?:@" + _DIGEST + ")?", re.ASCII)
_IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")  # also what Docker reports as the image of an untagged one
_CONTAINER_ID = re.compile(r"[0-9a-f]{12,64}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})")
_LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,254}")
_SEMVER = re.compile(r"[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}")
_CONFIG_HASH = re.compile(r"[0-9a-f]{64}")
_PORT = re.compile(r"[0-9]{1,5}(?:-[0-9]{1,5})?/(?:tcp|udp|sctp)")
_HOST_IP = re.compile(r"[0-9A-Fa-f.:\[\]%a-z]{1,64}")
_DNS_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?")
_PEER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,252}")
# broker names default to "host:port" (an IPv6 host in brackets)
_BROKER_NAME = re.compile(r"[A-Za-z0-9\[][A-Za-z0-9_.:\[\]%-]{0,254}")
_BROKER_HOST = re.compile(r"[A-Za-z0-9_.:\[\]%-]{1,253}")
_FSTYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
_AREA = re.compile(r"[a-z][a-z0-9_]{0,31}")
_UNKNOWN_CONNACK = re.compile(r"unknown return code \d{1,3}")

CONTAINER_STATES = frozenset(("created", "restarting", "running", "removing", "paused", "exited", "dead"))
CONTAINER_HEALTH = frozenset((None, "starting", "healthy", "unhealthy", "none"))
MOUNT_TYPES = frozenset(("bind", "volume", "tmpfs", "npipe", "cluster", "image"))
# ipn.State (tailscale ipn/backend.go)
TAILSCALE_BACKEND_STATES = frozenset(
    ("NoState", "InUseOtherUser", "NeedsLogin", "NeedsMachineAuth", "Stopped", "Starting", "Running")
)
BROKER_STATUSES = frozenset(("accepted", "refused", "unreachable", "protocol_error", "timeout"))
CONNACK_REASONS = frozenset(
    (
        "connection accepted",
        "unacceptable protocol version",
        "identifier rejected",
        "server unavailable",
        "bad username or password",
        "not authorised",
    )
)

# Per check: the statuses its collector reports (plus check_failed and invalid_report).
STATUSES = {
    "docker": frozenset(("ok", "engine_unreachable", "permission_denied", "api_error")),
    "disk": frozenset(("ok",)),
    "tailscale": frozenset(("ok", "absent", "unreachable", "permission_denied", "api_error")),
    "mqtt": frozenset(("ok",)),
}
_COULD_NOT_RUN = frozenset((CHECK_FAILED, INVALID_REPORT))

WORLD_KEYS = frozenset(("schema", "host", "observed_at", "cycle", "reachable", "error", "checks"))
CONTAINER_KEYS = frozenset(
    (
        "name",
        "id",
        "state",
        "health",
        "image",
        "image_id",
        "restart_count",
        "started_at",
        "exit_code",
        "compose_project",
    )
)
# Reported by the collector since Compose projects (issue 13); optional so that a world file
# written before them still loads (a record has all of them or none).
CONTAINER_CONFIG_KEYS = frozenset(
    ("compose_service", "config_hash", "labels", "env", "mounts", "ports", "networks", "settings")
)
# The other container settings a recreate from the inventory would lose, by name (the collector
# lists the ones that differ from Docker's defaults and from the image: _docker_api.SETTINGS).
CONTAINER_SETTINGS = frozenset(
    (
        "cap_add", "cap_drop", "command", "cpu_limits", "devices", "dns", "entrypoint", "extra_hosts",
        "group_add", "healthcheck", "hostname", "init", "ipc_mode", "log_driver", "memory_limits",
        "network_aliases", "pid_mode", "privileged", "read_only", "restart_policy", "security_opt",
        "shm_size", "static_ip", "sysctls", "tmpfs", "ulimits", "user", "working_dir",
    )
)  # fmt: skip
COMPOSE_PLUGIN_KEYS = frozenset(("status", "version", "error"))
COMPOSE_PLUGIN_STATUSES = frozenset(("ok", "missing", "too_old", "error"))
CONTAINER_MOUNT_KEYS = frozenset(("type", "source", "destination", "read_only"))
CONTAINER_PORT_KEYS = frozenset(("port", "host_ip", "host_port"))
DISK_MOUNT_KEYS = frozenset(
    (
        "path",
        "present",
        "error",
        "max_used_pct",
        "max_inodes_pct",
        "is_mountpoint",
        "mount_point",
        "fstype",
        "device",
        "read_only",
        "total_bytes",
        "used_bytes",
        "avail_bytes",
        "used_pct",
        "inodes_total",
        "inodes_used",
        "inodes_free",
        "inodes_used_pct",
    )
)
TAILSCALE_KEYS = frozenset(
    ("status", "error", "socket", "backend_state", "tailnet", "self", "health", "peers", "peer_count")
)
TAILSCALE_SELF_KEYS = frozenset(("hostname", "dns_name", "ips", "online"))
TAILSCALE_PEER_KEYS = frozenset(("name", "found", "online", "ips", "last_seen", "dns_name"))
BROKER_KEYS = frozenset(
    (
        "name",
        "host",
        "port",
        "status",
        "reachable",
        "connack_code",
        "connack_reason",
        "accepted",
        "latency_ms",
        "roundtrip",
        "error",
    )
)
ROUNDTRIP_KEYS = frozenset(("ok", "latency_ms", "error"))


class InvalidValue(ValueError):
    """A value the schema does not allow: where (a field path), what (the value) and why."""

    def __init__(self, path: str, value: object, why: str) -> None:
        self.path = path
        self.value = value
        self.why = why
        super().__init__(f"{path}: {why}, got {excerpt(value)}")


def _escape_char(match: re.Match) -> str:
    ch = match.group(0)
    if ch in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\", '"': '\\"'}


def inert(text: object, limit: int = MAX_TEXT) -> str:
    """``text`` as one printable line that passes this schema's free-text rule, at most ``limit`` long.

    Control characters become escapes (``\\n``, ``\\x1b``, ``\\u2028``, like steward.core.inert.terminal),
    and so do backslashes, double quotes and braces (so ``{{`` can never start a template).
    """
    raw = text if isinstance(text, str) else str(text)
    raw = raw[: limit + 1]  # an escape is at least one character: nothing past this can fit
    out = _ESCAPE.sub(_escape_char, raw)
    if len(out) <= limit and len(raw) <= limit:
        return out
    # cut between escapes, never inside one
    pieces, size = [], 0
    for ch in raw:
        piece = _ESCAPE.sub(_escape_char, ch)
        if size + len(piece) > limit - 3:
            break
        pieces.append(piece)
        size += len(piece)
    return "".join(pieces) + "..."


def excerpt(value: object) -> str:
    """A short (at most 60 characters), escaped picture of a value, for messages."""
    if isinstance(value, str):
        return '"' + inert(value, MAX_EXCERPT - 2) + '"'
    if value is None or isinstance(value, (bool, int, float)):
        try:
            text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else repr(value)
        except ValueError:  # an integer with more digits than Python converts
            text = "a very large integer"
        return inert(text, MAX_EXCERPT)
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return f"an object with {len(value)} keys"
    return inert("a " + type(value).__name__, MAX_EXCERPT)


def invalid_report(problem: InvalidValue) -> dict:
    """The check entry that replaces a check the schema refused: "could not look", with why."""
    # path, excerpt and why are already inert (validated or escaped); inert() again only if not
    message = f"invalid value from the node ({problem.path}, {excerpt(problem.value)}): {problem.why}"
    if len(message) > MAX_TEXT or _BAD_TEXT.search(message):
        message = inert(message)
    return {"status": INVALID_REPORT, "error": message}


# --------------------------------------------------------------------------- field checkers
# Each returns None when the value is fine, or the reason it is not. Regex .fullmatch raises
# TypeError for a value that is not a string; callers treat that as "not a string".


def _fail(path: str, value: object, why: str) -> InvalidValue:
    return InvalidValue(path, value, why)


def _text(path: str, value: object, limit: int = MAX_TEXT) -> None:
    if not isinstance(value, str):
        raise _fail(path, value, "not a string")
    if len(value) > limit:
        raise _fail(path, value, f"longer than {limit} characters")
    if _BAD_TEXT.search(value):
        raise _fail(path, value, "control character or template marker")


def _opt_text(path: str, value: object, limit: int = MAX_TEXT) -> None:
    if value is not None:
        _text(path, value, limit)


def _pattern(path: str, value: object, pattern: re.Pattern, what: str, limit: int) -> None:
    if not isinstance(value, str):
        raise _fail(path, value, "not a string")
    if len(value) > limit or not pattern.fullmatch(value):
        raise _fail(path, value, "not " + what)


def _opt_pattern(path: str, value: object, pattern: re.Pattern, what: str, limit: int) -> None:
    if value is not None:
        _pattern(path, value, pattern, what, limit)


def _abs_path(path: str, value: object) -> None:
    if not isinstance(value, str) or not value.startswith("/"):
        raise _fail(path, value, "not an absolute path")
    _text(path, value, MAX_PATH)


def _opt_abs_path(path: str, value: object) -> None:
    if value is not None:
        _abs_path(path, value)


def _int(path: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(path, value, "not an integer")
    if not low <= value <= high:
        raise _fail(path, value, f"not between {low} and {high}")


def _opt_int(path: str, value: object, low: int, high: int) -> None:
    if value is not None:
        _int(path, value, low, high)


def _opt_number(path: str, value: object, low: float, high: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(path, value, "not a number")
    if not (math.isfinite(value) and low <= value <= high):
        raise _fail(path, value, f"not between {low:g} and {high:g}")


def _bool(path: str, value: object) -> None:
    if value is not True and value is not False:
        raise _fail(path, value, "not true or false")


def _opt_bool(path: str, value: object) -> None:
    if value is not None and value is not True and value is not False:
        raise _fail(path, value, "not true, false or null")


def _enum(path: str, value: object, allowed: frozenset) -> None:
    try:
        ok = value in allowed
    except TypeError:  # unhashable
        ok = False
    if not ok or isinstance(value, bool):
        raise _fail(path, value, "not one of " + ", ".join(sorted(str(a) for a in allowed)))


def _list(path: str, value: object, limit: int, nullable: bool = False) -> list:
    if value is None and nullable:
        return []
    if not isinstance(value, list):
        raise _fail(path, value, "not a list")
    if len(value) > limit:
        raise _fail(path, value, f"more than {limit} items")
    return value


def _record(path: str, value: object, keys: frozenset, optional: frozenset = frozenset()) -> dict:
    if not isinstance(value, dict):
        raise _fail(path, value, "not an object")
    have = value.keys()
    if have != keys:
        missing = keys - have
        unknown = have - keys - optional
        if missing:
            raise _fail(path, value, "missing " + ", ".join(sorted(missing)))
        if unknown:
            raise _fail(path, value, "unknown key " + inert(", ".join(sorted(str(k) for k in unknown))[:80], 80))
    return value


def _ips(path: str, value: object) -> None:
    for i, ip in enumerate(_list(path, value, MAX_IPS)):
        where = f"{path}[{i}]"
        if not isinstance(ip, str) or len(ip) > 64:
            raise _fail(where, ip, "not an IP address")
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise _fail(where, ip, "not an IP address") from None


def _status(path: str, area: str, check: dict) -> str:
    status = check.get("status")
    allowed = STATUSES.get(area, frozenset())
    try:
        ok = status in allowed or status in _COULD_NOT_RUN
    except TypeError:
        ok = False
    if not ok or not isinstance(status, str):
        raise _fail(path + ".status", status, "not one of " + ", ".join(sorted(allowed | _COULD_NOT_RUN)))
    return status


def _could_not_look(path: str, check: dict, extra: frozenset, data_keys: frozenset) -> None:
    """A check that could not look: a status, a message, maybe its own options; never data."""
    _record(path, check, frozenset(("status", "error")), extra | data_keys)
    _text(path + ".error", check["error"])
    for key in data_keys & check.keys():
        if check[key] is not None:
            raise _fail(f"{path}.{key}", check[key], "must be null when the check could not look")


# --------------------------------------------------------------------------- docker


def _docker(path: str, check: dict) -> None:
    status = _status(path, "docker", check)
    if status != "ok":
        if check.get("docker_host") is not None:
            _docker_host(path + ".docker_host", check["docker_host"])
        _could_not_look(path, check, frozenset(("docker_host",)), frozenset(("containers",)))
        return
    _record(path, check, frozenset(("status", "error", "docker_host", "containers")), frozenset(("compose",)))
    _opt_text(path + ".error", check["error"])
    _docker_host(path + ".docker_host", check["docker_host"])
    if "compose" in check:
        plugin = _record(path + ".compose", check["compose"], COMPOSE_PLUGIN_KEYS)
        _enum(path + ".compose.status", plugin["status"], COMPOSE_PLUGIN_STATUSES)
        _opt_pattern(path + ".compose.version", plugin["version"], _SEMVER, "a version (2.40.3)", 32)
        _opt_text(path + ".compose.error", plugin["error"])
    containers = _list(path + ".containers", check["containers"], MAX_CONTAINERS)
    try:
        ok = _containers_fast(containers)
    except (TypeError, KeyError, AttributeError):
        ok = False
    if ok:
        return
    where = path + ".containers"
    names = set()
    for i, c in enumerate(containers):
        _container_slow(f"{where}[{i}]", c)
        names.add(c["name"])
    if len(names) != len(containers):
        raise _fail(where, containers, "two containers with one name")


def _docker_host(path: str, value: object) -> None:
    if not isinstance(value, str) or not value.startswith("unix:///"):
        raise _fail(path, value, "not unix:///<absolute path>")
    _text(path, value, MAX_PATH)


_NAME_OK = _NAME.fullmatch
_ID_OK = _CONTAINER_ID.fullmatch
_IMAGE_OK = _IMAGE_REF.fullmatch
_IMAGE_ID_OK = _IMAGE_ID.fullmatch
_TIME_OK = _TIME.fullmatch


def _image_ok(image: str) -> bool:
    if len(image) > MAX_IMAGE:
        return False
    if image.startswith("sha256:"):
        return _IMAGE_ID_OK(image) is not None
    m = _IMAGE_OK(image)
    return m is not None and len(m.group(1)) <= MAX_NAME


def _lines(pattern: str) -> re.Pattern:
    """``pattern`` repeated on lines: one regex call checks a whole column joined with newlines."""
    return re.compile(f"(?:(?:{pattern})\n)*(?:{pattern})")


_NAME_LINES = _lines(_NAME.pattern)
_ID_LINES = _lines(_CONTAINER_ID.pattern)
_TIME_LINES = _lines(_TIME.pattern)
_IMAGE_ID_LINES = _lines(_IMAGE_ID.pattern)
_CONTAINER_FIELDS = sorted(CONTAINER_KEYS)
_FIELD = {name: operator.itemgetter(name) for name in _CONTAINER_FIELDS}


def _column_ok(values: list | tuple, lines: re.Pattern) -> bool:
    """Every value a string (the ones given), none with a newline, all matching ``lines``."""
    if not values:
        return True
    joined = "\n".join(values)  # TypeError for a value that is not a string
    return joined.count("\n") == len(values) - 1 and lines.fullmatch(joined) is not None


def _containers_fast(containers: list) -> bool:
    """Every container record valid, checked column by column (the common case, at C speed).

    False, or TypeError/KeyError, sends the list to the field-by-field check that names the
    first wrong field. Values that repeat across containers (states, images, exit codes ...)
    are checked once each.
    """
    if not containers:
        return True
    if not all(issubclass(t, dict) for t in set(map(type, containers))):
        return False
    lengths = set(map(len, containers))
    if lengths == {len(_FULL_FIELDS)}:
        if not _config_fast(containers):
            return False
    elif lengths != {len(_CONTAINER_FIELDS)}:  # some records with, some without: the slow path
        return False
    # one list per field (KeyError for a missing key); no per-container objects are created

    def col(field: str) -> list:
        return list(map(_FIELD[field], containers))

    names = col("name")
    if len(set(names)) != len(names) or not _column_ok(names, _NAME_LINES):
        return False
    if not _column_ok(col("id"), _ID_LINES):
        return False
    if not _column_ok(_not_none(col("started_at")), _TIME_LINES):
        return False
    if not set(map(_FIELD["state"], containers)) <= CONTAINER_STATES:
        return False
    if not set(map(_FIELD["health"], containers)) <= CONTAINER_HEALTH:
        return False
    if not _images_ok(set(map(_FIELD["image"], containers))):
        return False
    if not _known(set(map(_FIELD["image_id"], containers)) - _NONE, _GOOD_IMAGE_IDS, _IMAGE_ID_LINES):
        return False
    if not _column_ok(_not_none(list(set(map(_FIELD["compose_project"], containers)))), _NAME_LINES):
        return False
    # by type first: True == 1 and 1.0 == 1, so a set of values would hide a bool or a float
    restarts = col("restart_count")
    if set(map(type, restarts)) != {int} or not (min(restarts) >= 0 and max(restarts) < 2**31):
        return False
    exits = col("exit_code")
    if not set(map(type, exits)) <= _INT_OR_NONE:
        return False
    exits = _not_none(exits, falsy_ok=True)
    return not exits or (min(exits) >= -(2**31) and max(exits) < 2**31)


_NONE = frozenset((None,))
_FULL_FIELDS = sorted(CONTAINER_KEYS | CONTAINER_CONFIG_KEYS)
_FIELD.update({name: operator.itemgetter(name) for name in CONTAINER_CONFIG_KEYS})
_HASH_LINES = _lines(_CONFIG_HASH.pattern)
_ENV_LINES = _lines(_ENV_NAME.pattern)
_LABEL_KEY_LINES = _lines(_LABEL_KEY.pattern)


def _config_fast(containers: list) -> bool:
    """The configuration fields of full records (compose labels, labels, env names, mounts, ports, networks)."""
    if not _column_ok(_not_none(list(set(map(_FIELD["compose_service"], containers)))), _NAME_LINES):
        return False
    if not _column_ok(_not_none(list(map(_FIELD["config_hash"], containers))), _HASH_LINES):
        return False
    for field, limit in (("env", MAX_CONTAINER_ENV), ("networks", MAX_CONTAINER_NETWORKS)):
        lists = list(map(_FIELD[field], containers))
        if set(map(type, lists)) != {list} or max(map(len, lists)) > limit:
            return False
        values = [v for values in lists for v in values]
        if not _column_ok(values, _ENV_LINES if field == "env" else _NAME_LINES):
            return False
    labels = list(map(_FIELD["labels"], containers))
    if set(map(type, labels)) != {dict} or max(map(len, labels)) > MAX_CONTAINER_LABELS:
        return False
    keys = [k for d in labels for k in d]
    if not _column_ok(keys, _LABEL_KEY_LINES):
        return False
    for d in labels:
        for value in d.values():
            if value is not None and (
                type(value) is not str or len(value) > MAX_LABEL_VALUE or _BAD_TEXT.search(value)
            ):
                return False
    # mounts and ports are few per container: the field-by-field check is fast enough for them
    if not set(map(type, map(_FIELD["mounts"], containers))) | set(map(type, map(_FIELD["ports"], containers))) <= {
        list
    }:
        return False
    settings = [v for c in containers for v in c["settings"]] if "settings" in containers[0] else None
    if settings is None or not set(map(type, map(_FIELD["settings"], containers))) <= {list}:
        return False
    if not set(settings) <= CONTAINER_SETTINGS:
        return False
    try:
        for c in containers:
            if c["mounts"] or c["ports"]:
                _container_mounts_ports("", c)
    except InvalidValue:
        return False  # the slow path names the container and the field
    return True


def _not_none(values: list, falsy_ok: bool = False) -> list:
    """``values`` without None (filter() at C speed; a "" left out by it makes the check fail)."""
    if falsy_ok:
        return [v for v in values if v is not None] if None in values else values
    kept = list(filter(None, values))
    if len(kept) != len(values) - values.count(None):
        raise TypeError("an empty value")  # the slow path names it
    return kept


_INT_OR_NONE = frozenset((int, type(None)))
# image references seen valid lately: fleets share images, so most hosts' images are known
_GOOD_IMAGES: set = set()
_GOOD_IMAGES_MAX = 20_000
_IMAGE_LINES_ASCII = re.compile(_lines("sha256:[0-9a-f]{64}|(?!sha256:)" + _IMAGE_REF.pattern).pattern, re.ASCII)


_GOOD_IMAGE_IDS: set = set()


def _known(values: set, good: set, lines: re.Pattern) -> bool:
    """Every value matches ``lines``; values seen valid lately (``good``) are not looked at again."""
    new = values - good
    if not new:
        return True
    checked = list(new)
    if not _column_ok(checked, lines):
        return False
    if len(good) + len(checked) > _GOOD_IMAGES_MAX:
        good.clear()
    good.update(v for v in checked if type(v) is str)
    return True


def _images_ok(images: set) -> bool:
    new = images - _GOOD_IMAGES  # TypeError for an unhashable value, caught by the caller
    if not new:
        return True
    values = tuple(new)
    if not all(isinstance(v, str) and len(v) <= MAX_NAME for v in values):
        # the slow way: longer references (a digest) have the 255-character limit on the name only
        if not all(isinstance(v, str) and _image_ok(v) for v in values):
            return False
    elif not _column_ok(values, _IMAGE_LINES_ASCII):
        return False
    if len(_GOOD_IMAGES) + len(values) > _GOOD_IMAGES_MAX:
        _GOOD_IMAGES.clear()
    _GOOD_IMAGES.update(v for v in values if type(v) is str)
    return True


def _container_slow(path: str, c: object) -> None:
    """Field by field, naming the first field that is wrong (raises InvalidValue)."""
    c = _record(path, c, CONTAINER_KEYS, CONTAINER_CONFIG_KEYS)
    _pattern(path + ".name", c["name"], _NAME, "a container name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)", MAX_NAME)
    _pattern(path + ".id", c["id"], _CONTAINER_ID, "a container id (12 to 64 hex digits)", 64)
    _enum(path + ".state", c["state"], CONTAINER_STATES)
    try:
        ok = c["health"] in CONTAINER_HEALTH
    except TypeError:
        ok = False
    if not ok:
        raise _fail(path + ".health", c["health"], "not null, starting, healthy, unhealthy or none")
    image = c["image"]
    if not isinstance(image, str):
        raise _fail(path + ".image", image, "not a string")
    if not _image_ok(image):
        raise _fail(path + ".image", image, "not an image reference")
    _opt_pattern(path + ".image_id", c["image_id"], _IMAGE_ID, "sha256:<64 hex digits>", 71)
    _int(path + ".restart_count", c["restart_count"], 0, 2**31 - 1)
    _opt_int(path + ".exit_code", c["exit_code"], -(2**31), 2**31 - 1)
    _opt_pattern(path + ".started_at", c["started_at"], _TIME, "an RFC 3339 time", 40)
    _opt_pattern(path + ".compose_project", c["compose_project"], _NAME, "a Compose project name", MAX_NAME)
    if not c.keys() & CONTAINER_CONFIG_KEYS:
        return
    if c.keys() < CONTAINER_KEYS | CONTAINER_CONFIG_KEYS:
        missing = sorted((CONTAINER_KEYS | CONTAINER_CONFIG_KEYS) - c.keys())
        raise _fail(path, c, "missing " + ", ".join(missing) + " (a record has all configuration fields or none)")
    _opt_pattern(path + ".compose_service", c["compose_service"], _NAME, "a Compose service name", MAX_NAME)
    _opt_pattern(path + ".config_hash", c["config_hash"], _CONFIG_HASH, "a Compose config hash (64 hex digits)", 64)
    labels = c["labels"]
    if not isinstance(labels, dict):
        raise _fail(path + ".labels", labels, "not an object")
    if len(labels) > MAX_CONTAINER_LABELS:
        raise _fail(path + ".labels", labels, f"more than {MAX_CONTAINER_LABELS} labels")
    for key, value in labels.items():
        _pattern(path + ".labels", key, _LABEL_KEY, "a label key", MAX_NAME)
        _opt_text(f"{path}.labels[{key}]", value, MAX_LABEL_VALUE)
    for i, name in enumerate(_list(path + ".env", c["env"], MAX_CONTAINER_ENV)):
        _pattern(f"{path}.env[{i}]", name, _ENV_NAME, "an environment variable name", MAX_NAME)
    for i, name in enumerate(_list(path + ".networks", c["networks"], MAX_CONTAINER_NETWORKS)):
        _pattern(f"{path}.networks[{i}]", name, _NAME, "a network name", MAX_NAME)
    for i, name in enumerate(_list(path + ".settings", c["settings"], len(CONTAINER_SETTINGS))):
        _enum(f"{path}.settings[{i}]", name, CONTAINER_SETTINGS)
    _container_mounts_ports(path, c)


def _container_mounts_ports(path: str, c: dict) -> None:
    for i, m in enumerate(_list(path + ".mounts", c["mounts"], MAX_CONTAINER_MOUNTS)):
        where = f"{path}.mounts[{i}]"
        _record(where, m, CONTAINER_MOUNT_KEYS)
        _enum(where + ".type", m["type"], MOUNT_TYPES)
        if m["type"] == "volume":
            _opt_pattern(where + ".source", m["source"], _NAME, "a volume name", MAX_NAME)
        elif m["source"] is not None:
            _abs_path(where + ".source", m["source"])
        _abs_path(where + ".destination", m["destination"])
        _bool(where + ".read_only", m["read_only"])
    for i, p in enumerate(_list(path + ".ports", c["ports"], MAX_CONTAINER_PORTS)):
        where = f"{path}.ports[{i}]"
        _record(where, p, CONTAINER_PORT_KEYS)
        _pattern(where + ".port", p["port"], _PORT, "a port (80/tcp)", 16)
        _opt_pattern(where + ".host_ip", p["host_ip"], _HOST_IP, "an IP address", 64)
        _opt_int(where + ".host_port", p["host_port"], 0, 65535)


# --------------------------------------------------------------------------- disk


def _disk(path: str, check: dict) -> None:
    status = _status(path, "disk", check)
    if status != "ok":
        _could_not_look(path, check, frozenset(), frozenset(("mounts",)))
        return
    _record(path, check, frozenset(("status", "error", "mounts")))
    _opt_text(path + ".error", check["error"])
    for i, m in enumerate(_list(path + ".mounts", check["mounts"], MAX_MOUNTS)):
        try:
            if _disk_mount_fast(m):
                continue
        except TypeError:
            pass
        where = f"{path}.mounts[{i}]"
        _record(where, m, DISK_MOUNT_KEYS)
        _abs_path(where + ".path", m["path"])
        _opt_bool(where + ".present", m["present"])
        _opt_text(where + ".error", m["error"])
        for key in ("max_used_pct", "max_inodes_pct"):
            _opt_int(where + "." + key, m[key], 0, 100)
        _opt_bool(where + ".is_mountpoint", m["is_mountpoint"])
        _opt_abs_path(where + ".mount_point", m["mount_point"])
        _opt_pattern(where + ".fstype", m["fstype"], _FSTYPE, "a filesystem type", 64)
        _opt_text(where + ".device", m["device"], MAX_PATH)
        _opt_bool(where + ".read_only", m["read_only"])
        for key in ("total_bytes", "used_bytes", "avail_bytes", "inodes_total", "inodes_used", "inodes_free"):
            _opt_int(where + "." + key, m[key], -MAX_INT, 2 * MAX_INT)
        for key in ("used_pct", "inodes_used_pct"):
            _opt_number(where + "." + key, m[key], 0, 100)
        if m["present"] is not True:  # nothing was measured: every measurement is null
            for key in ("is_mountpoint", "mount_point", "fstype", "device", "read_only", "used_pct", "total_bytes"):
                if m[key] is not None:
                    raise _fail(where + "." + key, m[key], "must be null when the path was not examined")


_INTS = frozenset((int,))
_OPT_INT = frozenset((int, type(None)))
_PCT = frozenset((int, float))


def _disk_mount_fast(m: dict) -> bool:
    """A mount that was measured, in one expression; False/TypeError: field by field."""
    if type(m) is not dict or m.keys() != DISK_MOUNT_KEYS or m["present"] is not True:
        return False
    path, mount_point, used, inodes = m["path"], m["mount_point"], m["used_pct"], m["inodes_used_pct"]
    return (
        path[:1] == "/"
        and len(path) <= MAX_PATH
        and not _BAD_TEXT.search(path)
        and m["error"] is None
        and (mount_point is None or (mount_point[:1] == "/" and len(mount_point) <= MAX_PATH))
        and (mount_point is None or not _BAD_TEXT.search(mount_point))
        and type(m["is_mountpoint"]) is bool
        and type(m["read_only"]) is bool
        and (m["fstype"] is None or _FSTYPE.fullmatch(m["fstype"]) is not None)
        and (m["device"] is None or (len(m["device"]) <= MAX_PATH and not _BAD_TEXT.search(m["device"])))
        and {type(m[k]) for k in _DISK_COUNTS} <= _INTS
        and all(-MAX_INT <= m[k] <= 2 * MAX_INT for k in _DISK_COUNTS)
        and {type(m["max_used_pct"]), type(m["max_inodes_pct"])} <= _OPT_INT
        and all(m[k] is None or 0 <= m[k] <= 100 for k in ("max_used_pct", "max_inodes_pct"))
        and (used is None or (type(used) in _PCT and 0 <= used <= 100))
        and (inodes is None or (type(inodes) in _PCT and 0 <= inodes <= 100))
    )


_DISK_COUNTS = ("total_bytes", "used_bytes", "avail_bytes", "inodes_total", "inodes_used", "inodes_free")


# --------------------------------------------------------------------------- tailscale


def _tailscale(path: str, check: dict) -> None:
    status = _status(path, "tailscale", check)
    if status != "ok":
        if check.get("socket") is not None:
            _abs_path(path + ".socket", check["socket"])
        _could_not_look(path, check, frozenset(("socket",)), TAILSCALE_KEYS - {"status", "error", "socket"})
        return
    _record(path, check, TAILSCALE_KEYS)
    _opt_text(path + ".error", check["error"])
    _abs_path(path + ".socket", check["socket"])
    _enum(path + ".backend_state", check["backend_state"], TAILSCALE_BACKEND_STATES)
    _opt_text(path + ".tailnet", check["tailnet"], MAX_NAME)
    me = check["self"]
    if me is not None:
        _record(path + ".self", me, TAILSCALE_SELF_KEYS)
        _opt_text(path + ".self.hostname", me["hostname"], MAX_NAME)
        _opt_pattern(path + ".self.dns_name", me["dns_name"], _DNS_NAME, "a DNS name", 253)
        _ips(path + ".self.ips", me["ips"])
        _bool(path + ".self.online", me["online"])
    for i, message in enumerate(_list(path + ".health", check["health"], MAX_HEALTH_MESSAGES)):
        _text(f"{path}.health[{i}]", message)
    for i, peer in enumerate(_list(path + ".peers", check["peers"], MAX_PEERS)):
        where = f"{path}.peers[{i}]"
        _record(where, peer, TAILSCALE_PEER_KEYS)
        _pattern(where + ".name", peer["name"], _PEER_NAME, "a peer name", 253)
        _bool(where + ".found", peer["found"])
        _opt_bool(where + ".online", peer["online"])
        _ips(where + ".ips", peer["ips"])
        _opt_pattern(where + ".last_seen", peer["last_seen"], _TIME, "an RFC 3339 time", 40)
        _opt_pattern(where + ".dns_name", peer["dns_name"], _DNS_NAME, "a DNS name", 253)
    _int(path + ".peer_count", check["peer_count"], 0, 1_000_000)


# --------------------------------------------------------------------------- mqtt


def _mqtt(path: str, check: dict) -> None:
    status = _status(path, "mqtt", check)
    if status != "ok":
        _could_not_look(path, check, frozenset(), frozenset(("brokers",)))
        return
    _record(path, check, frozenset(("status", "error", "brokers")))
    _opt_text(path + ".error", check["error"])
    names = set()
    brokers = _list(path + ".brokers", check["brokers"], MAX_BROKERS)
    for i, b in enumerate(brokers):
        where = f"{path}.brokers[{i}]"
        _record(where, b, BROKER_KEYS)
        _pattern(where + ".name", b["name"], _BROKER_NAME, "a broker name", MAX_NAME)
        _pattern(where + ".host", b["host"], _BROKER_HOST, "a host name or address", 253)
        _int(where + ".port", b["port"], 1, 65535)
        _enum(where + ".status", b["status"], BROKER_STATUSES)
        _bool(where + ".reachable", b["reachable"])
        _opt_int(where + ".connack_code", b["connack_code"], 0, 255)
        reason = b["connack_reason"]
        if reason is not None and not (
            isinstance(reason, str) and (reason in CONNACK_REASONS or _UNKNOWN_CONNACK.fullmatch(reason))
        ):
            raise _fail(where + ".connack_reason", reason, "not a CONNACK reason")
        _bool(where + ".accepted", b["accepted"])
        _opt_number(where + ".latency_ms", b["latency_ms"], 0, 86_400_000)
        roundtrip = b["roundtrip"]
        if roundtrip is not None:
            _record(where + ".roundtrip", roundtrip, ROUNDTRIP_KEYS)
            _bool(where + ".roundtrip.ok", roundtrip["ok"])
            _opt_number(where + ".roundtrip.latency_ms", roundtrip["latency_ms"], 0, 86_400_000)
            _opt_text(where + ".roundtrip.error", roundtrip["error"])
        _opt_text(where + ".error", b["error"])
        names.add(b["name"])
    if len(names) != len(brokers):
        raise _fail(path + ".brokers", brokers, "two brokers with one name")


def _other(path: str, check: dict) -> None:
    """A check this schema has no fields for (node_observe reports an unknown one as check_failed)."""
    _status(path, "", check)
    _could_not_look(path, check, frozenset(), frozenset())


CHECKS = {"docker": _docker, "disk": _disk, "tailscale": _tailscale, "mqtt": _mqtt}


# --------------------------------------------------------------------------- entry points


def check_problem(area: object, check: object) -> InvalidValue | None:
    """Why ``check`` (one entry of a world's ``checks``) is not valid, or None if it is."""
    path = "checks." + inert(area, MAX_NAME) if isinstance(area, str) else "checks"
    if not isinstance(area, str) or not _AREA.fullmatch(area):
        return _fail(path, area, "not a check name")
    if not isinstance(check, dict):
        return _fail(path, check, "not an object")
    try:
        CHECKS.get(area, _other)(path, check)
    except InvalidValue as exc:
        return exc
    return None


def report_size(checks: object) -> int:
    """The size of a module's ``checks`` as compact JSON, in bytes (ASCII: what the node sent)."""
    try:
        return len(json.dumps(checks, separators=(",", ":")))
    except (TypeError, ValueError):
        return MAX_REPORT_BYTES + 1  # not JSON at all: never looked at


_OBSERVED_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)")
_CYCLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]{0,127}")


def cycle_problem(cycle: object) -> str | None:
    """Why ``cycle`` cannot be a world file's cycle id, or None."""
    if isinstance(cycle, str) and _CYCLE.fullmatch(cycle):
        return None
    return "a cycle id is 1 to 128 of A-Z a-z 0-9 _ . : + - (starting with a letter or digit), got " + excerpt(cycle)


def world_problem(doc: object, expected_host: str) -> InvalidValue | None:
    """Why ``doc`` is not a valid world document for ``expected_host``, or None: the envelope,
    then every check (the controller's loader has each check judged by its area instead)."""
    problem = envelope_problem(doc, expected_host)
    if problem is not None:
        return problem
    checks = doc["checks"]  # a valid envelope: an object whose checks is an object
    for area in checks:
        problem = check_problem(area, checks[area])
        if problem is not None:
            return problem
    return None


def envelope_problem(doc: object, expected_host: str) -> InvalidValue | None:
    """Why ``doc`` is not a valid world document for ``expected_host`` around its checks, or None:
    its keys, host, time, cycle, reachability, and ``checks`` an object (each check is not looked at).

    Used by the controller's loader on every world file and on every world document a look returns.
    """
    try:
        if not isinstance(doc, dict):
            raise _fail("world", doc, "not a JSON object")
        if doc.get("schema") != SCHEMA_VERSION or isinstance(doc.get("schema"), bool):
            raise _fail("schema", doc.get("schema"), f"expected {SCHEMA_VERSION}")
        _record("world", doc, WORLD_KEYS)
        if doc["host"] != expected_host:
            raise _fail("host", doc["host"], "not the host the file is for, " + excerpt(expected_host))
        observed_at = doc["observed_at"]
        _pattern("observed_at", observed_at, _OBSERVED_AT, "an ISO 8601 time with a time zone", 40)
        try:
            datetime.fromisoformat(observed_at.replace("Z", "+00:00"))
        except ValueError:
            raise _fail("observed_at", observed_at, "not an ISO 8601 time") from None
        _pattern("cycle", doc["cycle"], _CYCLE, "a cycle id", 128)
        _bool("reachable", doc["reachable"])
        _opt_text("error", doc["error"])
        checks = doc["checks"]
        if not isinstance(checks, dict):
            raise _fail("checks", checks, "not an object")
        if not doc["reachable"] and checks:
            raise _fail("checks", checks, "must be empty for an unreachable host")
    except InvalidValue as exc:
        return exc
    return None
