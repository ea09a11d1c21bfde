"""The signature ledger: an HMAC of every action file the engine wrote.

The executor runs a file only if its bytes still match what the engine signed; a
hand-written, edited or renamed playbook has no valid entry and is quarantined.
The key is created once, 0600, in the state folder (engine/hmac.key).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from typing import Any

from steward.paths import StatePaths
from steward.store.atomic import atomic_write_json, fsync_dir


class Ledger:
    def __init__(self, paths: StatePaths) -> None:
        self.dir = paths.ledger
        self.key_path = paths.hmac_key

    def _key(self) -> bytes:
        try:
            return self.key_path.read_bytes()
        except FileNotFoundError:
            pass
        self.key_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            return self.key_path.read_bytes()
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
            fh.flush()
            os.fsync(fh.fileno())
        fsync_dir(self.key_path.parent)
        return self.key_path.read_bytes()

    def sign(self, action_id: str, content: bytes) -> str:
        return hmac.new(self._key(), action_id.encode() + b"\0" + content, hashlib.sha256).hexdigest()

    def record(self, action_id: str, content: bytes, meta: dict[str, Any]) -> None:
        entry = {**meta, "id": action_id, "hmac": self.sign(action_id, content)}
        atomic_write_json(self.dir / f"{action_id}.json", entry, mode=0o600)

    def entry(self, action_id: str) -> dict[str, Any] | None:
        try:
            doc = json.loads((self.dir / f"{action_id}.json").read_text())
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    def verify(self, action_id: str, content: bytes) -> str | None:
        """None when the file is exactly what the engine wrote, else the reason it is not."""
        entry = self.entry(action_id)
        if entry is None:
            return f"no ledger entry for {action_id!r}: not written by the Steward engine (hand-made or renamed)"
        if not hmac.compare_digest(entry.get("hmac", ""), self.sign(action_id, content)):
            return "content does not match the engine's signature: the file was edited after it was written"
        return None
