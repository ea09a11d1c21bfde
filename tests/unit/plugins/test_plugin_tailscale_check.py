"""_check_tailscale.collect() against a real unix-socket server answering like tailscaled's LocalAPI.

The collector's socket, HTTP (keep-alive, chunked bodies) and JSON handling all run for real;
only tailscaled's answers are made up (tests/fake_tailscaled.py, shaped after Tailscale's sources).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ansible_collections.homelab.steward.plugins.module_utils import _check_tailscale
from ansible_collections.homelab.steward.plugins.module_utils._check_tailscale import (
    RESULT_KEYS,
    InvalidOption,
    collect,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from fake_tailscaled import FakeTailscaled, build_scenario

NOT_OK_FIELDS = dict.fromkeys(("backend_state", "tailnet", "self", "health", "peers", "peer_count"))


@pytest.fixture
def folder() -> Iterator[str]:
    # Short, world-traversable path: AF_UNIX paths are limited to 107 bytes.
    path = tempfile.mkdtemp(prefix="ts-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def daemon(folder: str) -> Iterator[FakeTailscaled]:
    with FakeTailscaled(folder + "/tailscaled.sock", scenario="running") as fake:
        yield fake


def test_running_reports_self_tailnet_and_expected_peers(daemon: FakeTailscaled) -> None:
    result = collect(socket=daemon.socket_path, expected_peers=["piha", "solaria", "vps"], timeout=5)

    assert result == {
        "status": "ok",
        "error": None,
        "socket": daemon.socket_path,
        "backend_state": "Running",
        "tailnet": "homelab.example",
        "self": {
            "hostname": "saturn",
            "dns_name": "saturn.tail4e2a9c.ts.net",
            "ips": ["100.101.42.11", "fd7a:115c:a1e0::6b01:2a0b"],
            "online": True,
        },
        "health": [],
        "peers": [
            {
                "name": "piha",
                "found": True,
                "online": True,
                "ips": ["100.101.42.13", "fd7a:115c:a1e0::6b01:2a0d"],
                "last_seen": None,
                "dns_name": "piha.tail4e2a9c.ts.net",
            },
            {
                "name": "solaria",
                "found": True,
                "online": False,
                "ips": ["100.101.42.12", "fd7a:115c:a1e0::6b01:2a0c"],
                "last_seen": "2026-03-14T06:52:19Z",
                "dns_name": "solaria.tail4e2a9c.ts.net",
            },
            {"name": "vps", "found": False, "online": None, "ips": [], "last_seen": None, "dns_name": None},
        ],
        "peer_count": 2,
    }
    assert list(result) == list(RESULT_KEYS)
    json.dumps(result)  # JSON-able, as the world file needs


def test_asks_like_the_tailscale_cli(daemon: FakeTailscaled) -> None:
    collect(socket=daemon.socket_path)

    [(method, path, headers)] = daemon.requests
    assert (method, path) == ("GET", "/localapi/v0/status")
    assert headers["Host"] == "local-tailscaled.sock"
    assert "Referer" not in headers and "Origin" not in headers


def test_the_fake_refuses_what_tailscaled_refuses(daemon: FakeTailscaled) -> None:
    """The collector's Host header matters: tailscaled answers 403 to any other (localapi.validHost)."""

    def get(path: str, host: str, **headers: str) -> tuple[int, str, str | None]:
        conn = _check_tailscale._LocalAPIConnection(daemon.socket_path, 5)
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        body = response.read().decode()
        conn.close()
        return response.status, body, response.getheader("Transfer-Encoding")

    assert get("/localapi/v0/status", "localhost")[:2] == (403, "invalid localapi request\n")
    assert get("/localapi/v0/status", "local-tailscaled.sock", Origin="http://evil")[0] == 403
    assert get("/localapi/v0/nope", "local-tailscaled.sock")[:2] == (404, "404 page not found\n")
    status, body, transfer = get("/localapi/v0/status", "local-tailscaled.sock")
    # A big status goes out chunked, as Go's net/http sends it.
    assert (status, transfer) == (200, "chunked")
    assert json.loads(body)["BackendState"] == "Running"


@pytest.mark.parametrize(
    ("scenario", "backend_state", "health"),
    [
        ("needs-login", "NeedsLogin", ["You are logged out."]),
        ("needs-machine-auth", "NeedsMachineAuth", []),
        ("stopped", "Stopped", ["Tailscale is stopped."]),
        ("no-state", "NoState", []),
    ],
)
def test_backend_states_without_a_network_map(folder: str, scenario: str, backend_state: str, health: list) -> None:
    with FakeTailscaled(folder + "/tailscaled.sock", scenario=scenario) as fake:
        result = collect(socket=fake.socket_path, expected_peers=["piha"])

    assert result["status"] == "ok" and result["error"] is None
    assert result["backend_state"] == backend_state
    assert result["health"] == health
    assert result["tailnet"] is None
    assert result["self"] == {"hostname": "saturn", "dns_name": None, "ips": [], "online": False}
    # Logged out or stopped: no network map, so the peer is not found (and not "offline").
    assert result["peers"] == [
        {"name": "piha", "found": False, "online": None, "ips": [], "last_seen": None, "dns_name": None}
    ]
    assert result["peer_count"] == 0


