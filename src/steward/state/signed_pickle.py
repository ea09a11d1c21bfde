"""A pickle kept in the state folder for the next process, unpickled only after its HMAC matches.

Two of the engine's caches live here (desired/cached.py: the desired state; plan/looks.py: each
host's look and comparison). Each is:

* written atomically (temp file, fsync, rename), 0600;
* authenticated: MAGIC line, HMAC-SHA256 of the pickle (hex), newline, the pickle. The key is derived
  from the state folder's own key (engine/hmac.key, the one that signs playbooks) and the copy's
  purpose, and the MAC is checked before a byte is unpickled: only a process that holds that key -
  and could sign a playbook anyway - can put anything there; a file it did not write is a miss;
* stamped by its caller (`code_stamp`) with the versions of Python, ansible-core and Steward and with
  the size and mtime of every module whose output it holds: after an upgrade or an edit of that code,
  a miss;
* never an error: a missing, damaged, foreign, stale or unreadable copy (or a state folder we cannot
  write) is a miss, and the caller computes what it would have held.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import pickle
import sys
from pathlib import Path
from typing import Any

from steward.core.atomic import atomic_write_bytes, read_regular_file
from steward.state.ledger import Ledger
from steward.state.paths import StatePaths

log = logging.getLogger(__name__)
PACKAGE = Path(__file__).resolve().parents[1]  # src/steward


_stamps: dict[tuple[tuple[str, ...], tuple[Path, ...]], str | None] = {}


def code_stamp(packages: tuple[str, ...], files: tuple[Path, ...] = ()) -> str | None:
    """What a cached object depends on besides its inputs: interpreter, libraries, the code that made it
    (every module of `packages` under steward/, and `files`), by size and mtime; None (a miss: no copy
    used or written) when that code cannot be looked at. Taken once per process: the code it loaded."""
    if (packages, files) not in _stamps:
        _stamps[packages, files] = _stamp(packages, files)
    return _stamps[packages, files]


def _stamp(packages: tuple[str, ...], files: tuple[Path, ...]) -> str | None:
    import ansible.release

    from steward import __version__

    modules = (p for pkg in packages for p in (PACKAGE / pkg).rglob("*.py") if not p.name.startswith("."))
    code = hashlib.sha256()
    try:
        for path in [*sorted(modules), *files]:  # an editor's lock file (.#x.py) is not code
            st = path.stat()
            code.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    except OSError as exc:  # a file removed mid-`git pull`: no stamp, no copy
        log.info("code stamp: %s", exc)
        return None
    return (
        f"python {sys.version}; ansible-core {ansible.release.__version__}; steward {__version__}; {code.hexdigest()}"
    )


class SignedPickle:
    """One copy (see the module's docstring); `create_key`: the engine makes the state folder's key, a
    reader never does."""

    def __init__(self, path: Path, paths: StatePaths, purpose: bytes, create_key: bool = False) -> None:
        self.path = path
        self.ledger = Ledger(paths)
        self.purpose = purpose
        self.magic = b"steward " + purpose + b" 1\n"
        self.create_key = create_key

    def _key(self, create: bool) -> bytes | None:
        try:
            return self.ledger.subkey(self.purpose, create=create)
        except FileNotFoundError:  # no key yet, and this process does not make it
            return None

    def load(self) -> Any:
        """The object saved last, or None (a miss: see the module's docstring)."""
        try:
            key = self._key(create=False)
            data = read_regular_file(self.path)
        except (OSError, RuntimeError):
            return None
        if key is None or not data.startswith(self.magic):
            return None
        mac, payload = data[len(self.magic) : len(self.magic) + 64], data[len(self.magic) + 65 :]
        if not hmac.compare_digest(mac, hmac.new(key, payload, hashlib.sha256).hexdigest().encode()):
            log.warning("%s: not written with this state folder's key; ignored", self.path)
            return None
        try:
            return pickle.loads(payload)  # authenticated above: bytes this state folder's key signed
        except Exception as exc:  # a class that moved since: a miss
            log.info("%s: unreadable (%s); not used", self.path, exc)
            return None

    def save(self, obj: Any) -> bool:
        """Write the copy; False when it was not (no key yet for a reader, a folder we cannot write)."""
        try:
            key = self._key(create=self.create_key)
            if key is None:
                return False
            payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
            mac = hmac.new(key, payload, hashlib.sha256).hexdigest().encode()
            atomic_write_bytes(self.path, (self.magic, mac, b"\n", payload), mode=0o600)
        except (OSError, RuntimeError) as exc:  # a state folder we cannot write: no copy, nothing else changes
            log.info("%s not written: %s", self.path, exc)
            return False
        return True
