"""The commands besides the queue's: observe, plan, execute, status, silence, ack-storm, init,
clear, events. Each parses nothing itself (main.py did), calls one use case of steward.app and
prints its result."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from steward.app import escalations, execute, silences, state_folder, storm
from steward.app.errors import NoStorm, NothingToClear, SilenceError
from steward.app.events import describe, tail
from steward.app.observe import observe
from steward.app.plan import plan
from steward.app.preview import preview_new
from steward.app.settings import Settings
from steward.app.status import status
from steward.core.inert import terminal
from steward.interfaces.cli.actions import VIA, os_user
from steward.interfaces.cli.output import BAD_INPUT, FAILURE, OK, emit, plan_text, status_text


def cmd_observe(settings: Settings, args: argparse.Namespace) -> int:
    result = observe(settings, limit=args.limit, plan_after=not args.no_plan)
    hosts = ", ".join(sorted(result.look.hosts)) or "-"
    lines = [terminal(f"observe: {result.look.status} (rc {result.look.rc}), hosts: {hosts}")]
    if result.plan is not None:
        lines.append(plan_text(result.plan))
    emit(args, result.as_dict(), "\n".join(lines))
    return OK if result.ok else FAILURE


def cmd_plan(settings: Settings, args: argparse.Namespace) -> int:
    report = plan(settings)
    preview_new(settings, report.new_actions)  # the dry run beside each new Compose action
    emit(args, report.as_dict(), plan_text(report))
    return FAILURE if report.skipped else OK


def cmd_execute(settings: Settings, args: argparse.Namespace) -> int:
    if args.watch:
        try:
            execute.watch(settings, args.interval)
        except KeyboardInterrupt:
            return OK
        return OK
    report = execute.run_once(settings)
    lines = [
        f"execute: ran {len(report.ran)}, succeeded {len(report.succeeded)}, failed {len(report.failed)}, "
        f"expired {len(report.expired)}, quarantined {len(report.quarantined)}, "
        f"interrupted {len(report.interrupted)}"
    ]
    if report.skipped_reason:
        lines.append(terminal(f"execute: pass skipped: {report.skipped_reason}"))
    emit(args, report.as_dict(), "\n".join(lines))
    return FAILURE if execute.pass_failed(report) else OK


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    now = status(settings)
    emit(args, now.as_dict(), status_text(now))
    return OK


def cmd_silence(settings: Settings, args: argparse.Namespace) -> int:
    try:
        if args.silence_command == "add":
            item = silences.add(settings, args.host, args.target, args.duration, args.reason, via=VIA)
            target = "/" + item["target"] if item["target"] else ""
            print(terminal(f"silence {item['id']}: {item['host']}{target} until {item['expires_at']}"))
        elif args.silence_command == "remove":
            silences.remove(settings, args.id)
            print(terminal(f"silence {args.id} removed"))
        else:
            items = silences.listed(settings, every_one=args.all)
            text = (
                "\n".join(
                    terminal(
                        f"{i['id']}  {i['host']:<12} {i.get('target') or '*':<16} "
                        f"until {i['expires_at']}  {i['reason']}"
                    )
                    for i in items
                )
                or "no active silences"
            )
            emit(args, items, text)
    except (SilenceError, ValueError) as exc:  # ValueError: a duration that does not parse
        print(f"error: {terminal(exc)}", file=sys.stderr)
        return BAD_INPUT
    return OK


def cmd_ack_storm(settings: Settings, args: argparse.Namespace) -> int:
    try:
        storm.acknowledge(settings, VIA, os_user())
    except NoStorm as exc:
        print(f"error: {terminal(exc)}", file=sys.stderr)
        return BAD_INPUT
    print("storm acknowledged: the next plan cycle writes the held-back actions")
    return OK


def cmd_init(settings: Settings, args: argparse.Namespace) -> int:
    marker = state_folder.init(settings)
    print(terminal(f"state folder {settings.state_dir} is ready (marker {marker})"))
    return OK


def cmd_clear(settings: Settings, args: argparse.Namespace) -> int:
    try:
        escalations.clear(settings, args.key, via=VIA, by=os_user())
    except NothingToClear as exc:
        print(f"error: {terminal(exc)}", file=sys.stderr)
        return BAD_INPUT
    print(terminal(f"cleared {args.key}: actions can be written for it again"))
    return OK


def cmd_events(settings: Settings, args: argparse.Namespace) -> int:
    """The last events, from the stream when Redis is configured and reachable, else the journal.

    Every line is inert (control characters escaped: a node's string cannot drive the terminal)
    and no message shows a password (the URL is printed with ``***``)."""

    def show(event: dict[str, Any]) -> None:
        line = json.dumps(event, sort_keys=True, default=str) if args.json else terminal(describe(event))
        print(line, flush=True)

    def notice(why: str) -> None:
        print(f"notice: {why}", file=sys.stderr)

    try:
        for event in tail(settings, args.lines, args.follow, notice):
            show(event)
    except KeyboardInterrupt:
        return OK
    return OK