def test_starting_with_a_network_map(folder: str) -> None:
    with FakeTailscaled(folder + "/tailscaled.sock", scenario="starting") as fake:
        result = collect(socket=fake.socket_path, expected_peers=["piha"])

    assert result["backend_state"] == "Starting"
    assert result["self"]["online"] is False
    assert result["peers"][0]["found"] is True
    assert result["health"] == ["Tailscale is starting. Please wait."]


def test_peer_names_match_magicdns_label_fqdn_or_hostname_case_insensitively(folder: str) -> None:
    doc = build_scenario("running")
    piha = next(p for p in doc["Peer"].values() if p["HostName"] == "piha")
    piha["HostName"] = "raspberrypi"  # the OS host name differs from the MagicDNS name
    with FakeTailscaled(folder + "/tailscaled.sock", status=doc) as fake:
        result = collect(
            socket=fake.socket_path,
            expected_peers=["PIHA", "raspberrypi", "solaria.TAIL4E2A9C.ts.net.", "piha.other.ts.net", " piha ", ""],
        )

    found = {p["name"]: (p["found"], p["dns_name"]) for p in result["peers"]}
    assert found == {
        "PIHA": (True, "piha.tail4e2a9c.ts.net"),
        "raspberrypi": (True, "piha.tail4e2a9c.ts.net"),
        "solaria.TAIL4E2A9C.ts.net.": (True, "solaria.tail4e2a9c.ts.net"),
        "piha.other.ts.net": (False, None),
    }  # " piha " is a duplicate of "PIHA" once trimmed, "" is dropped


def test_magicdns_name_wins_and_online_wins_among_equals(folder: str) -> None:
    doc = build_scenario("running")
    peers = list(doc["Peer"].values())
    piha, solaria = sorted(peers, key=lambda p: p["HostName"])
    # An old, offline node still called "piha" by its HostName, but with another MagicDNS name.
    old = json.loads(json.dumps(piha))
    old.update(
        PublicKey="nodekey:" + "1" * 64,
        DNSName="piha-1.tail4e2a9c.ts.net.",
        Online=False,
        LastSeen="2025-12-01T10:00:00Z",
        TailscaleIPs=["100.101.42.99"],
    )
    # Same HostName on two nodes, neither with a matching DNS label: the online one wins.
    solaria["HostName"] = "twin"
    solaria["DNSName"] = "twin-2.tail4e2a9c.ts.net."
    twin_online = json.loads(json.dumps(solaria))
    twin_online.update(PublicKey="nodekey:" + "2" * 64, DNSName="twin-3.tail4e2a9c.ts.net.", Online=True)
    doc["Peer"] = {p["PublicKey"]: p for p in (old, piha, solaria, twin_online)}
    with FakeTailscaled(folder + "/tailscaled.sock", status=doc) as fake:
        result = collect(socket=fake.socket_path, expected_peers=["piha", "twin"])

    by_name = {p["name"]: p for p in result["peers"]}
    assert by_name["piha"]["dns_name"] == "piha.tail4e2a9c.ts.net" and by_name["piha"]["online"] is True
    assert by_name["twin"]["dns_name"] == "twin-3.tail4e2a9c.ts.net" and by_name["twin"]["online"] is True
    assert result["peer_count"] == 4


def test_shared_in_nodes_are_neither_matched_nor_counted(folder: str) -> None:
    doc = build_scenario("running")
    for peer in doc["Peer"].values():
        if peer["HostName"] == "solaria":
            peer["ShareeNode"] = True
    with FakeTailscaled(folder + "/tailscaled.sock", status=doc) as fake:
        result = collect(socket=fake.socket_path, expected_peers=["solaria"])

    assert result["peers"][0]["found"] is False
    assert result["peer_count"] == 1


def test_missing_socket_is_absent(folder: str) -> None:
    path = folder + "/tailscaled.sock"
    result = collect(socket=path, expected_peers=["piha"])

    assert result == {
        "status": "absent",
        "error": f"tailscaled socket {path} does not exist: tailscaled is not installed or not running",
        "socket": path,
        **NOT_OK_FIELDS,
    }


def test_missing_directory_is_absent() -> None:
    assert collect(socket="/nonexistent-steward/tailscale/tailscaled.sock")["status"] == "absent"


def test_leftover_socket_with_nothing_listening_is_unreachable(folder: str) -> None:
    path = folder + "/tailscaled.sock"
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(path)  # the file exists, nobody listens: what a killed tailscaled leaves
    leftover.close()

    result = collect(socket=path)

    assert result["status"] == "unreachable"
    assert "connection refused" in result["error"] and path in result["error"]
    assert {k: result[k] for k in NOT_OK_FIELDS} == NOT_OK_FIELDS


