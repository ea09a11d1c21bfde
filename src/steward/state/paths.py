"""The runtime state folder and everything in it (see docs/architecture.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from steward.core.atomic import make_dir
from steward.state.folder import UnsafeStateDir, check_permissions, claim, operator_gid

QUEUE_FOLDERS = ("pending", "approved", "running", "done", "failed", "rejected", "expired", "quarantine")
OPEN_FOLDERS = ("pending", "approved", "running")
ENDED_FOLDERS = ("done", "failed", "rejected", "expired", "quarantine")
# the only folders an operator group may write into (approve = mv pending/ID.yml approved/)
OPERATOR_FOLDERS = ("pending", "approved")
# beside an action in its queue folder: the model's diagnosis (steward.diagnose), never part of the action
DIAGNOSIS_SUFFIX = ".diagnosis.json"
PREVIEW_SUFFIX = ".preview.json"  # a Compose remedy's dry run, beside the action
# text kept beside an action, never part of it, carried along when it moves folders
SIDECAR_SUFFIXES = (DIAGNOSIS_SUFFIX, PREVIEW_SUFFIX)


__all__ = [
    "PREVIEW_SUFFIX",
    "SIDECAR_SUFFIXES",
    "DIAGNOSIS_SUFFIX",
    "ENDED_FOLDERS",
    "OPEN_FOLDERS",
    "QUEUE_FOLDERS",
    "StatePaths",
    "UnsafeStateDir",
]


_checked: set[Path] = set()  # state folders checked by this process (a start checks once)


def recheck() -> None:
    """Forget which state folders this process checked: the next ensure() checks again (each CLI run)."""
    _checked.clear()


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @property
    def world(self) -> Path:
        return self.root / "world"

    @property
    def engine(self) -> Path:
        return self.root / "engine"

    @property
    def actions(self) -> Path:
        return self.root / "actions"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def journal(self) -> Path:
        return self.root / "journal.jsonl"

    @property
    def ledger(self) -> Path:
        return self.engine / "ledger"

    @property
    def desired_cache(self) -> Path:  # the last desired state read whole (steward.desired.cached)
        return self.engine / "desired-cache.bin"

    @property
    def world_looks(self) -> Path:  # each host's look and comparison, for the next process (steward.plan.looks)
        return self.engine / "world-looks.bin"

    @property
    def hmac_key(self) -> Path:
        return self.engine / "hmac.key"

    @property
    def locks(self) -> Path:
        return self.engine / "locks"

    @property
    def memory(self) -> Path:
        return self.engine / "observations.json"

    @property
    def compose_cache(self) -> Path:
        """What `docker compose config` answered per project folder content (only a cache)."""
        return self.engine / "compose-cache.json"

    @property
    def last_good(self) -> Path:
        return self.engine / "last_good.json"

    def folder(self, name: str) -> Path:
        if name not in QUEUE_FOLDERS:
            raise ValueError(f"unknown queue folder {name!r}")
        return self.actions / name

    def ensure(self, create: bool = True) -> StatePaths:
        """Check the folder (owner, modes, symlinks, marker: steward.state.folder), then create its parts.

        Refuses (UnsafeStateDir, exit 2) before anything is written: a folder someone else can
        write into, a part that is a symlink, or a state folder that moved or vanished."""
        if self.root not in _checked:
            if self.root.exists() or self.root.is_symlink():
                check_permissions(self.root)
            claim(self.root, create=create)
            _checked.add(self.root)
        gid = operator_gid()
        folders = [self.world, self.engine, self.ledger, self.locks, self.runs, self.actions]
        folders += [self.folder(name) for name in QUEUE_FOLDERS]
        for sub in folders:
            if sub.is_symlink():
                raise UnsafeStateDir(f"{sub} is a symlink: refusing to use it (it could lead outside the state folder)")
            shared = sub.parent == self.actions and sub.name in OPERATOR_FOLDERS
            if not sub.is_dir():
                make_dir(sub)  # 0755 whatever the umask: the next start's check expects it
                if shared and gid is not None:  # approvers in the operator group move files here
                    os.chown(sub, -1, gid)
                    os.chmod(sub, 0o2775)
        for sub in (self.journal.with_suffix(".d"), self.journal.with_suffix(".index")):  # made when first needed
            if sub.is_symlink() or (sub.exists() and not sub.is_dir()):
                raise UnsafeStateDir(f"{sub} is a symlink or not a folder: refusing to use it (the journal's history)")
        return self
