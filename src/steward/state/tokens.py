"""Named access tokens of the web desk (`steward ui token add | list | revoke`), kept in the state folder.

`engine/ui-tokens.json` (0600) holds, per name, the SHA-256 of the token, when it was made and a
random generation id; the token itself is shown once, when it is made, and never stored. A
session cookie names the token and its generation: revoking a name (or making it anew) ends
every session opened with it. `engine/ui-secret.key` (0600) signs the session cookies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from steward.core.atomic import atomic_write_bytes, atomic_write_json, read_regular_file
from steward.core.locks import exclusive
from steward.state.journal import isotime
from steward.state.paths import StatePaths

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")  # a token's name: shown, journaled as `by`; never free text
TOKEN_PREFIX = "stw_"


class TokenError(ValueError):
    """A token name that is not a name, a name that exists (add) or does not (revoke)."""


@dataclass(frozen=True)
class TokenHolder:
    """Who a presented token belongs to."""

    name: str
    generation: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", errors="replace")).hexdigest()


class Tokens:
    def __init__(self, paths: StatePaths) -> None:
        self.paths = paths
        self.file = paths.engine / "ui-tokens.json"
        self.secret_file = paths.engine / "ui-secret.key"
        self._lock = paths.locks / "ui-tokens.lock"

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            doc = json.loads(read_regular_file(self.file))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise TokenError(f"{self.file} is unreadable ({exc}); fix or remove it (every token is then gone)") from exc
        if not isinstance(doc, dict):
            raise TokenError(f"{self.file} is not a JSON object; fix or remove it")
        return {k: v for k, v in doc.items() if isinstance(v, dict) and NAME_RE.fullmatch(k)}

    def names(self) -> list[dict[str, Any]]:
        """Every token's name and creation time (never the token)."""
        return [{"name": n, "created_at": t.get("created_at")} for n, t in sorted(self._read().items())]

    def add(self, name: str) -> str:
        """A new token named `name`: returned once, stored only as its hash."""
        if not NAME_RE.fullmatch(name):
            raise TokenError(f"token name {name!r} must be lower-case letters, digits, - or _ (at most 32)")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with exclusive(self._lock):
            doc = self._read()
            if name in doc:
                raise TokenError(f"a token named {name!r} exists; revoke it first")
            doc[name] = {"sha256": _digest(token), "created_at": isotime(), "generation": secrets.token_hex(8)}
            atomic_write_json(self.file, doc, mode=0o600)
        return token

    def revoke(self, name: str) -> None:
        with exclusive(self._lock):
            doc = self._read()
            if name not in doc:
                raise TokenError(f"no token named {name!r}")
            del doc[name]
            atomic_write_json(self.file, doc, mode=0o600)

    def holder(self, token: str) -> TokenHolder | None:
        """The holder of `token`, compared in constant time against every stored hash; None: no such token."""
        digest = _digest(token.strip())
        found = None
        for name, entry in self._read().items():
            if hmac.compare_digest(digest, str(entry.get("sha256", ""))):
                found = TokenHolder(name, str(entry.get("generation", "")))
        return found

    def current(self, name: str, generation: str) -> bool:
        """Whether a session opened with token `name` of `generation` may go on (not revoked, not remade)."""
        entry = self._read().get(name)
        return entry is not None and hmac.compare_digest(str(entry.get("generation", "")), generation)

    def secret(self) -> bytes:
        """The key that signs session cookies; made on first use."""
        with exclusive(self._lock):
            try:
                key = read_regular_file(self.secret_file)
                if len(key) >= 32:
                    return key
            except FileNotFoundError:
                pass
            key = secrets.token_bytes(32)
            atomic_write_bytes(self.secret_file, key, mode=0o600)
            return key
