"""The signature ledger: an HMAC of every action file the engine wrote.

The executor runs a file only if its bytes still match what the engine signed; a
hand-written, edited or renamed playbook has no valid entry and is quarantined.
The key is created once, 0600, in the state folder (engine/hmac.key).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from typing import Any

from steward.paths import StatePaths
from steward.store.atomic import atomic_write_json, fsync_dir

KEY_BYTES = 32


class LedgerError(RuntimeError):
    pass


class Ledger:
    def __init__(self, paths: StatePaths) -> None:
        self.dir = paths.ledger
        self.key_path = paths.hmac_key

    def _key(self) -> bytes:
        """The 32-byte key; created once, complete before anyone can see it (temp file + link)."""
        try:
            key = self.key_path.read_bytes()
        except FileNotFoundError:
            self.key_path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.key_path.parent, prefix=".hmac.key.")
            try:
                os.write(fd, secrets.token_bytes(KEY_BYTES))
                os.fsync(fd)
                os.close(fd)
                with contextlib.suppress(FileExistsError):  # another process made the key first: use theirs
                    os.link(tmp, self.key_path)
            finally:
                os.unlink(tmp)
            fsync_dir(self.key_path.parent)
            key = self.key_path.read_bytes()
        if len(key) != KEY_BYTES:
            raise LedgerError(
                f"{self.key_path} is damaged ({len(key)} bytes, expected {KEY_BYTES}): "
                "nothing can be signed or verified; move it aside to start a new key "
                "(pending actions will then be quarantined)"
            )
        return key

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
