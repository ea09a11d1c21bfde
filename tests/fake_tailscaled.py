#!/usr/bin/env python3
"""A stand-in for tailscaled's LocalAPI: real HTTP on a real unix socket, recorded answers.

Tailscale cannot run on the build machines, so the Tailscale check is tested against this:
it speaks HTTP/1.1 on a unix socket the way tailscaled's LocalAPI server does, and serves an
``ipnstate.Status`` document shaped exactly like the daemon's (same field names, order and
encodings). Only the *content* is made up.

Followed from the Tailscale sources (github.com/tailscale/tailscale):

* ``ipn/ipnstate/ipnstate.go`` - types Status, PeerStatus, TailnetStatus, ExitNodeStatus:
  field names and order, ``Peer`` keyed by node public key (``nodekey:<hex>``), DNSName with
  a trailing dot, ``LastSeen`` "only present if offline" (else Go's zero time).
* ``ipn/ipnlocal/local.go`` - LocalBackend.UpdateStatus: what Self holds with and without a
  netmap (no netmap: OS hostname, no IPs, no CurrentTailnet, no peers), Online from the map poll.
* ``ipn/localapi/localapi.go`` - Handler.ServeHTTP: 403 "invalid localapi request" when the
  request has a Referer or an Origin or a Host other than "local-tailscaled.sock" (or empty);
  the Tailscale-Version / Tailscale-Cap / CSP / X-Frame-Options / X-Content-Type-Options
  headers; unknown /localapi/v0/ names -> http.NotFound; serveStatus: 403 "status access
  denied" without read permission, else the Status JSON indented with tabs
  (json.Encoder + SetIndent("", "\\t"), so one trailing newline).
* ``ipn/ipnserver/server.go`` - Server.serveHTTP: only /localapi/ paths reach the LocalAPI;
  "/" is a small HTML page; any other path is a 404.
* ``client/local/local.go`` - how the CLI calls it: GET http://local-tailscaled.sock/localapi/v0/status
  over the socket, a ``Tailscale-Cap`` header, no other authentication on Linux (the
  ``Sec-Tailscale: localapi`` header belongs to tsnet's loopback listener, not to tailscaled).
* ``health/warnings.go`` - the health texts ("Tailscale is stopped.", "You are logged out.").

Go's net/http details kept: HTTP/1.1 keep-alive, no Server header, ``Content-Length`` for
bodies that fit the 2048-byte buffer and ``Transfer-Encoding: chunked`` for larger ones,
http.Error bodies as ``text/plain; charset=utf-8`` + "\\n", 400 for a request without Host.

Use it from tests::

    with FakeTailscaled(sock_path, scenario="running") as fake:
        ...                              # fake.requests, fake.set_mode("forbidden"), ...

or run it::

    python3 tests/fake_tailscaled.py --socket /tmp/x/tailscaled.sock --scenario running
    python3 tests/fake_tailscaled.py --socket S --fixture status.json --daemon --pidfile P
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import http.server
import json
import os
import signal
import socket
import socketserver
import stat
import sys
import threading
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

LOCALAPI_HOST = "local-tailscaled.sock"
VERSION = "1.82.5-tdec88625e-gec2eb9730"
CAPABILITY_VERSION = "113"
ZERO_TIME = "0001-01-01T00:00:00Z"
ZERO_NODEKEY = "nodekey:" + "0" * 64
# net/http's bufferBeforeChunkingSize: a handler's body up to this size gets a Content-Length.
_GO_CHUNKING_THRESHOLD = 2048

SCENARIOS = ("running", "needs-login", "needs-machine-auth", "stopped", "starting", "no-state")
MODES = ("ok", "forbidden", "error", "garbage")

TAILNET = "homelab.example"
MAGIC_DNS_SUFFIX = "tail4e2a9c.ts.net"
USER_ID = 7100432152811536


def _peer(
    *,
    stable_id: str,
    key_hex: str,
    hostname: str,
    ips: list[str] | None,
    online: bool,
    last_seen: str = ZERO_TIME,
    os_name: str = "linux",
    dns: bool = True,
    relay: str = "fra",
) -> dict[str, Any]:
    """One PeerStatus, fields in ipnstate.go order (omitempty fields left out when empty)."""
    return {
        "ID": stable_id,
        "PublicKey": "nodekey:" + key_hex,
        "HostName": hostname,
        "DNSName": f"{hostname}.{MAGIC_DNS_SUFFIX}." if dns else "",
        "OS": os_name,
        "UserID": USER_ID if dns else 0,
        "TailscaleIPs": ips,
        "AllowedIPs": [f"{ip}/32" if "." in ip else f"{ip}/128" for ip in ips] if ips else None,
        "Addrs": None,
        "CurAddr": "",
        "Relay": relay if dns else "",
        "RxBytes": 0,
        "TxBytes": 0,
        "Created": "2025-11-02T09:14:03.512784231Z" if dns else ZERO_TIME,
        "LastWrite": ZERO_TIME,
        "LastSeen": last_seen,
        "LastHandshake": ZERO_TIME,
        "Online": online,
        "ExitNode": False,
        "ExitNodeOption": False,
        "Active": False,
        "PeerAPIURL": [f"http://{ips[0]}:42173"] if ips else None,
        "InNetworkMap": dns,
        "InMagicSock": dns and online,
        "InEngine": dns and online,
        **({"KeyExpiry": "2026-05-01T09:14:03Z"} if dns else {}),
    }


def _without_none_omitempty(peer: dict[str, Any]) -> dict[str, Any]:
    # AllowedIPs is `json:",omitempty"` (a pointer): absent rather than null when empty.
    if peer.get("AllowedIPs") is None:
        peer.pop("AllowedIPs", None)
    return peer


def _status(
    backend_state: str,
    *,
    logged_in: bool,
    online: bool,
    health: list[str],
    auth_url: str = "",
) -> dict[str, Any]:
    """An ipnstate.Status in ipnstate.go field order.

    ``logged_in`` means there is a netmap (Running, or Starting after a login): Self has its
    MagicDNS name and IPs, CurrentTailnet is set and the peers are listed. Without a netmap
    (NeedsLogin, NeedsMachineAuth before approval, Stopped, NoState) tailscaled reports the
    OS hostname only, no IPs, no tailnet and ``"Peer": null``.
    """
    self_ips = ["100.101.42.11", "fd7a:115c:a1e0::6b01:2a0b"] if logged_in else None
    me = _without_none_omitempty(
        _peer(
            stable_id="nR5wQ3aCNTRL" if logged_in else "",
            key_hex="5f1b0c7d93a2e4f6a8b0c1d2e3f405162738495a6b7c8d9eafb0c1d2e3f40516" if logged_in else "0" * 64,
            hostname="saturn",
            ips=self_ips,
            online=online,
            dns=logged_in,
        )
    )
    if not logged_in:
        me["PublicKey"] = ZERO_NODEKEY
    peers = None
    if logged_in:
        piha = _peer(
            stable_id="nK2pHa1CNTRL",
            key_hex="a3c94e1f0b7d2c58e6f4a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1",
            hostname="piha",
            ips=["100.101.42.13", "fd7a:115c:a1e0::6b01:2a0d"],
            online=True,
        )
        solaria = _peer(
            stable_id="nS7oLr4CNTRL",
            key_hex="0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e",
            hostname="solaria",
            ips=["100.101.42.12", "fd7a:115c:a1e0::6b01:2a0c"],
            online=False,
            last_seen="2026-03-14T06:52:19Z",
        )
        peers = {p["PublicKey"]: p for p in (piha, solaria)}
    return {
        "Version": VERSION,
        "TUN": True,
        "BackendState": backend_state,
        "HaveNodeKey": logged_in or backend_state == "NeedsMachineAuth",
        "AuthURL": auth_url,
        "TailscaleIPs": self_ips,
        "Self": me,
        "Health": health,
        "MagicDNSSuffix": MAGIC_DNS_SUFFIX if logged_in else "",
        "CurrentTailnet": (
            {"Name": TAILNET, "MagicDNSSuffix": MAGIC_DNS_SUFFIX, "MagicDNSEnabled": True} if logged_in else None
        ),
        "CertDomains": None,
        "Peer": peers,
        "User": (
            {
                str(USER_ID): {
                    "ID": USER_ID,
                    "LoginName": "ops@homelab.example",
                    "DisplayName": "Homelab Ops",
                    "ProfilePicURL": "",
                }
            }
            if logged_in
            else None
        ),
        "ClientVersion": None,
    }


def build_scenario(name: str) -> dict[str, Any]:
    """A fresh Status document for one of :data:`SCENARIOS`.

    ``running``: self ``saturn`` online in tailnet ``homelab.example``, peers ``piha`` (online)
    and ``solaria`` (offline, LastSeen set). The others have no netmap (see _status).
    """
    name = name.replace("_", "-").lower()
    if name == "running":
        return _status("Running", logged_in=True, online=True, health=[])
    if name == "needs-login":
        return _status(
            "NeedsLogin",
            logged_in=False,
            online=False,
            health=["You are logged out."],
            auth_url="https://login.tailscale.com/a/1f0e2d3c4b5a69",
        )
    if name == "needs-machine-auth":
        return _status("NeedsMachineAuth", logged_in=False, online=False, health=[])
    if name == "stopped":
        return _status("Stopped", logged_in=False, online=False, health=["Tailscale is stopped."])
    if name == "starting":
        return _status("Starting", logged_in=True, online=False, health=["Tailscale is starting. Please wait."])
    if name == "no-state":
        return _status("NoState", logged_in=False, online=False, health=[])
    raise ValueError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")


def encode_status(doc: dict[str, Any]) -> bytes:
    """Bytes as tailscaled writes them: json.Encoder with SetIndent("", "\\t"), one newline."""
    return (json.dumps(doc, indent="\t", ensure_ascii=False) + "\n").encode()


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeTailscaled


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Go's net/http
    server: _Server

    # --- Go net/http look-alike -------------------------------------------------------
    def _start(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Date", formatdate(usegmt=True))

    def _send(self, status: int, body: bytes, content_type: str, extra: list[tuple[str, str]] | None = None) -> None:
        headers = list(extra or []) + [("Content-Type", content_type)]
        self._start(status, headers)
        if len(body) <= _GO_CHUNKING_THRESHOLD:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.command == "HEAD":
            return
        for start in range(0, len(body), 4096):
            chunk = body[start : start + 4096]
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def _error(self, status: int, message: str, extra: list[tuple[str, str]] | None = None) -> None:
        """http.Error: text/plain, nosniff, message plus a newline."""
        headers = list(extra or []) + [("X-Content-Type-Options", "nosniff")]
        self._send(status, (message + "\n").encode(), "text/plain; charset=utf-8", headers)

    # --- routing (ipnserver.Server.serveHTTP -> localapi.Handler.ServeHTTP) --------------
    def _handle(self) -> None:
        fake = self.server.fake
        path = self.path.split("?", 1)[0]
        fake._record(self.command, self.path, dict(self.headers.items()))
        if "Host" not in self.headers:
            self._error(400, "400 Bad Request: missing required Host header")
            self.close_connection = True
            return
        if not path.startswith("/localapi/"):
            if path == "/":
                body = b"<html><title>Tailscale</title><body><h1>Tailscale</h1>This is the local Tailscale daemon.\n"
                self._send(200, body, "text/html; charset=utf-8")
            else:
                self._error(404, "404 page not found")
            return
        if fake.mode == "error":
            # localapi.Handler.ServeHTTP before anything else when it has no backend.
            self._error(500, "server has no local backend")
            return
        host = self.headers.get("Host", "")
        if self.headers.get("Referer") or self.headers.get("Origin") or host not in ("", LOCALAPI_HOST):
            self._error(403, "invalid localapi request")
            return
        localapi_headers = [
            ("Tailscale-Version", VERSION),
            ("Tailscale-Cap", CAPABILITY_VERSION),
            (
                "Content-Security-Policy",
                "default-src 'none'; frame-ancestors 'none'; script-src 'none'; "
                "script-src-elem 'none'; script-src-attr 'none'",
            ),
            ("X-Frame-Options", "DENY"),
            ("X-Content-Type-Options", "nosniff"),
        ]
        if path != "/localapi/v0/status":
            self._error(404, "404 page not found", localapi_headers[:-1])
            return
        if fake.mode == "forbidden":
            self._error(403, "status access denied", localapi_headers[:-1])
            return
        body = fake.status_body()
        if fake.mode == "garbage":
            body = body[: len(body) // 2]  # a daemon that died mid-answer: truncated JSON
        self._send(200, body, "application/json", localapi_headers)

    def do_GET(self) -> None:  # http.server's naming
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def address_string(self) -> str:
        return "unix"

    def log_message(self, format: str, *args: object) -> None:
        if self.server.fake.verbose:
            sys.stderr.write(f"fake_tailscaled: {format % args}\n")


def _remove_stale_socket(path: str) -> None:
    """Like tailscaled's safesocket: remove a leftover socket nobody listens on."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FileExistsError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)
        return
    finally:
        probe.close()
    raise FileExistsError(f"something is already listening on {path}")


