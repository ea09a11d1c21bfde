"""Use cases of the operator's desk (`steward ui`, `steward bot`): what a reviewer sees, read only.

The queue (pending first, with age and time left), one action with everything needed to decide
it (evidence, playbook, dry run, diagnosis, history, outcome), the hosts and the engine's gates,
and the journal filtered. Decisions are not here: they are `steward.app.actions.approve/reject`,
the one code path of every surface. Nothing here writes, journals or takes a lock.

Every string in these views may come from a node: the interfaces render them inert (HTML
autoescape, plain-text Telegram), never as markup or a template.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from steward.app.actions import ActionDetail, ActionInfo, list_actions, show
from steward.app.silences import listed as active_silences
from steward.app.status import Status, status
from steward.areas import check_problem
from steward.state.actions import ActionQueue
from steward.state.journal import Journal
from steward.state.memory import read_memory
from steward.state.paths import ENDED_FOLDERS, QUEUE_FOLDERS
from steward.state.settings import Settings
from steward.state.world import load_world, parse_time

RECENT_ENDED = 50  # ended actions the queue page lists under the open ones


@dataclass(frozen=True)
class QueueRow:
    info: ActionInfo
    age_s: float | None  # since it was written
    expires_in_s: float | None  # until its TTL passes (negative: passed, the next cycle expires it)

    @property
    def decidable(self) -> bool:
        """Buttons are shown only for a pending action still inside its TTL."""
        return self.info.folder == "pending" and (self.expires_in_s is None or self.expires_in_s > 0)


@dataclass(frozen=True)
class QueueView:
    open: list[QueueRow]  # pending (oldest first), then approved, then running
    ended: list[QueueRow]  # the latest RECENT_ENDED ended ones, newest first
    counts: dict[str, int]  # actions per queue folder, every folder


def _seconds(since: str | None, now: datetime) -> float | None:
    try:
        return (now - parse_time(since)).total_seconds() if since else None
    except ValueError:
        return None


def _row(info: ActionInfo, now: datetime) -> QueueRow:
    age = _seconds(info.created_at, now)
    left = _seconds(info.expires_at, now)
    return QueueRow(info, age, None if left is None else -left)


def queue_view(settings: Settings, now: datetime) -> QueueView:
    every = list_actions(settings, every_folder=True)
    counts = Counter(i.folder for i in every)
    rank = {"pending": 0, "approved": 1, "running": 2}
    opened = sorted((i for i in every if i.folder in rank), key=lambda i: (rank[i.folder], i.created_at or "", i.id))
    ended = sorted((i for i in every if i.folder in ENDED_FOLDERS), key=lambda i: i.created_at or "", reverse=True)
    return QueueView(
        open=[_row(i, now) for i in opened],
        ended=[_row(i, now) for i in ended[:RECENT_ENDED]],
        counts={f: counts.get(f, 0) for f in QUEUE_FOLDERS},
    )


@dataclass(frozen=True)
class ActionView:
    row: QueueRow
    detail: ActionDetail
    evidence: dict[str, Any]  # what the engine saw: desired, observed, since, observations, fingerprint
    history: list[dict[str, Any]]  # the journal's events about this action, oldest first
    ended: dict[str, Any] | None  # how it ended (state, at, reason, decided), None while open
    outcome: str | None  # one line: "expired: not approved before …", "rejected by … (web): …", …


def _outcome(folder: str, ended: dict[str, Any] | None, result: Any) -> str | None:
    if folder not in ENDED_FOLDERS:
        return None
    ended = ended or {}
    reason = ended.get("reason") or (result.get("reason") if isinstance(result, dict) else None)
    decided = ended.get("decided") or {}
    if folder == "rejected":
        who = decided.get("by") or "someone"
        return f"rejected by {who} ({decided.get('via', '?')}): {reason or 'no reason recorded'}"
    if folder == "expired":
        return str(reason or "expired: not approved in time")
    if folder == "quarantine":
        return f"quarantined, never run: {reason or 'see the result file'}"
    if folder == "done":
        verified = ended.get("verified")
        return "done" + ("" if verified is None else (", verified" if verified else ", not verified"))
    return f"failed: {reason or 'see the result file'}"


def action_view(settings: Settings, action_id: str, now: datetime) -> ActionView:
    """ActionNotFound / BadActionId (QueueError) when there is no such action."""
    detail = show(settings, action_id)
    queue = ActionQueue(settings.paths, Journal(settings.paths.journal))
    entry = queue.ledger.entry(action_id) or {}
    found = entry.get("evidence")
    evidence: dict[str, Any] = found if isinstance(found, dict) else {}
    history = [e for e in _events(settings) if e.get("action") == action_id]
    ended = queue.ended(action_id)
    return ActionView(
        row=_row(detail.info, now),
        detail=detail,
        evidence=evidence,
        history=history,
        ended=ended,
        outcome=_outcome(detail.folder, ended, detail.result),
    )


@dataclass(frozen=True)
class HostRow:
    name: str
    observed_at: str | None
    age_s: float | None
    reachable: Any
    checks: dict[str, str | None]  # check -> its status in the last look
    confirming: list[dict[str, Any]]  # drift keys seen but not yet confirmed: key, count, since
    in_inventory: bool | None


@dataclass(frozen=True)
class HostsView:
    status: Status
    hosts: list[HostRow]
    flapping: list[dict[str, Any]]  # key, pct
    silences: list[dict[str, Any]]
    storm: dict[str, Any] | None  # since_cycle, reason; None: no storm
    held: dict[str, str] = field(default_factory=dict)  # key -> why the last cycle wrote no action


def hosts_view(settings: Settings, now: datetime) -> HostsView:
    st = status(settings)
    memory = read_memory(settings.paths)
    open_keys = {i.key for i in list_actions(settings) if i.key}
    rows = []
    for name, host in sorted(st.hosts.items()):
        mem = memory.hosts.get(name)
        confirming = []
        if mem is not None:
            for key, streak in sorted(mem.keys.items()):
                if key not in open_keys and streak.count:
                    confirming.append({"key": key, "count": streak.count, "since": streak.since})
        rows.append(
            HostRow(
                name=name,
                observed_at=None if host.observed_at is None else str(host.observed_at),
                age_s=_seconds(str(host.observed_at), now) if host.observed_at else None,
                reachable=host.reachable,
                checks=dict(host.checks),
                confirming=confirming,
                in_inventory=host.in_inventory,
            )
        )
    flapping = [{"key": k, "pct": round(f.pct, 1)} for k, f in sorted(memory.flap.items()) if f.flapping]
    storm = None if memory.storm is None else {"since_cycle": memory.storm.since_cycle, "reason": memory.storm.reason}
    return HostsView(
        status=st,
        hosts=rows,
        flapping=flapping,
        silences=active_silences(settings),
        storm=storm,
        held=dict(memory.held),
    )


JOURNAL_FILTERS = ("host", "type", "key", "action")


def _events(settings: Settings) -> Iterator[dict[str, Any]]:
    """The journal's entries that are JSON objects (a line that is other JSON is not an event)."""
    return (e for e in Journal(settings.paths.journal).events() if isinstance(e, dict))