def test_a_regular_file_is_unreachable_not_a_socket(folder: str) -> None:
    path = folder + "/tailscaled.sock"
    Path(path).write_text("")

    result = collect(socket=path)

    assert result["status"] == "unreachable"
    assert result["error"] == f"{path} exists but is not a unix socket"


def test_a_daemon_that_never_answers_times_out(folder: str) -> None:
    path = folder + "/tailscaled.sock"
    hung = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hung.bind(path)
    hung.listen(1)  # connections queue up but are never accepted, let alone answered
    try:
        started = time.monotonic()
        result = collect(socket=path, timeout=0.3)
        elapsed = time.monotonic() - started
    finally:
        hung.close()

    assert result["status"] == "unreachable"
    assert result["error"] == f"timed out after 0.3 s waiting for tailscaled to answer on {path}"
    assert elapsed < 2


def test_http_500_is_an_api_error(daemon: FakeTailscaled) -> None:
    daemon.set_mode("error")
    result = collect(socket=daemon.socket_path, expected_peers=["piha"])

    assert result["status"] == "api_error"
    where = f"GET /localapi/v0/status on {daemon.socket_path}"
    assert result["error"] == f"tailscaled answered {where} with HTTP 500: server has no local backend"
    assert result["peers"] is None


def test_truncated_json_is_an_api_error_never_an_empty_status(daemon: FakeTailscaled) -> None:
    daemon.set_mode("garbage")
    result = collect(socket=daemon.socket_path, expected_peers=["piha"])

    assert result["status"] == "api_error"
    assert "not valid JSON" in result["error"]
    assert {k: result[k] for k in NOT_OK_FIELDS} == NOT_OK_FIELDS


@pytest.mark.parametrize("body", [b"[]\n", b'{"Self": {}}\n', b"\xff\xfe not utf-8"])
def test_json_that_is_not_a_status_is_an_api_error(daemon: FakeTailscaled, body: bytes) -> None:
    daemon.set_status(body)
    result = collect(socket=daemon.socket_path)

    assert result["status"] == "api_error"


def test_403_is_permission_denied(daemon: FakeTailscaled) -> None:
    daemon.set_mode("forbidden")
    result = collect(socket=daemon.socket_path)

    assert result["status"] == "permission_denied"
    assert result["error"].endswith("with HTTP 403: status access denied")


def test_a_server_that_hangs_up_is_unreachable(folder: str) -> None:
    path = folder + "/tailscaled.sock"
    rude = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    rude.bind(path)
    rude.listen(1)

    def hang_up() -> None:
        conn, _ = rude.accept()
        conn.recv(4096)
        conn.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    try:
        result = collect(socket=path, timeout=5)
    finally:
        thread.join(timeout=5)
        rude.close()

    assert result["status"] == "unreachable"
    assert "closed the connection" in result["error"]


SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the collector as another user")
@pytest.mark.skipif(SYSTEM_PYTHON is None, reason="needs a system python3 that `nobody` may run")
def test_socket_the_user_may_not_open_is_permission_denied(folder: str) -> None:
    # Root may open anything, so ask as `nobody`, with the node's own python3 (the venv's may
    # live under /root) and a copy of the collector it can read: stdlib only, as on a node.
    with FakeTailscaled(folder + "/tailscaled.sock", socket_mode=0o600) as fake:
        shutil.copy(_check_tailscale.__file__, folder + "/check_tailscale.py")
        os.chmod(folder + "/check_tailscale.py", 0o644)
        code = (
            f"import sys; sys.path.insert(0, {folder!r}); import json, check_tailscale; "
            f"print(json.dumps(check_tailscale.collect(socket={fake.socket_path!r})))"
        )
        proc = subprocess.run(
            [str(SYSTEM_PYTHON), "-I", "-c", code],
            cwd=folder,
            user="nobody",
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "permission_denied"
    assert fake.socket_path in result["error"]
    assert fake.requests == []


@pytest.mark.parametrize(
    "options",
    [
        {"socket": "tailscaled.sock"},
        {"socket": ""},
        {"timeout": 0},
        {"timeout": -1.5},
        {"timeout": True},
        {"expected_peers": "piha"},
        {"expected_peers": ["piha", 3]},
    ],
)
def test_options_that_cannot_work_raise(options: dict) -> None:
    with pytest.raises(InvalidOption):
        collect(**options)


def test_defaults_ask_the_standard_socket() -> None:
    result = collect()
    assert result["socket"] == "/var/run/tailscale/tailscaled.sock"
    assert result["status"] in {"ok", "absent", "unreachable", "permission_denied", "api_error"}


def test_each_collection_is_one_request(daemon: FakeTailscaled) -> None:
    first = collect(socket=daemon.socket_path, expected_peers=["piha"])
    second = collect(socket=daemon.socket_path, expected_peers=["piha"])
    assert first == second
    assert [path for _, path, _ in daemon.requests] == ["/localapi/v0/status"] * 2