class FakeTailscaled:
    """Serve a Status document on ``socket_path`` (in a background thread) until close().

    ``status``: a Status dict, or raw bytes to serve as the body verbatim; default: the
    ``scenario`` document. ``mode``: ``ok``; ``forbidden`` (403 "status access denied", as for
    a caller without read permission); ``error`` (500 "server has no local backend");
    ``garbage`` (200 with the JSON cut in half).
    """

    def __init__(
        self,
        socket_path: str,
        *,
        scenario: str = "running",
        status: dict[str, Any] | bytes | None = None,
        mode: str = "ok",
        socket_mode: int = 0o666,
        verbose: bool = False,
    ) -> None:
        self.socket_path = socket_path
        self.verbose = verbose
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self.set_mode(mode)
        self.set_status(status if status is not None else build_scenario(scenario))
        Path(socket_path).parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_socket(socket_path)
        self._server = _Server(socket_path, _Handler)
        self._server.fake = self
        os.chmod(socket_path, socket_mode)  # tailscaled's socket is 0666
        self._thread: threading.Thread | None = None

    def start(self) -> FakeTailscaled:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name="fake-tailscaled", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.1)

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        self.mode = mode

    def set_status(self, status: dict[str, Any] | bytes) -> None:
        with self._lock:
            self._status = status if isinstance(status, bytes) else copy.deepcopy(status)

    def status_body(self) -> bytes:
        with self._lock:
            return self._status if isinstance(self._status, bytes) else encode_status(self._status)

    def _record(self, method: str, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((method, path, headers))

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)

    def __enter__(self) -> FakeTailscaled:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve a fake tailscaled LocalAPI on a unix socket.")
    parser.add_argument("--socket", required=True, help="unix socket path to listen on")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--scenario", default="running", help=f"built-in status document: {', '.join(SCENARIOS)} (default: running)"
    )
    source.add_argument("--fixture", help="JSON file holding the ipnstate.Status document to serve")
    parser.add_argument("--mode", default="ok", choices=MODES, help="how to answer /localapi/v0/status")
    parser.add_argument("--socket-mode", default="0666", help="permissions of the socket file (octal)")
    parser.add_argument("--pidfile", help="write the serving process's PID here (removed on exit)")
    parser.add_argument("--daemon", action="store_true", help="detach; return once the socket accepts connections")
    parser.add_argument("--log", help="with --daemon: append stderr here instead of discarding it")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)
    if args.fixture is None and args.scenario.replace("_", "-").lower() not in SCENARIOS:
        parser.error(f"unknown scenario {args.scenario!r}; choose one of {', '.join(SCENARIOS)}")
    return args