def journal_view(
    settings: Settings, filters: dict[str, str], limit: int = 200, after: str | None = None
) -> list[dict[str, Any]]:
    """The newest `limit` journal events matching every filter (exact host, type, action; key
    prefix), newest first; `after`: only events journaled after the one with that id."""
    wanted = {k: v for k, v in filters.items() if k in JOURNAL_FILTERS and v}
    out: list[dict[str, Any]] = []
    seen_after = after is None
    for event in _events(settings):
        if not seen_after:
            seen_after = event.get("id") == after
            continue
        if any(
            not str(event.get(k) or "").startswith(v) if k == "key" else str(event.get(k) or "") != v
            for k, v in wanted.items()
        ):
            continue
        out.append(event)
        if len(out) > limit:
            del out[0]
    if not seen_after:  # the id is not in the journal (anymore): everything is new
        return journal_view(settings, filters, limit)
    return out[::-1]


def drift_counts(settings: Settings) -> dict[tuple[str, str], int]:
    """(area, host) -> drift keys seen in the host's last look (being confirmed, or with an action)."""
    counts: Counter[tuple[str, str]] = Counter()
    for host, mem in read_memory(settings.paths).hosts.items():
        for key, streak in mem.keys.items():
            parts = key.split("/")
            if streak.last_seen == mem.observed_at and len(parts) >= 2:
                counts[(parts[1], host)] += 1
    return dict(counts)


@dataclass(frozen=True)
class Figures:
    """What /metrics reports, read in one pass: each queue folder listed once, the world and the
    engine's memory read once (a scrape every 15 s must cost little next to `steward list`)."""

    counts: dict[str, int]
    oldest_pending_s: float
    hosts: list[tuple[str, float | None, bool]]  # name, seconds since its last look, reachable
    drifts: dict[tuple[str, str], int]
    storm: bool


def figures(settings: Settings, now: datetime) -> Figures:
    every = list_actions(settings, every_folder=True)
    counts = Counter(i.folder for i in every)
    ages = [_seconds(i.created_at, now) for i in every if i.folder == "pending"]
    snapshot = load_world(settings.paths.world, check_problem)
    hosts = [
        (name, _seconds(str(w.get("observed_at") or ""), now), w.get("reachable") is True)
        for name, w in sorted(snapshot.hosts.items())
    ]
    return Figures(
        counts={f: counts.get(f, 0) for f in QUEUE_FOLDERS},
        oldest_pending_s=max((a for a in ages if a is not None), default=0.0),
        hosts=hosts,
        drifts=drift_counts(settings),
        storm=read_memory(settings.paths).storm is not None,
    )
