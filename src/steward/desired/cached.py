"""The desired state read once and reused: within a process while no inventory file changed, and
across processes through a copy kept in the state folder.

Reading the inventory through Ansible is what a fresh process pays first (11.5 s at 10 000 hosts,
docs/benchmarks.md); a plan cycle, an executor pass or `steward status` started by cron would pay it
every time. So a load that was checked whole (desired/inventory.py: no file changed while Ansible read
it) is kept, with the signature of every file that fed it (real path, size, crc32 of the content,
mtime) and of every Compose project folder it read, and reused only while every one of those is still
the same. An edit, a `git pull` or a file being written right now is a miss, and the full read (with
its torn-read checks) follows: the cache never decides anything a fresh read would not.

The copy in the state folder (`engine/desired-cache.bin`, `PersistedDesired`):

* written atomically (temp file, fsync, rename) after each full read, 0600;
* authenticated: the entry is a pickle, and it is unpickled only after its HMAC-SHA256 matches, under a
  key derived from the state folder's own key (engine/hmac.key, the one that signs playbooks). Only a
  process that holds that key - and could sign a playbook anyway - can put anything there; a file it did
  not write is a miss, never unpickled;
* stamped with the versions of Python, ansible-core and Steward and with the size and mtime of every
  module that parses the inventory (steward.desired, steward.areas): after an upgrade or an edit of that
  code, a miss;
* never an error: a missing, damaged, foreign, stale or unreadable copy (or a state folder we cannot
  write) means the inventory is read through Ansible, as without it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import pickle
import sys
from pathlib import Path
from typing import Any

from steward.core.atomic import atomic_write_bytes, read_regular_file
from steward.desired.errors import InventoryChanged
from steward.desired.host import DesiredState
from steward.desired.inventory import load_checked, load_desired
from steward.desired.signature import Signature, folders_signature, signature
from steward.state.ledger import Ledger
from steward.state.paths import StatePaths

__all__ = ["PersistedDesired", "load_desired_cached"]
log = logging.getLogger(__name__)
Entry = tuple[Signature, DesiredState, Signature]  # (inventory files, the desired state, project folders)
_cache: dict[Path, Entry] = {}
_current: set[tuple[Path, Path]] = set()  # (inventory, copy) pairs whose copy holds _cache's entry
MAGIC = b"steward desired-state cache 1\n"
CODE_PACKAGES = ("desired", "areas")  # the code whose output is cached: an edit of it is a miss


def load_desired_cached(inventory: Path, persisted: PersistedDesired | None = None) -> DesiredState:
    """load_desired, reused while no inventory file (nor project folder) changed; for inventories of
    files only: an executable or plugin source is re-read every time. A folder written during the read: changed.

    With `persisted`, a process that has not read the inventory yet first tries the state folder's copy."""
    static = inventory.is_dir() or inventory.suffix in (".yml", ".yaml", ".ini", ".json", "")
    if not static or not os.access(inventory, os.R_OK) or (inventory.is_file() and os.access(inventory, os.X_OK)):
        return load_desired(inventory)
    hit = _cache.get(inventory)
    copy = (inventory, persisted.path if persisted is not None else Path())
    if hit is None and persisted is not None and (hit := persisted.load(inventory)) is not None:
        _current.add(copy)
    before = folders_signature(hit[1].sources) if hit else ()
    if hit and hit[0] == signature(inventory) and hit[2] == before:
        _cache[inventory] = hit
        # read before this state folder was known (its steward_state_dir): the copy is written now
        if persisted is not None and copy not in _current and persisted.save(inventory, hit):
            _current.add(copy)
        return hit[1]  # byte for byte the files of a load that was checked whole
    sig, desired = load_checked(inventory)
    after = folders_signature(desired.sources)
    if hit and desired.sources == hit[1].sources and after != before:  # a project file written meanwhile
        raise InventoryChanged(sorted({p for p, *_ in set(before) ^ set(after)}))
    _cache[inventory] = (sig, desired, after)
    _current.difference_update({c for c in _current if c[0] == inventory})
    if persisted is not None and persisted.save(inventory, _cache[inventory]):
        _current.add(copy)
    return desired


def _code_stamp() -> str:
    """What the cached objects depend on besides the inventory: interpreter, libraries, our parsing code."""
    import ansible.release

    from steward import __version__

    root = Path(__file__).resolve().parents[1]
    files = sorted(p for pkg in CODE_PACKAGES for p in (root / pkg).rglob("*.py"))
    code = hashlib.sha256()
    for path in files:
        st = path.stat()
        code.update(f"{path.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return (
        f"python {sys.version}; ansible-core {ansible.release.__version__}; steward {__version__}; {code.hexdigest()}"
    )


class PersistedDesired:
    """The state folder's copy of the last desired state read whole (see the module's docstring)."""

    def __init__(self, paths: StatePaths, create_key: bool = False) -> None:
        self.path = paths.desired_cache
        self.ledger = Ledger(paths)
        self.create_key = create_key  # the engine makes the state folder's key; a reader never does

    def _key(self, create: bool) -> bytes | None:
        if not create and not self.ledger.key_path.exists():
            return None
        return self.ledger.subkey(b"desired-state cache")

    def load(self, inventory: Path) -> Entry | None:
        try:
            key = self._key(create=False)
            data = read_regular_file(self.path)
        except (OSError, RuntimeError):
            return None
        if key is None or not data.startswith(MAGIC):
            return None
        mac, payload = data[len(MAGIC) : len(MAGIC) + 64], data[len(MAGIC) + 65 :]
        if not hmac.compare_digest(mac, hmac.new(key, payload, hashlib.sha256).hexdigest().encode()):
            log.warning("desired-state cache %s: not written with this state folder's key; ignored", self.path)
            return None
        try:
            doc: Any = pickle.loads(payload)  # authenticated above: bytes this state folder's key signed
        except Exception as exc:  # a class that moved since: a miss
            log.info("desired-state cache %s: unreadable (%s); reading the inventory", self.path, exc)
            return None
        if not isinstance(doc, dict) or doc.get("stamp") != _code_stamp() or doc.get("inventory") != str(inventory):
            return None
        entry = doc.get("entry")
        return entry if isinstance(entry, tuple) and len(entry) == 3 else None

    def save(self, inventory: Path, entry: Entry) -> bool:
        """Write the copy; False when it was not (no key yet for a reader, a folder we cannot write)."""
        try:
            key = self._key(create=self.create_key)
            if key is None:
                return False
            payload = pickle.dumps(
                {"stamp": _code_stamp(), "inventory": str(inventory), "entry": entry}, protocol=pickle.HIGHEST_PROTOCOL
            )
            mac = hmac.new(key, payload, hashlib.sha256).hexdigest().encode()
            atomic_write_bytes(self.path, (MAGIC, mac, b"\n", payload), mode=0o600)
        except (OSError, RuntimeError) as exc:  # a state folder we cannot write: no copy, nothing else changes
            log.info("desired-state cache %s not written: %s", self.path, exc)
            return False
        return True