def _load(args: argparse.Namespace) -> dict[str, Any]:
    if args.fixture:
        doc = json.loads(Path(args.fixture).read_text())
        if not isinstance(doc, dict) or "BackendState" not in doc:
            raise SystemExit(f"{args.fixture}: not an ipnstate.Status document (no BackendState)")
        return doc
    return build_scenario(args.scenario)


def _serve(args: argparse.Namespace, ready_fd: int | None = None) -> int:
    fake = FakeTailscaled(
        args.socket, status=_load(args), mode=args.mode, socket_mode=int(args.socket_mode, 8), verbose=args.verbose
    )
    if args.pidfile:
        Path(args.pidfile).write_text(f"{os.getpid()}\n")

    def stop(signum: int, frame: object) -> None:
        # shutdown() waits for serve_forever() to return: call it from another thread.
        threading.Thread(target=fake._server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if ready_fd is not None:
        os.write(ready_fd, b"ready\n")
        os.close(ready_fd)
    else:
        print(f"fake tailscaled ({args.mode}) listening on {args.socket}, pid {os.getpid()}", flush=True)
    try:
        fake.serve_forever()
    finally:
        fake.close()
        if args.pidfile:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(args.pidfile)
    return 0


def _daemonize(args: argparse.Namespace) -> int:
    """Double-fork; the first process returns 0 once the server is listening (1 if it failed)."""
    read_fd, write_fd = os.pipe()
    if os.fork() > 0:
        os.close(write_fd)
        deadline = time.monotonic() + 10
        data = b""
        with os.fdopen(read_fd, "rb") as pipe:
            while time.monotonic() < deadline:
                chunk = pipe.read(64)
                if not chunk:
                    break
                data += chunk
                if b"\n" in data:
                    break
        if data.startswith(b"ready"):
            pid = Path(args.pidfile).read_text().strip() if args.pidfile else "?"
            print(f"fake tailscaled ({args.mode}) listening on {args.socket}, pid {pid}", flush=True)
            return 0
        sys.stderr.write(data.decode(errors="replace") or "fake tailscaled did not start\n")
        return 1
    os.close(read_fd)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    log = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if args.log else devnull
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(log, 2)
    try:
        code = _serve(args, ready_fd=write_fd)
    except BaseException as exc:  # tell the waiting parent why, then die
        with contextlib.suppress(OSError):
            os.write(write_fd, f"fake tailscaled failed: {exc}\n".encode())
        os._exit(1)
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.daemon:
        return _daemonize(args)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
