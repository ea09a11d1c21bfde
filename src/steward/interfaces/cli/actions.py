"""`steward list | show | approve | reject`: the action queue from the command line.

A decision from here is journaled `via: cli`, `by:` the OS user running the command.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd

from steward.app import actions, preview
from steward.app.diagnose import diagnosis_lines
from steward.app.preview import summary
from steward.app.settings import Settings
from steward.core.inert import terminal
from steward.interfaces.cli.output import OK, emit, terminal_lines

VIA = "cli"


def os_user() -> str:
    """Who runs this command: the name of the real user id (the id itself when it has no name)."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    infos = actions.list_actions(settings, every_folder=args.all)
    text = (
        "\n".join(
            terminal(f"{i.folder:<10} {i.id}  {i.summary or '(unsigned: not written by the engine)'}") for i in infos
        )
        or "no actions"
    )
    emit(args, [i.as_dict() for i in infos], text)
    return OK


def cmd_show(settings: Settings, args: argparse.Namespace) -> int:
    detail = actions.show(settings, args.id)
    # a model's answer to untrusted logs: only through diagnosis_lines (each value through terminal())
    diagnosis = diagnosis_lines(detail.diagnosis)
    dry_run = (
        ""
        if detail.preview is None
        else terminal(f"\n# dry run (beside the playbook, not part of it): {summary(detail.preview)}")
    )
    emit(
        args,
        detail.as_dict(),
        f"# {terminal(args.id)} is in {detail.folder}/\n{terminal_lines(detail.playbook or '')}"
        + dry_run
        + (f"\n# result:\n{json.dumps(detail.result, indent=2)}" if detail.result else "")  # JSON escapes controls
        + "".join(f"\n{line}" for line in diagnosis),
    )
    return OK


def cmd_preview(settings: Settings, args: argparse.Namespace) -> int:
    taken = preview.preview(settings, args.id)
    emit(args, taken, terminal(f"dry run of {args.id}: {summary(taken)}"))
    return OK


def cmd_approve(settings: Settings, args: argparse.Namespace) -> int:
    decision = actions.approve(settings, args.id, via=VIA, by=os_user())
    print(terminal(f"approved: {decision.path}"))
    return OK


def cmd_reject(settings: Settings, args: argparse.Namespace) -> int:
    decision = actions.reject(settings, args.id, args.reason, via=VIA, by=os_user())
    print(terminal(f"rejected: {decision.path}"))
    return OK
