"""Valid module reports, one per check, shaped exactly like the collectors' (plugins/module_utils/_check_*.py),
and the hostile variants a compromised node could send instead. Shared by the schema unit tests and the
hostile-node fault suite."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from helpers import container

IMAGE = "steward-lab/busybox:1"


def docker_ok(containers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "status": "ok",
        "error": None,
        "docker_host": "unix:///var/run/docker.sock",
        "containers": containers if containers is not None else [container("web"), container("db", state="exited")],
    }


def mount(path: str = "/", **kw: Any) -> dict[str, Any]:
    return {
        "path": path,
        "present": True,
        "error": None,
        "max_used_pct": 90,
        "max_inodes_pct": None,
        "is_mountpoint": True,
        "mount_point": path,
        "fstype": "ext4",
        "device": "/dev/sda1",
        "read_only": False,
        "total_bytes": 100_000_000_000,
        "used_bytes": 41_000_000_000,
        "avail_bytes": 54_000_000_000,
        "used_pct": 43.2,
        "inodes_total": 6_553_600,
        "inodes_used": 400_000,
        "inodes_free": 6_153_600,
        "inodes_used_pct": 6.2,
        **kw,
    }


def disk_ok() -> dict[str, Any]:
    missing = {k: None for k in mount()} | {"path": "/srv/gone", "present": False, "error": "/srv/gone does not exist"}
    return {"status": "ok", "error": None, "mounts": [mount("/"), missing]}


def tailscale_ok() -> dict[str, Any]:
    return {
        "status": "ok",
        "error": None,
        "socket": "/var/run/tailscale/tailscaled.sock",
        "backend_state": "Running",
        "tailnet": "example.org",
        "self": {
            "hostname": "piha",
            "dns_name": "piha.tail0.ts.net",
            "ips": ["100.64.0.2", "fd7a:115c:a1e0::2"],
            "online": True,
        },
        "health": ["Some peers are advertising routes but --accept-routes is false"],
        "peers": [
            {
                "name": "saturn",
                "found": True,
                "online": False,
                "ips": ["100.64.0.1"],
                "last_seen": "2026-11-27T03:00:00Z",
                "dns_name": "saturn.tail0.ts.net",
            }
        ],
        "peer_count": 3,
    }


def mqtt_ok() -> dict[str, Any]:
    return {
        "status": "ok",
        "error": None,
        "brokers": [
            {
                "name": "main",
                "host": "127.0.0.1",
                "port": 1883,
                "status": "refused",
                "reachable": True,
                "connack_code": 5,
                "connack_reason": "not authorised",
                "accepted": False,
                "latency_ms": 1.3,
                "roundtrip": {
                    "ok": False,
                    "latency_ms": None,
                    "error": "not attempted: the connection was not accepted",
                },
                "error": "broker refused the connection: not authorised (CONNACK 5)",
            }
        ],
    }


def valid_checks() -> dict[str, dict[str, Any]]:
    return {"docker": docker_ok(), "disk": disk_ok(), "tailscale": tailscale_ok(), "mqtt": mqtt_ok()}


# every observed field of every check: (area, path to the field, a valid report holding it)
def _fields() -> Iterator[tuple[str, tuple[Any, ...]]]:
    checks = valid_checks()
    for area, check in checks.items():
        for key in check:
            yield area, (key,)
    for key in container("x"):
        yield "docker", ("containers", 0, key)
    for key in mount():
        yield "disk", ("mounts", 0, key)
    for key in tailscale_ok()["self"]:
        yield "tailscale", ("self", key)
    for key in tailscale_ok()["peers"][0]:
        yield "tailscale", ("peers", 0, key)
    for key in mqtt_ok()["brokers"][0]:
        yield "mqtt", ("brokers", 0, key)
    for key in mqtt_ok()["brokers"][0]["roundtrip"]:
        yield "mqtt", ("brokers", 0, "roundtrip", key)


FIELDS = list(_fields())


def wrong_type(value: Any) -> Any:
    """A value of another JSON type than ``value`` (and than null, unless the field is never null)."""
    if isinstance(value, bool):
        return "true"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return ["x"]
    if isinstance(value, list):
        return {"0": "x"}
    if isinstance(value, dict):
        return [value]
    return {"nested": [1, 2]}  # a field that is null in the valid report


def with_value(check: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(check)
    node = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return out


def field_path(area: str, path: tuple[Any, ...]) -> str:
    """The schema's name of a field: checks.docker.containers[0].image."""
    text = f"checks.{area}"
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else f".{step}"
    return text


# strings a compromised node would send, to be put in string fields
HOSTILE_STRINGS = {
    "yaml play": "evil:1\n---\n- hosts: localhost\n  tasks:\n  - ansible.builtin.shell: touch /tmp/x\n#",
    "document end": "web\n...\n",
    "jinja expression": "{{ lookup('ansible.builtin.pipe', 'id > /tmp/steward-pwned') }}",
    "jinja statement": "{% for x in range(9999999) %}{% endfor %}",
    "ansi escape": "web\x1b[2J\x1b[1;1Hall good",
    "carriage return": "web\rfine",
    "unicode line separator": "web\u2028- hosts: all",
    "bidi override": "web\u202egnp.exe",
    "nul": "web\x00",
    "1 MB": "a" * 1_000_000,
    "lone surrogate": "web\udcff",
}
