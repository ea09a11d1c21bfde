"""`steward` command line: the argument parser and the exit codes. Exit codes: 0 ok, 1 failure,
2 usage or bad input.

Each command is a function of commands.py or actions.py that calls one use case of steward.app
and prints its result (output.py): nothing here, nor there, decides anything itself. Everything
printed for a human goes through `steward.core.inert.terminal`; `--json` output is JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable

from steward.app.errors import (
    BadActionId,
    ConfigError,
    DesiredStateError,
    InventoryChanged,
    NoHostMatched,
    QueueError,
    UnsafeStateDir,
)
from steward.app.settings import Settings, find_project_dir, recheck, resolve_settings
from steward.core.inert import terminal
from steward.interfaces.bot import cli as bot_cli
from steward.interfaces.cli.actions import cmd_approve, cmd_list, cmd_preview, cmd_reject, cmd_show
from steward.interfaces.cli.commands import (
    cmd_ack_storm,
    cmd_clear,
    cmd_events,
    cmd_execute,
    cmd_init,
    cmd_observe,
    cmd_plan,
    cmd_silence,
    cmd_status,
)
from steward.interfaces.cli.diagnose import cmd_diagnose
from steward.interfaces.cli.output import BAD_INPUT, FAILURE
from steward.interfaces.web import cli as ui_cli

Command = Callable[[Settings, argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="steward",
        description="Observe, plan, approve, execute: homelab drift remediation that never acts without a human.",
    )
    p.add_argument(
        "-i", "--inventory", help="inventory (desired state); default $STEWARD_INVENTORY or inventory/hosts.yml"
    )
    p.add_argument(
        "--state-dir", help="state folder; default $STEWARD_STATE_DIR, the inventory's steward_state_dir, or ./state"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every journal event to stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("observe", help="run observe.yml (world state), then one plan cycle")
    s.add_argument("--limit", help="observe only this host or pattern")
    s.add_argument("--no-plan", action="store_true", help="only observe")
    s.add_argument("--json", action="store_true")
    s = sub.add_parser("plan", help="one drift cycle over the current world state")
    s.add_argument("--json", action="store_true")
    s = sub.add_parser("list", aliases=["pending"], help="actions (pending, approved, running by default)")
    s.add_argument("--all", action="store_true", help="every folder, ended ones too")
    s.add_argument("--json", action="store_true")
    s = sub.add_parser("show", help="one action: where it is, its playbook and its result")
    s.add_argument("id")
    s.add_argument("--json", action="store_true")
    s = sub.add_parser(
        "preview", help="the dry run of a Compose action (docker compose up --dry-run), stored beside it"
    )
    s.add_argument("id")
    s.add_argument("--json", action="store_true")
    s = sub.add_parser("diagnose", help="a local model's second opinion on pending actions (never acts)")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("id", nargs="?", help="diagnose this pending action now (again, if it has a diagnosis)")
    g.add_argument("--once", action="store_true", help="one pass: every pending action without a diagnosis")
    g.add_argument("--watch", action="store_true", help="keep diagnosing new pending actions (the service)")
    s.add_argument("--interval", type=float, default=5.0, help="seconds between passes with --watch")
    s.add_argument("--json", action="store_true")
    s = sub.add_parser("approve", help="move a pending action to approved/ (same as mv)")
    s.add_argument("id")
    s = sub.add_parser("reject", help="move a pending or approved action to rejected/")
    s.add_argument("id")
    s.add_argument("--reason", required=True)
    s = sub.add_parser("execute", help="run approved actions")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--once", action="store_true", help="one pass over approved/, then exit")
    g.add_argument("--watch", action="store_true", help="keep polling approved/")
    s.add_argument("--interval", type=float, default=5.0, help="seconds between passes with --watch")
    s.add_argument("--json", action="store_true")
    s = sub.add_parser("status", help="queue counts, last observation per host, drifts being confirmed")
    s.add_argument("--json", action="store_true")
    s = sub.add_parser("silence", help="silences: drift is still recorded, no action is written")
    ss = s.add_subparsers(dest="silence_command", required=True, metavar="add|list|remove")
    a = ss.add_parser("add", help="silence a host (glob) or one of its targets for a while")
    a.add_argument("--host", required=True, help="host name or glob, e.g. piha or 'pi*'")
    a.add_argument("--target", help="container, mount, peer or broker (glob); default: the whole host")
    a.add_argument("--for", dest="duration", required=True, help="how long: 90s, 30m, 2h, 1d")
    a.add_argument("--reason", required=True)
    a = ss.add_parser("list", help="active silences")
    a.add_argument("--all", action="store_true", help="expired and removed ones too")
    a.add_argument("--json", action="store_true")
    a = ss.add_parser("remove", help="end a silence now")
    a.add_argument("id")
    sub.add_parser("ack-storm", help="let the next cycle write the actions the storm breaker held back")
    sub.add_parser("init", help="make the state folder a new Steward state folder, on purpose (e.g. after it moved)")
    s = sub.add_parser("clear", help="clear an escalated drift key so actions can be written for it again")
    s.add_argument("key", help="drift key host/area/target/kind")
    s = sub.add_parser("events", help="the event stream (Redis when STEWARD_REDIS_URL is set, else the journal)")
    es = s.add_subparsers(dest="events_command", required=True, metavar="tail")
    a = es.add_parser("tail", help="the last events; --follow keeps printing new ones")
    a.add_argument("-n", "--lines", type=int, default=20, help="how many past events (default 20)")
    a.add_argument("-f", "--follow", action="store_true", help="keep printing new events until interrupted")
    a.add_argument("--json", action="store_true", help="one JSON object per line")
    ui_cli.add_parser(sub)
    bot_cli.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Ansible reads its configuration once, at import: make it the project's ansible.cfg.
    with contextlib.suppress(ConfigError):
        os.environ.setdefault("ANSIBLE_CONFIG", str(find_project_dir() / "ansible.cfg"))
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s steward: %(message)s",
        stream=sys.stderr,
    )
    recheck()  # every run checks the state folder anew (owner, modes, marker)
    try:
        settings = resolve_settings(args.inventory, args.state_dir)
        return COMMANDS[args.command](settings, args)
    except InventoryChanged as exc:  # a read that raced a writer: try again, nothing is wrong with the input
        print(f"error: desired state: {terminal(exc)}", file=sys.stderr)
        return FAILURE
    except DesiredStateError as exc:  # one line: the file (line, column) and Ansible's message, or host and var
        what = "" if isinstance(exc, NoHostMatched) else "desired state: "
        print(f"error: {what}{terminal(exc)}", file=sys.stderr)
        return BAD_INPUT
    except (BadActionId, ConfigError, QueueError) as exc:
        print(f"error: {terminal(exc)}", file=sys.stderr)
        return BAD_INPUT
    except (UnsafeStateDir, OSError) as exc:
        print(f"error: {terminal(exc)}", file=sys.stderr)
        return FAILURE


COMMANDS: dict[str, Command] = {
    "observe": cmd_observe,
    "plan": cmd_plan,
    "list": cmd_list,
    "pending": cmd_list,
    "show": cmd_show,
    "diagnose": cmd_diagnose,
    "preview": cmd_preview,
    "approve": cmd_approve,
    "reject": cmd_reject,
    "execute": cmd_execute,
    "status": cmd_status,
    "silence": cmd_silence,
    "ack-storm": cmd_ack_storm,
    "clear": cmd_clear,
    "init": cmd_init,
    "events": cmd_events,
    "ui": ui_cli.cmd_ui,
    "bot": bot_cli.cmd_bot,
}
