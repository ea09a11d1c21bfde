"""The action queue: playbook files moving between folders under actions/.

Every transition is an atomic rename plus a journal event; nothing is ever deleted.
`mv pending/X.yml approved/` by hand and `ActionQueue.approve` are the same move.

A human decision (approve, reject) says how it was made and by whom: `via` is the surface
("cli", "web", "telegram", "file" for a file moved by hand) and `by` who used it (the OS
user, a web token's name, a Telegram user), or None when the surface cannot tell (a rename
does not say who made it). Both are journaled in the decision's event; a rejection also
keeps them in its result file and its signed end record.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from steward.core.atomic import NotARegularFile, atomic_move, atomic_write_json, atomic_write_text
from steward.core.locks import try_exclusive
from steward.state.journal import Journal, isotime, utcnow
from steward.state.ledger import Ledger
from steward.state.paths import (
    DIAGNOSIS_SUFFIX,
    ENDED_FOLDERS,
    OPEN_FOLDERS,
    QUEUE_FOLDERS,
    SIDECAR_SUFFIXES,
    StatePaths,
)
from steward.state.world import parse_time

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,150}$")
VIA_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")  # a surface's name (cli, web, telegram, file), never free text


class QueueError(Exception):
    """A queue operation that cannot be done; the message says why."""


class BadActionId(QueueError):
    pass


class ActionNotFound(QueueError):
    pass


def check_id(action_id: str) -> str:
    if not isinstance(action_id, str) or not ID_RE.fullmatch(action_id) or ".." in action_id:
        raise BadActionId(f"{action_id!r} is not an action id")
    return action_id


@dataclass(frozen=True)
class ActionInfo:
    id: str
    folder: str
    path: str
    key: str | None
    host: str | None
    summary: str | None
    created_at: str | None
    expires_at: str | None
    signed: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ActionQueue:
    def __init__(self, paths: StatePaths, journal: Journal) -> None:
        self.paths = paths.ensure()
        self.journal = journal
        self.ledger = Ledger(paths)

    # -- reading --------------------------------------------------------------------
    def path(self, folder: str, action_id: str) -> Path:
        return self.paths.folder(folder) / f"{check_id(action_id)}.yml"

    def ids(self, folder: str) -> list[str]:
        out = []
        for p in sorted(self.paths.folder(folder).iterdir()):
            if p.suffix == ".yml" and not p.name.startswith("."):
                out.append(p.stem)
        return out

    def find(self, action_id: str) -> tuple[str, Path]:
        check_id(action_id)
        for folder in QUEUE_FOLDERS:
            p = self.path(folder, action_id)
            if p.exists() or p.is_symlink():
                return folder, p
        raise ActionNotFound(f"no action {action_id!r} in any queue folder")

    def info(self, folder: str, action_id: str) -> ActionInfo:
        entry = self.ledger.entry(action_id) or {}
        return ActionInfo(
            id=action_id,
            folder=folder,
            path=str(self.paths.folder(folder) / f"{action_id}.yml"),
            key=entry.get("key"),
            host=entry.get("host"),
            summary=entry.get("summary"),
            created_at=entry.get("created_at"),
            expires_at=entry.get("expires_at"),
            signed=bool(entry),
        )

    def list(self, folders: tuple[str, ...] = QUEUE_FOLDERS) -> list[ActionInfo]:
        out: list[ActionInfo] = []
        for folder in folders:
            for action_id in self.ids(folder):
                if ID_RE.fullmatch(action_id):
                    out.append(self.info(folder, action_id))
        return out

    def open_keys(self) -> set[str]:
        """Drift keys with an action in pending/, approved/ or running/: at most one each."""
        return {i.key for i in self.list(OPEN_FOLDERS) if i.key}

    def ended(self, action_id: str) -> dict[str, Any] | None:
        """How the action ended ({state, at, reason, verified}), or None while it may still run."""
        return self.ledger.ended(action_id)

    def result(self, folder: str, action_id: str) -> Path:
        return self.paths.folder(folder) / f"{action_id}.result.json"

    # -- writing --------------------------------------------------------------------
    def write_pending(self, action_id: str, text: str, meta: dict[str, Any]) -> Path:
        """Sign, then publish: the ledger entry exists before the file appears in pending/."""
        check_id(action_id)
        content = text.encode()
        self.ledger.record(action_id, content, meta)
        path = atomic_write_text(self.path("pending", action_id), text)
        self.journal.flush()  # events of the cycle so far, then this one, reach the disk now
        self.journal.append(
            "action_pending", action=action_id, key=meta.get("key"), host=meta.get("host"), summary=meta.get("summary")
        )
        self.journal.flush()
        return path

    def move(
        self,
        action_id: str,
        src: str,
        dst: str,
        event: str | None,
        result: dict[str, Any] | None = None,
        unique: bool = False,
        **fields: Any,
    ) -> Path:
        """Atomic rename src/ID.yml -> dst/ID.yml, optional result file, one journal event."""
        source = self.path(src, action_id)
        target = self.path(dst, action_id)
        if unique and os.path.lexists(target):  # e.g. a second replay into quarantine/: keep both
            target = target.with_name(f"{action_id}.{time.time_ns()}.yml")
        if dst in ENDED_FOLDERS and os.path.lexists(source) and not source.is_symlink():
            # the end is recorded before the move: a crash in between leaves an action that can no
            # longer run, never one that ended and may run again
            state = {"done": "done", "quarantine": "quarantined"}.get(dst, dst)
            reason = (result or {}).get("reason") or fields.get("reason")
            decided = {"via": str(fields["via"]), "by": fields.get("by")} if "via" in fields else None
            self.ledger.mark_ended(action_id, state, isotime(), None if reason is None else str(reason), decided)
        try:
            atomic_move(source, target)
        except FileNotFoundError:
            raise ActionNotFound(f"{action_id} is no longer in {src}/ (moved by someone else?)") from None
        except FileExistsError:
            raise QueueError(f"{target} already exists; refusing to overwrite it") from None
        for suffix in SIDECAR_SUFFIXES:
            self._carry(source.with_name(f"{action_id}{suffix}"), target, suffix)
        if result is not None:
            atomic_write_json(
                target.with_name(target.stem + ".result.json"),
                {"id": action_id, "folder": dst, "at": isotime(), **result},
            )
        if event is None:
            return target
        entry = self.ledger.entry(action_id) or {}
        self.journal.append(
            event, action=action_id, key=entry.get("key"), host=entry.get("host"), src=src, dst=dst, **fields
        )
        return target

    def _carry(self, sidecar: Path, target: Path, suffix: str = DIAGNOSIS_SUFFIX) -> bool:
        """Move a file kept beside the action (its diagnosis ID.diagnosis.json, its dry run
        ID.preview.json: text beside it, never part of it) next to `target`. A missing one, a symlink,
        or a name already taken there is left where it is: the action's own move has happened and
        never fails for what is beside it."""
        try:
            atomic_move(sidecar, target.with_name(target.stem + suffix))
        except (FileNotFoundError, FileExistsError, NotARegularFile):
            return False
        return True

    def gather_sidecars(self, action_id: str, folder: str) -> bool:
        """What is kept beside an action (its diagnosis, its dry run) left in pending/ while the action
        is in `folder`/ now: moved beside it. True when something was moved.

        `mv pending/ID.yml approved/` by hand moves the action alone (and a diagnosis stored as an
        approval happened stays behind); the executor calls this when it claims the action."""
        if folder == "pending" or os.path.lexists(self.path("pending", action_id)):
            return False
        pending = self.paths.folder("pending")
        moved = [self._carry(pending / f"{action_id}{s}", self.path(folder, action_id), s) for s in SIDECAR_SUFFIXES]
        return any(moved)

    @contextmanager
    def _decide(self, action_id: str, via: str | None = None) -> Iterator[None]:
        """Hold the action's lock (the one an executor holds from claim to settle) while deciding it."""
        if via is not None and not (isinstance(via, str) and VIA_RE.fullmatch(via)):
            raise QueueError(f"via {via!r} is not the name of a surface (like cli, web, telegram)")
        with try_exclusive(self.paths.locks / f"{check_id(action_id)}.lock") as free:
            if not free:
                raise QueueError(f"{action_id} is being checked or run by an executor right now; try again")
            yield

    def approve(self, action_id: str, via: str = "cli", by: str | None = None, reason: str | None = None) -> Path:
        """pending/ -> approved/ under the action's lock; `reason` is optional (why it may run now)."""
        with self._decide(action_id, via):
            folder, _ = self.find(action_id)
            if folder != "pending":
                raise QueueError(f"{action_id} is in {folder}/, only a pending action can be approved")
            ended = self.ended(action_id)
            if ended:
                raise QueueError(
                    f"{action_id} already ended ({ended['state']} at {ended['at']}): an action runs at most once; "
                    "the engine writes a new one while the drift holds"
                )
            self._refuse_expired(action_id, "approved")
            decision: dict[str, Any] = {"via": via, "by": by}
            if reason is not None:
                decision["reason"] = reason
            return self.move(action_id, "pending", "approved", "action_approved", **decision)

    def _refuse_expired(self, action_id: str, verb: str) -> None:
        expires_at = (self.ledger.entry(action_id) or {}).get("expires_at")
        if isinstance(expires_at, str) and parse_time(expires_at) <= utcnow():
            raise QueueError(
                f"{action_id} expired: not {verb} before {expires_at}; the engine moves it to expired/ on "
                "its next cycle and writes a new one while the drift holds"
            )

    def reject(self, action_id: str, reason: str, via: str = "cli", by: str | None = None) -> Path:
        if not reason.strip():
            raise QueueError("a rejection needs a reason")
        with self._decide(action_id, via):
            folder, _ = self.find(action_id)
            if folder not in ("pending", "approved"):
                raise QueueError(f"{action_id} is in {folder}/, only a pending or approved action can be rejected")
            if folder == "pending":  # an expired plan reads "expired", never "rejected"
                self._refuse_expired(action_id, "rejected")
            return self.move(
                action_id,
                folder,
                "rejected",
                "action_rejected",
                result={"status": "rejected", "reason": reason, "via": via, "by": by},
                reason=reason,
                via=via,
                by=by,
            )

    def journal_file_approval(self, action_id: str) -> None:
        """An action the executor claimed whose approval is not journaled: a human moved the file.

        `mv pending/ID.yml approved/` is an approval like `steward approve`; it is journaled when the
        executor first sees it (via "file"; `by` None: a rename does not say who made it)."""
        if self.journal.has("action_approved", action_id):
            return
        entry = self.ledger.entry(action_id) or {}
        self.journal.append(
            "action_approved", action=action_id, key=entry.get("key"), host=entry.get("host"), via="file", by=None
        )

    def expire_pending(self, action_id: str, reason: str) -> Path:
        """The engine's expiry (TTL, drift resolved, flapping, host left): pending/ -> expired/, under the lock."""
        with self._decide(action_id):
            if not self.path("pending", action_id).is_file():
                raise ActionNotFound(f"{action_id} is no longer in pending/")
            return self.move(
                action_id,
                "pending",
                "expired",
                "action_expired",
                result={"status": "expired", "reason": reason},
                reason=reason,
            )
