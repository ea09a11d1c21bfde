"""What a diagnosis sends: the pending action as the engine signed it, its history, and a look at the container.

Read only, from what Steward already trusts:

* the playbook's bytes in `actions/pending/ID.yml`, which must match the engine's signature
  (state.ledger); an unsigned or edited file is not diagnosed (the executor quarantines it);
* the ledger entry's metadata: drift key, summary, desired vs observed, the evidence and
  since when (the play's `steward_action` carries only part of it);
* the play's name and tasks: the proposed fix, exactly as it would run;
* the drift key's recent journal events (detected, resolved, flapping, earlier actions, how they
  ended and whether their verification found the drift gone) and its remediation outcomes;
* for a docker drift, the container's last log lines and exit code / OOM flag, by a read-only
  look at the host (look.py) taken now.

Nothing is redacted here: the caller passes the whole request through redact.Redactor.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from steward.core.atomic import NotARegularFile, read_regular_file
from steward.diagnose.config import DiagnosisConfig
from steward.diagnose.errors import NotDiagnosable, Unavailable, checked_id
from steward.diagnose.look import ContainerLook, look_at_container
from steward.plan.playbook import PlaybookShapeError, load_playbook
from steward.state.journal import Journal
from steward.state.ledger import Ledger
from steward.state.outcomes import Outcomes
from steward.state.settings import Settings

HISTORY_EVENTS = 25
HISTORY_FIELDS = ("type", "at", "action", "reason", "summary", "via", "rc", "percent", "failures")
EVIDENCE_FIELDS = ("observed_at", "since", "observations", "cycle")


@dataclass(frozen=True)
class PendingAction:
    id: str
    path: Path
    entry: dict[str, Any]  # the signed ledger entry
    play: dict[str, Any]  # the one play of the verified bytes

    @property
    def key(self) -> str:
        return str(self.entry.get("key"))

    @property
    def host(self) -> str:
        return str(self.entry.get("host"))


def pending_path(settings: Settings, action_id: str) -> Path:
    return settings.paths.folder("pending") / f"{checked_id(action_id)}.yml"


def read_pending(settings: Settings, action_id: str) -> PendingAction:
    """The pending action, verified against its signature.

    NotDiagnosable when there is no pending file of that id; Unavailable when there is one but
    it is not what the engine signed, has ended already, or is not one play."""
    path = pending_path(settings, action_id)
    try:
        content = read_regular_file(path)
    except FileNotFoundError:
        raise NotDiagnosable(f"no pending action {action_id!r} (only a pending action is diagnosed)") from None
    except NotARegularFile:
        raise Unavailable(f"pending/{action_id}.yml is not a regular file: not read") from None
    ledger = Ledger(settings.paths)
    problem = ledger.verify(action_id, content)
    if problem:
        raise Unavailable(f"not diagnosed: {problem} (the executor would quarantine it)")
    ended = ledger.ended(action_id)
    if ended:
        raise Unavailable(f"not diagnosed: the action already ended ({ended['state']} at {ended['at']})")
    try:
        documents = load_playbook(content)
        play = documents[0][0]
        if len(documents) != 1 or not isinstance(play, dict) or not isinstance(play.get("tasks"), list):
            raise PlaybookShapeError("not one play with tasks")
    except (PlaybookShapeError, IndexError, KeyError, TypeError) as exc:
        raise Unavailable(f"not diagnosed: the signed file is not one play ({exc})") from None
    entry = ledger.entry(action_id) or {}
    return PendingAction(action_id, path, entry, _plain(play))


def _plain(value: Any) -> Any:
    """Plain JSON data (the playbook's `!unsafe` strings are str subclasses)."""
    return json.loads(json.dumps(value, default=str))


def key_history(journal: Journal, key: str, limit: int = HISTORY_EVENTS) -> list[dict[str, Any]]:
    """The last `limit` journal events that name drift `key`, with their telling fields only."""
    recent: deque[dict[str, Any]] = deque(maxlen=limit)
    for event in journal.events():
        if isinstance(event, dict) and event.get("key") == key:
            recent.append({f: event[f] for f in HISTORY_FIELDS if event.get(f) is not None})
    return list(recent)


def _flapping(history: list[dict[str, Any]]) -> bool:
    marks = [e["type"] for e in history if e.get("type") in ("flapping", "flapping_stopped")]
    return bool(marks) and marks[-1] == "flapping"


def _container(
    settings: Settings, action: PendingAction, target: str, config: DiagnosisConfig, look: ContainerLook
) -> dict[str, Any]:
    try:
        seen = look(settings, action.host, target, config.log_lines)
    except Unavailable as exc:
        return {"unavailable": str(exc)}
    lines = seen.get("lines")
    shown = {k: v for k, v in seen.items() if k not in ("lines", "docker_host")}
    if isinstance(lines, list):
        shown["last_log_lines"] = [
            f"{line.get('at') or '-'} {line.get('stream', 'stdout')}: {line.get('text', '')}"
            for line in lines
            if isinstance(line, dict)
        ]
    return shown


def build_request(
    settings: Settings,
    action: PendingAction,
    config: DiagnosisConfig,
    journal: Journal,
    look: ContainerLook = look_at_container,
) -> dict[str, Any]:
    """Everything sent about `action`, before redaction."""
    entry = action.entry
    evidence: dict[str, Any] = entry["evidence"] if isinstance(entry.get("evidence"), dict) else {}
    host, area, target, kind = (action.key.split("/", 3) + ["", "", "", ""])[:4]
    history = key_history(journal, action.key)
    outcome = Outcomes(settings.paths).get(action.key)
    request: dict[str, Any] = {
        "action": {k: entry.get(k) for k in ("id", "created_at", "expires_at")},
        "drift": {
            "key": action.key,
            "host": host,
            "area": area,
            "target": target,
            "kind": kind,
            "summary": entry.get("summary"),
            "desired": evidence.get("desired"),
            "observed": evidence.get("observed"),
        },
        "evidence": {k: evidence.get(k) for k in EVIDENCE_FIELDS},
        "proposed_fix": {"play": action.play.get("name"), "tasks": action.play.get("tasks")},
        "history": {
            "recent_events": history,
            "flapping": _flapping(history),
            "failed_remediations_in_a_row": outcome.get("failures", 0),
            "escalated": bool(outcome.get("escalated")),
            "last_outcome": outcome.get("last_outcome"),
            "last_outcome_at": outcome.get("last_outcome_at"),
        },
    }
    if area == "docker" and target:
        request["container"] = _container(settings, action, target, config, look)
    return request
