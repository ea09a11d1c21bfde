"""The runtime state folder and everything in it (see docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

QUEUE_FOLDERS = ("pending", "approved", "running", "done", "failed", "rejected", "expired", "quarantine")
OPEN_FOLDERS = ("pending", "approved", "running")
ENDED_FOLDERS = ("done", "failed", "rejected", "expired", "quarantine")


class UnsafeStateDir(RuntimeError):
    pass


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
    def hmac_key(self) -> Path:
        return self.engine / "hmac.key"

    @property
    def locks(self) -> Path:
        return self.engine / "locks"

    @property
    def memory(self) -> Path:
        return self.engine / "observations.json"

    @property
    def last_good(self) -> Path:
        return self.engine / "last_good.json"

    def folder(self, name: str) -> Path:
        if name not in QUEUE_FOLDERS:
            raise ValueError(f"unknown queue folder {name!r}")
        return self.actions / name

    def ensure(self) -> StatePaths:
        """Create the folders; refuse a state folder whose parts are symlinks (they could lead outside)."""
        folders = [self.world, self.engine, self.ledger, self.locks, self.runs, self.actions]
        folders += [self.folder(name) for name in QUEUE_FOLDERS]
        for sub in folders:
            if sub.is_symlink():
                raise UnsafeStateDir(f"{sub} is a symlink: refusing to use it (it could lead outside the state folder)")
            sub.mkdir(parents=True, exist_ok=True)
        return self
