"""`steward ui` (serve the desk) and `steward ui token add | list | revoke` (who may log in).

The desk binds 127.0.0.1:8754 by default. Reach it from a phone through an SSH tunnel or
Tailscale Serve (docs/operations.md); a bind to another address is allowed but warned about:
without TLS in front the token and the session cookie cross the network in clear.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys

from steward.app.settings import Settings
from steward.core.inert import terminal
from steward.state.tokens import TokenError, Tokens

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8754
FIRST_TOKEN_NAME = "operator"
FIRST_TOKEN_FILE = "ui-first-token"  # in engine/, 0600: the first start's token, for the operator to read


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("ui", help="the operator's web desk: review, approve, reject (127.0.0.1:8754)")
    s.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    s.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    s.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name the page may be asked for besides localhost (repeat; or $STEWARD_UI_HOSTS, comma-separated)",
    )
    ts = s.add_subparsers(dest="ui_command", metavar="token")
    t = ts.add_parser("token", help="desk tokens: add NAME (prints it once), list, revoke NAME")
    tt = t.add_subparsers(dest="token_command", required=True, metavar="add|list|revoke")
    tt.add_parser("add", help="make a token and print it (once)").add_argument("name")
    tt.add_parser("list", help="token names and when they were made (never the tokens)")
    tt.add_parser("revoke", help="delete a token: its sessions end at their next request").add_argument("name")


def allowed_hosts(args: argparse.Namespace) -> tuple[str, ...]:
    extra = [h.strip() for h in os.environ.get("STEWARD_UI_HOSTS", "").split(",") if h.strip()]
    return tuple(h.lower() for h in (*args.allow_host, *extra))


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    tokens = Tokens(settings.paths.ensure())
    try:
        if args.token_command == "add":
            token = tokens.add(args.name)
            print(f"token {args.name}: {token}")
            print("shown once: keep it in a password manager; `steward ui token revoke NAME` ends it", file=sys.stderr)
        elif args.token_command == "list":
            for entry in tokens.names():
                print(f"{entry['name']}\tmade {entry['created_at']}")
        else:
            tokens.revoke(args.name)
            print(f"token {args.name} revoked: its sessions end at their next request")
    except TokenError as exc:
        print(f"error: {terminal(exc)}", file=sys.stderr)
        return 2
    return 0


def first_token(settings: Settings) -> None:
    """On a desk that never had a token: make one, write it to a 0600 file and say where (never to a
    log). Once tokens.json exists (even empty: every token revoked) nothing is made."""
    tokens = Tokens(settings.paths.ensure())
    if os.path.lexists(tokens.file):  # a desk whose tokens were all revoked stays locked
        return
    token = tokens.add(FIRST_TOKEN_NAME)
    where = settings.paths.engine / FIRST_TOKEN_FILE
    fd = os.open(where, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)  # an older file's wider mode is not kept
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    print(
        f"steward ui: no desk token yet; made token '{FIRST_TOKEN_NAME}' and wrote it to {where} (0600).\n"
        f"  Read it (sudo cat {where}), log in with it, then delete the file. "
        "`steward ui token add NAME` makes one per person or device.",
        file=sys.stderr,
    )


def cmd_ui(settings: Settings, args: argparse.Namespace) -> int:
    if args.ui_command == "token":
        return cmd_token(settings, args)
    import uvicorn

    from steward.interfaces.web.app import build_app

    first_token(settings)
    hosts = allowed_hosts(args)
    if not _loopback(args.host):
        print(
            f"steward ui: warning: binding {args.host}, not loopback: without TLS in front (Tailscale Serve, a "
            "reverse proxy) the token and the session cross the network in clear; see docs/operations.md",
            file=sys.stderr,
        )
    app = build_app(settings, hosts)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"steward ui: http://{shown}:{args.port}/ (state folder {settings.state_dir})", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, server_header=False, log_level="info")
    return 0
