"""`steward diagnose ID | --once | --watch`: a model's second opinion on pending actions.

Exit codes: 0 a diagnosis stored (or a pass done); 1 the diagnosis is unavailable (the reason
is printed and stored: the action stays pending, nothing else failed), or another process is
diagnosing that action right now; 2 an id that is not a pending action, diagnosis off, or a
malformed steward_diagnosis. A model's text is printed only through inert.terminal.
"""

from __future__ import annotations

import argparse
import json
import sys

from steward.app import diagnose
from steward.app.settings import Settings
from steward.core.inert import terminal
from steward.interfaces.cli.output import BAD_INPUT, FAILURE, OK


def _one_line(diagnosis: diagnose.Diagnosis) -> str:
    return terminal(f"{diagnosis.action_id}: {diagnosis.text}")


def _print_pass(done: list[diagnose.Diagnosis]) -> None:
    for diagnosis in done:
        print(_one_line(diagnosis), flush=True)


def _notice_if_off(settings: Settings) -> None:
    if not diagnose.diagnosis_is_on(settings):  # a malformed setting raises: exit 2 with its name
        print(
            "notice: diagnosis is off (set steward_diagnosis in the inventory or STEWARD_OLLAMA_URL); "
            "each pass reads the configuration anew",
            file=sys.stderr,
            flush=True,
        )


def cmd_diagnose(settings: Settings, args: argparse.Namespace) -> int:
    if args.watch:
        _notice_if_off(settings)
        try:
            diagnose.watch(settings, args.interval, on_pass=_print_pass)
        except KeyboardInterrupt:
            return OK
        return OK
    if args.once:
        _notice_if_off(settings)
        done = diagnose.diagnose_new(settings)
        if args.json:
            print(json.dumps([d.as_dict() for d in done], indent=2, sort_keys=True))
        else:
            _print_pass(done)
        return OK
    try:
        diagnosis = diagnose.diagnose(settings, args.id)
    except diagnose.DiagnosisBusy as exc:
        print(f"error: {terminal(exc)}", file=sys.stderr)
        return FAILURE
    except diagnose.NotDiagnosable as exc:
        print(f"error: {terminal(exc)}", file=sys.stderr)
        return BAD_INPUT
    if args.json:
        print(json.dumps(diagnosis.as_dict(), indent=2, sort_keys=True))
    else:
        print("\n".join(diagnose.diagnosis_lines(diagnosis.as_dict())))
        if diagnosis.stored is None:
            print(terminal(f"# not stored: {args.id} left pending/ while the model was asked"))
    return OK if diagnosis.ok else FAILURE
