"""Diagnose a pending action, or every new one: read, look, redact, ask, store. Never act.

`diagnose_action` is `steward diagnose ID`; `diagnose_new_pending` is one pass of the watch
loop (idempotent: an action that has a diagnosis, ok or unavailable, is skipped; asking again
is `steward diagnose ID`); `watch_pending` is the loop itself (`steward diagnose --watch`).

Once the action is known to be pending, nothing raises: every failure - the look, the
server, the model, the answer, even storing - ends as "diagnosis unavailable: <reason>". The
only things written are `pending/ID.diagnosis.json`, `runs/diagnose/ID.request.json` (the
redacted request, for audit) and one journal event. A per-action lock (`diagnose-ID.lock`, not
the action's own lock) keeps two diagnosers apart and never delays an approval or a run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from steward.core.atomic import atomic_write_json
from steward.core.locks import try_exclusive
from steward.diagnose import prompt
from steward.diagnose.client import ask
from steward.diagnose.config import DiagnosisConfig, load_config
from steward.diagnose.errors import DiagnosisBusy, NotDiagnosable, Unavailable, checked_id
from steward.diagnose.look import ContainerLook, look_at_container
from steward.diagnose.redact import Redactor
from steward.diagnose.request import PendingAction, build_request, read_pending
from steward.diagnose.store import Diagnosis, has_diagnosis, save
from steward.state.journal import Journal, isotime
from steward.state.paths import recheck
from steward.state.settings import Settings

__all__ = ["Diagnosis", "NotDiagnosable", "diagnose_action", "diagnose_new_pending", "watch_pending"]


def _ask(
    settings: Settings, action_id: str, config: DiagnosisConfig, journal: Journal, look: ContainerLook
) -> Diagnosis:
    """Read, look, redact, ask: the Diagnosis, ok or unavailable (NotDiagnosable passes through)."""
    started = time.monotonic()
    action: PendingAction | None = None
    try:
        action = read_pending(settings, action_id)
        request = Redactor(config.redact).tree(build_request(settings, action, config, journal, look))
        atomic_write_json(settings.paths.runs / "diagnose" / f"{action_id}.request.json", request, mode=0o600)
        answer, model = ask(config, prompt.messages(request))
        reason = None
    except NotDiagnosable:
        raise
    except Unavailable as exc:
        answer, model, reason = None, config.model, str(exc)
    except Exception as exc:  # a diagnosis is never a reason for anything else to fail
        answer, model, reason = None, config.model, f"unexpected error: {exc!r}"
    key = action.key if action else None
    host = action.host if action else None
    seconds = round(time.monotonic() - started, 2)
    return Diagnosis(action_id, key, host, isotime(), model, answer, reason, seconds)


def diagnose_action(
    settings: Settings,
    action_id: str,
    *,
    config: DiagnosisConfig | None = None,
    journal: Journal | None = None,
    look: ContainerLook = look_at_container,
) -> Diagnosis:
    """Diagnose pending action `action_id` now (asking again if it has a diagnosis) and store the result.

    NotDiagnosable (nothing stored) when diagnosis is off, the id is not a pending action, or
    another process is diagnosing it right now; DiagnosisConfigError for a malformed setting.
    Otherwise the Diagnosis, ok or unavailable, stored and journaled."""
    checked_id(action_id)
    config = config or load_config(settings)
    if not config.enabled:
        raise NotDiagnosable("diagnosis is off: set steward_diagnosis (group var) or STEWARD_OLLAMA_URL")
    paths = settings.paths.ensure()
    journal = journal or Journal(paths.journal)
    with try_exclusive(paths.locks / f"diagnose-{action_id}.lock") as free:
        if not free:
            raise DiagnosisBusy(f"{action_id} is being diagnosed by another process right now")
        diagnosis = _ask(settings, action_id, config, journal, look)
        try:
            return save(paths, journal, diagnosis)
        except OSError as exc:  # a full disk: say so in the journal, never fail the caller
            journal.append("diagnosis_unavailable", action=action_id, reason=f"could not store it: {exc!r}")
            return diagnosis


def diagnose_new_pending(
    settings: Settings,
    *,
    config: DiagnosisConfig | None = None,
    journal: Journal | None = None,
    look: ContainerLook = look_at_container,
) -> list[Diagnosis]:
    """One pass: a diagnosis for every pending action that has none yet ([] when diagnosis is off)."""
    config = config or load_config(settings)
    if not config.enabled:
        return []
    paths = settings.paths.ensure()
    journal = journal or Journal(paths.journal)
    out: list[Diagnosis] = []
    for path in sorted(paths.folder("pending").glob("*.yml")):
        action_id = path.stem
        try:
            if has_diagnosis(paths, checked_id(action_id)):
                continue
            out.append(diagnose_action(settings, action_id, config=config, journal=journal, look=look))
        except NotDiagnosable:
            continue  # moved away meanwhile, a bad name, or another diagnoser has it
    return out


def watch_pending(
    settings: Settings,
    interval: float = 5.0,
    max_passes: int | None = None,
    on_pass: Callable[[list[Diagnosis]], None] | None = None,
    look: ContainerLook = look_at_container,
) -> None:
    """`steward diagnose --watch`: a pass every `interval` seconds; the config is read anew each pass.

    A pass that fails (an inventory being edited, a malformed steward_diagnosis) is journaled
    and the loop goes on; an unsafe state folder stops it (UnsafeStateDir), as it stops the executor."""
    passes = 0
    while max_passes is None or passes < max_passes:
        recheck()
        paths = settings.paths.ensure()
        try:
            done = diagnose_new_pending(settings, look=look)
            if on_pass:
                on_pass(done)
        except Exception as exc:  # a service keeps going
            Journal(paths.journal).append("diagnosis_pass_failed", reason=repr(exc))
        passes += 1
        time.sleep(interval)
