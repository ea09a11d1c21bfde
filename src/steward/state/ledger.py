"""The signature ledger: an HMAC of every action file the engine wrote, and how each one ended.

The executor runs a file only if its bytes still match what the engine signed; a
hand-written, edited or renamed playbook has no valid entry and is quarantined.
An action runs at most once, ever: when it reaches an ended folder (done, failed, rejected,
expired, quarantine) its end is recorded in `ledger/ended/<id>.json`, signed, created once
(O_EXCL) and never rewritten; the executor refuses any id that has an end record, wherever its
file is moved back to and whatever it is named.
The key is created once, 0600, in the state folder (engine/hmac.key), never through a symlink.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from steward.core.atomic import atomic_write_json, fsync_dir, make_dir, read_regular_file
from steward.state.paths import StatePaths

KEY_BYTES = 32


class LedgerError(RuntimeError):
    pass


class Ledger:
    def __init__(self, paths: StatePaths) -> None:
        self.dir = paths.ledger
        self.key_path = paths.hmac_key

    def _key(self, create: bool = True) -> bytes:
        """The 32-byte key; created once, complete before anyone can see it (temp file + link).
        `create=False`: FileNotFoundError when there is none (a reader never makes the key)."""
        try:
            key = read_regular_file(self.key_path)
        except FileNotFoundError:
            if not create:
                raise
            make_dir(self.key_path.parent)
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
            key = read_regular_file(self.key_path)
        if len(key) != KEY_BYTES:
            raise LedgerError(
                f"{self.key_path} is damaged ({len(key)} bytes, expected {KEY_BYTES}): "
                "nothing can be signed or verified; move it aside to start a new key "
                "(pending actions will then be quarantined)"
            )
        return key

    def subkey(self, purpose: bytes, create: bool = True) -> bytes:
        """A key for another use than signing actions (a MAC of something else), derived from this one:
        what it authenticates can never pass for an action's signature, nor the reverse. `create=False`:
        FileNotFoundError when the state folder has no key yet."""
        return hmac.new(self._key(create), b"steward subkey\0" + purpose, hashlib.sha256).digest()

    def sign(self, action_id: str, content: bytes) -> str:
        return hmac.new(self._key(), action_id.encode() + b"\0" + content, hashlib.sha256).hexdigest()

    def record(self, action_id: str, content: bytes, meta: dict[str, Any]) -> None:
        entry = {**meta, "id": action_id, "hmac": self.sign(action_id, content)}
        atomic_write_json(self.dir / f"{action_id}.json", entry, mode=0o600)

    def entry(self, action_id: str) -> dict[str, Any] | None:
        try:
            doc = json.loads(read_regular_file(self.dir / f"{action_id}.json"))
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    # -- end states: at most once, ever -----------------------------------------------
    def _end_path(self, action_id: str) -> Path:
        return self.dir / "ended" / f"{action_id}.json"

    def _end_sig(self, action_id: str, state: str, at: str, decided: dict[str, Any] | None = None) -> str:
        text = f"ended\0{action_id}\0{state}\0{at}"
        if decided is not None:  # a human's decision (reject): how and by whom are signed too
            text += f"\0{decided.get('via')}\0{decided.get('by')}"
        return hmac.new(self._key(), text.encode(), hashlib.sha256).hexdigest()

    def mark_ended(
        self, action_id: str, state: str, at: str, reason: str | None = None, decided: dict[str, Any] | None = None
    ) -> bool:
        """Record that the action ended (True), or leave the first end record as it is (False).

        `decided`: {via, by} when a human ended it (a rejection), kept in the record and signed."""
        record: dict[str, Any] = {"id": action_id, "state": state, "at": at, "reason": reason}
        if decided is not None:
            record["decided"] = {"via": decided.get("via"), "by": decided.get("by")}
        record["sig"] = self._end_sig(action_id, state, at, record.get("decided"))
        data = (json.dumps(record, sort_keys=True) + "\n").encode()
        path = self._end_path(action_id)
        make_dir(path.parent)
        # written complete under a temp name, then linked into place: O_EXCL semantics, never torn
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
            os.chmod(tmp, 0o600)
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
        finally:
            os.unlink(tmp)
        fsync_dir(path.parent)
        return True

    def ended(self, action_id: str) -> dict[str, Any] | None:
        """The action's end record ({state, at, reason, verified}, and `decided` {via, by} for a human's
        decision), or None while it has not ended.

        Anything at the end record's path means "ended": a damaged or unverifiable record is
        reported as such, never read as "may run"."""
        path = self._end_path(action_id)
        if not (path.exists() or path.is_symlink()):
            return None
        try:
            doc = json.loads(read_regular_file(path))
            state, at = str(doc["state"]), str(doc["at"])
            decided = doc.get("decided")
            if decided is not None and not isinstance(decided, dict):
                raise TypeError("decided is not an object")
        except (OSError, ValueError, KeyError, TypeError):
            return {"state": "unknown", "at": None, "reason": "end record unreadable", "verified": False}
        ok = hmac.compare_digest(str(doc.get("sig", "")), self._end_sig(action_id, state, at, decided))
        out = {"state": state, "at": at, "reason": doc.get("reason"), "verified": ok}
        if decided is not None:
            out["decided"] = {"via": decided.get("via"), "by": decided.get("by")}
        return out

    def verify(self, action_id: str, content: bytes) -> str | None:
        """None when the file is exactly what the engine wrote, else the reason it is not."""
        entry = self.entry(action_id)
        if entry is None:
            return f"no ledger entry for {action_id!r}: not written by the Steward engine (hand-made or renamed)"
        if not hmac.compare_digest(entry.get("hmac", ""), self.sign(action_id, content)):
            return "content does not match the engine's signature: the file was edited after it was written"
        return None
