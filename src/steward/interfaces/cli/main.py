"""`steward` command line. Exit codes: 0 ok, 1 failure, 2 usage or bad input.

Everything printed for a human goes through `steward.core.inert.terminal` (a playbook shown by `show`
keeps its newlines and tabs, nothing else): a node's string never moves the cursor or fakes a
line. `--json` output is JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections import Counter
from typing import Any

from steward.ansible.observe import observe
from steward.app.settings import ConfigError, Settings, find_project_dir, resolve_settings
from steward.areas import check_problem
from steward.core.atomic import read_regular_file
from steward.core.inert import terminal
from steward.desired.inventory import (
    DesiredState,
    DesiredStateError,
    InventoryChanged,
    NoHostMatched,
    load_desired_cached,
)
from steward.desired.policy import parse_duration
from steward.execute.executor import Executor
from steward.plan.engine import Engine
from steward.state.actions import ActionQueue, BadActionId, QueueError
from steward.state.folder import init as init_state_folder
from steward.state.journal import Journal, utcnow
from steward.state.memory import read_memory
from steward.state.outcomes import Outcomes
from steward.state.paths import QUEUE_FOLDERS, UnsafeStateDir, recheck
from steward.state.silences import SilenceError, Silences
from steward.state.world import LastKnownGood, load_world

OK, FAILURE, BAD_INPUT = 0, 1, 2


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


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str) if getattr(args, "json", False) else text)


def cmd_observe(settings: Settings, args: argparse.Namespace) -> int:
    journal = Journal(settings.paths.journal)
    outcome = observe(settings, journal, limit=args.limit)
    data: dict[str, Any] = {"observe": outcome.as_dict()}
    hosts = ", ".join(sorted(outcome.hosts)) or "-"
    lines = [terminal(f"observe: {outcome.status} (rc {outcome.rc}), hosts: {hosts}")]
    rc = OK if outcome.status == "successful" or outcome.rc == 4 else FAILURE  # 4: some host unreachable
    if not args.no_plan:
        report = Engine(settings, journal).plan()
        data["plan"] = report.as_dict()
        lines.append(_plan_text(report))
        rc = rc or (FAILURE if report.skipped else OK)
    _emit(args, data, "\n".join(lines))
    return rc


def _plan_text(report: Any) -> str:
    if report.skipped:
        return terminal(f"plan: cycle SKIPPED ({report.reason}); last-known-good kept, no action written")
    lines = [f"plan: {len(report.drifts)} drift(s), {len(report.new_actions)} new pending action(s)"]
    for d in report.drifts:
        tag = "notice" if d["notice_only"] else f"seen {d['observations']}x"
        lines.append(terminal(f"  drift  {d['key']}  [{tag}]  {d['summary']}"))
    lines += [terminal(f"  NEW    pending/{a}.yml") for a in report.new_actions]
    lines += [terminal(f"  expired {a}") for a in report.expired]
    return "\n".join(lines)


def cmd_plan(settings: Settings, args: argparse.Namespace) -> int:
    report = Engine(settings).plan()
    _emit(args, report.as_dict(), _plan_text(report))
    return FAILURE if report.skipped else OK


def _queue(settings: Settings) -> ActionQueue:
    return ActionQueue(settings.paths, Journal(settings.paths.journal))


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    folders = QUEUE_FOLDERS if args.all else ("pending", "approved", "running")
    infos = _queue(settings).list(folders)
    text = (
        "\n".join(
            terminal(f"{i.folder:<10} {i.id}  {i.summary or '(unsigned: not written by the engine)'}") for i in infos
        )
        or "no actions"
    )
    _emit(args, [i.as_dict() for i in infos], text)
    return OK


def cmd_show(settings: Settings, args: argparse.Namespace) -> int:
    queue = _queue(settings)
    folder, path = queue.find(args.id)
    info = queue.info(folder, args.id).as_dict()
    result_path = queue.result(folder, args.id)
    result: Any = None
    if os.path.lexists(result_path):  # a queue folder is writable by approvers: never follow, never trace back
        try:
            result = json.loads(read_regular_file(result_path))
        except (OSError, ValueError) as exc:
            result = {"unreadable": f"{result_path.name}: {exc}"}
    playbook = None
    if path.is_file() and not path.is_symlink():
        playbook = read_regular_file(path).decode("utf-8", errors="replace")
    _emit(
        args,
        {**info, "result": result, "playbook": playbook},
        f"# {terminal(args.id)} is in {folder}/\n{terminal_lines(playbook or '')}"
        + (f"\n# result:\n{json.dumps(result, indent=2)}" if result else ""),  # JSON escapes control characters
    )
    return OK


def terminal_lines(text: str) -> str:
    """A file shown as it is, line by line: newlines and tabs kept, every other control character escaped."""
    return "\n".join("\t".join(terminal(part) for part in line.split("\t")) for line in text.split("\n"))


def cmd_approve(settings: Settings, args: argparse.Namespace) -> int:
    path = _queue(settings).approve(args.id, via="cli")
    print(terminal(f"approved: {path}"))
    return OK


def cmd_reject(settings: Settings, args: argparse.Namespace) -> int:
    path = _queue(settings).reject(args.id, args.reason, via="cli")
    print(terminal(f"rejected: {path}"))
    return OK


def cmd_execute(settings: Settings, args: argparse.Namespace) -> int:
    executor = Executor(settings)
    if args.watch:
        try:
            executor.watch(args.interval)
        except KeyboardInterrupt:
            return OK
        return OK
    report = executor.run_once()
    lines = [
        f"execute: ran {len(report.ran)}, succeeded {len(report.succeeded)}, failed {len(report.failed)}, "
        f"expired {len(report.expired)}, quarantined {len(report.quarantined)}, "
        f"interrupted {len(report.interrupted)}"
    ]
    if report.skipped_reason:
        lines.append(terminal(f"execute: pass skipped: {report.skipped_reason}"))
    _emit(args, report.as_dict(), "\n".join(lines))
    return FAILURE if report.failed or report.skipped_reason else OK


def _desired_or_error(settings: Settings) -> tuple[DesiredState | None, DesiredStateError | None]:
    try:
        return load_desired_cached(settings.inventory), None
    except DesiredStateError as exc:
        return None, exc


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    state_dir = os.path.abspath(settings.state_dir)
    queue = _queue(settings)
    counts = Counter(i.folder for i in queue.list())
    snapshot = load_world(settings.paths.world, check_problem)
    desired, inventory_error = _desired_or_error(settings)
    left = read_memory(settings.paths).left_inventory
    hosts = {
        h: {
            "observed_at": w["observed_at"],
            "reachable": w["reachable"],
            "docker": (w["checks"].get("docker") or {}).get("status"),
            "in_inventory": None if desired is None else h in desired.hosts,
        }
        for h, w in snapshot.hosts.items()
    }
    data = {
        "state_dir": state_dir,
        "inventory": str(settings.inventory),
        "inventory_error": None if inventory_error is None else str(inventory_error),
        "queue": {f: counts.get(f, 0) for f in QUEUE_FOLDERS},
        "hosts": hosts,
        "left_inventory": left,
        "world_errors": snapshot.errors,
    }
    lines = [
        f"state: {state_dir}",
        f"inventory: {settings.inventory}",
        "queue: " + "  ".join(f"{f}={counts.get(f, 0)}" for f in QUEUE_FOLDERS),
    ]
    if inventory_error is not None:
        lines.append(f"INVENTORY UNUSABLE: {inventory_error}")
        lines.append("cycles are skipped until the inventory reads whole; nothing is planned or run")
    lines += [
        f"host {h:<12} observed {v['observed_at']}  reachable={v['reachable']}  docker={v['docker']}"
        + ("  (not in the inventory)" if v["in_inventory"] is False else "")
        for h, v in sorted(hosts.items())
    ]
    if left:
        lines.append("left the inventory: " + ", ".join(f"{h} (at {t})" for h, t in sorted(left.items())))
    lines += [f"WORLD FILE UNUSABLE {f}: {why}" for f, why in sorted(snapshot.errors.items())]
    if snapshot.errors:  # cycles are being skipped: show what the engine last trusted
        good = LastKnownGood(settings.paths.last_good).load()
        trusted = {h: str(w["observed_at"]) for h, w in good.hosts.items()}
        data["last_known_good"] = trusted
        lines.append(
            "cycles are skipped until every world file is whole; last-known-good: "
            + (", ".join(f"{h} @ {t}" for h, t in sorted(trusted.items())) or "none")
        )
    _emit(args, data, "\n".join(terminal(line) for line in lines))
    return OK


def cmd_silence(settings: Settings, args: argparse.Namespace) -> int:
    silences = Silences(settings.paths.ensure(), Journal(settings.paths.journal))
    now = utcnow()
    try:
        if args.silence_command == "add":
            item = silences.add(args.host, args.target, parse_duration(args.duration), args.reason, now)
            print(
                f"silence {item['id']}: {item['host']}{'/' + item['target'] if item['target'] else ''} "
                f"until {item['expires_at']}"
            )
        elif args.silence_command == "remove":
            silences.remove(args.id, now)
            print(f"silence {args.id} removed")
        else:
            items = silences.all() if args.all else silences.active(now)
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
            _emit(args, items, text)
    except (SilenceError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
    return OK


def cmd_ack_storm(settings: Settings, args: argparse.Namespace) -> int:
    if not Engine(settings).ack_storm():
        print("error: there is no storm to acknowledge", file=sys.stderr)
        return BAD_INPUT
    print("storm acknowledged: the next plan cycle writes the held-back actions")
    return OK


def cmd_init(settings: Settings, args: argparse.Namespace) -> int:
    marker = init_state_folder(settings.state_dir)
    settings.paths.ensure()
    print(terminal(f"state folder {settings.state_dir} is ready (marker {marker})"))
    return OK


def cmd_clear(settings: Settings, args: argparse.Namespace) -> int:
    outcomes = Outcomes(settings.paths.ensure())
    before = outcomes.get(args.key)
    if not before.get("failures") and not before.get("escalated"):
        print(f"error: {args.key} has no failed remediations to clear", file=sys.stderr)
        return BAD_INPUT
    outcomes.clear(args.key)
    Journal(settings.paths.journal).append("escalation_cleared", key=args.key, via="cli")
    print(f"cleared {args.key}: actions can be written for it again")
    return OK


def cmd_events(settings: Settings, args: argparse.Namespace) -> int:
    """The last events, from the stream when Redis is configured and reachable, else the journal.

    Every line is inert (control characters escaped: a node's string cannot drive the terminal)
    and no message shows a password (the URL is printed with ``***``)."""
    from steward.core.inert import terminal
    from steward.events import bus_from_env
    from steward.events.bus import redacted
    from steward.events.tail import describe, journal_events, stream_events

    def show(event: dict[str, Any]) -> None:
        line = json.dumps(event, sort_keys=True, default=str) if args.json else terminal(describe(event))
        print(line, flush=True)

    bus = bus_from_env(settings.state_dir)
    try:
        if bus is not None:
            try:
                for event in stream_events(bus, args.lines, args.follow):
                    show(event)
                return OK
            except Exception as exc:  # redis unreachable or refused: say so, then read the journal
                print(
                    f"notice: event stream {bus.stream} at {bus.shown_url} unavailable ({redacted(exc, bus.url)}); "
                    f"reading {settings.paths.journal} instead",
                    file=sys.stderr,
                )
        for event in journal_events(settings.paths.journal, args.lines, args.follow):
            show(event)
    except KeyboardInterrupt:
        return OK
    return OK


COMMANDS = {
    "observe": cmd_observe,
    "plan": cmd_plan,
    "list": cmd_list,
    "pending": cmd_list,
    "show": cmd_show,
    "approve": cmd_approve,
    "reject": cmd_reject,
    "execute": cmd_execute,
    "status": cmd_status,
    "silence": cmd_silence,
    "ack-storm": cmd_ack_storm,
    "clear": cmd_clear,
    "init": cmd_init,
    "events": cmd_events,
}
