"""Disk, Tailscale and MQTT desired state: parsing errors name host and variable; drift per kind."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from helpers import world_doc
from steward.areas import disk, mqtt, tailscale
from steward.desired.host import HostDesired
from steward.plan.drift import compute_drift

NOW = datetime.now(UTC)


def world_with(area: str, check: dict) -> dict:
    doc = world_doc("piha", [], observed_at=NOW)
    doc["checks"] = {area: check}
    return doc


def keys(host: HostDesired, area: str, check: dict) -> list[tuple[str, bool]]:
    return [(d.key, d.notice_only) for d in compute_drift(host, world_with(area, check), NOW, 900)]


def mount(path: str, **kw) -> dict:
    return {"path": path, "present": True, "used_pct": 50.0, "inodes_used_pct": 10.0, "read_only": False, **kw}


def test_disk_parse_forms_and_errors() -> None:
    rules, problems = disk.AREA.parse("piha", {"/": 90, "/data": {"max_used_pct": 80, "max_inodes_pct": 95}})
    assert problems == [] and rules == (disk.DiskRule("/", 90), disk.DiskRule("/data", 80, 95))
    _, problems = disk.AREA.parse("piha", {"data": 90, "/x": 150, "/y": {"max_used": 3}, "/z": True})
    text = "; ".join(f"{h} {v}: {m}" for h, v, m in problems)
    assert "steward_disk['data']: the key must be an absolute mount path" in text
    assert "steward_disk['/x']: must be a whole percentage" in text
    assert "unknown key(s) max_used" in text and "steward_disk['/z']: must be a whole percentage" in text
    assert all(h == "piha" for h, _, _ in problems)


def test_disk_drift_kinds() -> None:
    host = HostDesired(
        "piha", areas={"disk": (disk.DiskRule("/", 90), disk.DiskRule("/data", 80, 50), disk.DiskRule("/gone", 80))}
    )
    check = {
        "status": "ok",
        "error": None,
        "mounts": [
            mount("/", used_pct=91.5),
            mount("/data", read_only=True, inodes_used_pct=60.0),
            {"path": "/gone", "present": False, "error": "No such file or directory"},
        ],
    }
    assert keys(host, "disk", check) == [
        ("piha/disk/root/over_threshold", False),
        ("piha/disk/data/read_only", True),
        ("piha/disk/data/inodes_over_threshold", True),
        ("piha/disk/gone/missing", True),
    ]


def test_disk_fingerprint_does_not_move_with_usage() -> None:
    host = HostDesired("piha", areas={"disk": (disk.DiskRule("/", 90),)})
    a = compute_drift(host, world_with("disk", {"status": "ok", "mounts": [mount("/", used_pct=91.0)]}), NOW, 900)
    b = compute_drift(host, world_with("disk", {"status": "ok", "mounts": [mount("/", used_pct=93.4)]}), NOW, 900)
    assert a[0].fingerprint == b[0].fingerprint and a[0].summary != b[0].summary


def ts_check(state: str = "Running", peers: list | None = None, status: str = "ok") -> dict:
    return {"status": status, "error": None if status == "ok" else "x", "backend_state": state, "peers": peers or []}


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        (ts_check(), []),
        (ts_check("NeedsLogin"), [("piha/tailscale/daemon/needs_login", True)]),
        (ts_check("Stopped"), [("piha/tailscale/daemon/stopped", False)]),
        (ts_check(status="absent"), [("piha/tailscale/daemon/absent", True)]),
        (ts_check(status="unreachable"), [("piha/tailscale/daemon/daemon_down", False)]),
        (
            ts_check(
                peers=[
                    {"name": "saturn", "found": True, "online": False},
                    {"name": "vps", "found": False, "online": None},
                ]
            ),
            [("piha/tailscale/saturn/peer_offline", True), ("piha/tailscale/vps/peer_missing", True)],
        ),
    ],
)
def test_tailscale_drift(check: dict, expected: list) -> None:
    host = HostDesired(
        "piha", areas={"tailscale": tailscale.TailscaleWant(required=True, expected_peers=("saturn", "vps"))}
    )
    assert keys(host, "tailscale", check) == expected


def test_tailscale_not_required_and_absent_is_fine() -> None:
    assert (
        keys(
            HostDesired("piha", areas={"tailscale": tailscale.TailscaleWant()}), "tailscale", ts_check(status="absent")
        )
        == []
    )
    assert keys(HostDesired("piha"), "tailscale", ts_check("NeedsLogin")) == []


def test_tailscale_parse_errors() -> None:
    _, problems = tailscale.AREA.parse("vps", {"required": "yes", "expected_peers": "saturn", "peers": []})
    text = "; ".join(f"{v}: {m}" for _, v, m in problems)
    assert "unknown key(s) peers" in text and "steward_tailscale.required: must be true or false" in text
    assert "steward_tailscale.expected_peers: must be a list" in text


def test_mqtt_drift_and_parse() -> None:
    brokers, problems = mqtt.AREA.parse(
        "piha",
        [
            {"name": "main", "host": "127.0.0.1", "port": 1883, "roundtrip": True},
            {"name": "edge", "host": "vps"},
            {"name": "auth", "host": "x"},
        ],
    )
    assert problems == []
    host = HostDesired("piha", areas={"mqtt": brokers})
    check = {
        "status": "ok",
        "error": None,
        "brokers": [
            {"name": "main", "reachable": True, "accepted": True, "roundtrip": {"ok": False, "error": "timeout"}},
            {"name": "edge", "reachable": False, "error": "connection refused"},
            {
                "name": "auth",
                "reachable": True,
                "accepted": False,
                "connack_code": 5,
                "connack_reason": "not authorised",
            },
        ],
    }
    assert keys(host, "mqtt", check) == [
        ("piha/mqtt/main/roundtrip_failed", True),
        ("piha/mqtt/edge/unreachable", True),
        ("piha/mqtt/auth/rejected", True),
    ]
    _, problems = mqtt.AREA.parse("piha", [{"name": "m", "host": "", "port": 99999, "tls": True}])
    text = "; ".join(f"{v}: {m}" for _, v, m in problems)
    assert "unknown key(s) tls" in text and "steward_mqtt_brokers[0].port: must be a TCP port" in text
    assert "steward_mqtt_brokers[0].host" in text
