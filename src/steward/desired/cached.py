"""The desired state read once and reused: within a process while no inventory file changed, and
across processes through a copy kept in the state folder.

Reading the inventory through Ansible is what a fresh process pays first (11.5 s at 10 000 hosts,
docs/benchmarks.md); a plan cycle, an executor pass or `steward status` started by cron would pay it
every time. So a load that was checked whole (desired/inventory.py: no file changed while Ansible read
it) is kept, with the signature of every file that fed it (real path, size, crc32 of the content,
mtime) and of every Compose project folder it read, and reused only while every one of those is still
the same. An edit, a `git pull` or a file being written right now is a miss, and the full read (with
its torn-read checks) follows: the cache never decides anything a fresh read would not.

The copy in the state folder (`engine/desired-cache.bin`, `PersistedDesired`) is written after each
full read: a pickle signed with a key derived from the state folder's own
(state/signed_pickle.py: atomic, 0600, the MAC checked before anything is unpickled, stamped with the
versions and the code that parses the inventory - steward.desired, .areas, .core - so an upgrade or an
edit of it is a miss). A missing, damaged, foreign, stale or unreadable copy means the inventory is
read through Ansible, as without it.

Each full read gets a new `generation` (random): a process that took the desired state from the copy
has the generation of the read that wrote it, so a cache computed against that read (plan/looks.py's
copy of each host's comparison) knows it may be reused.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from steward.desired.errors import InventoryChanged
from steward.desired.host import DesiredState
from steward.desired.inventory import load_checked, load_desired
from steward.desired.signature import Signature, folders_signature, signature
from steward.state.paths import StatePaths
from steward.state.signed_pickle import SignedPickle, code_stamp

__all__ = ["PersistedDesired", "load_desired_cached"]
Entry = tuple[Signature, DesiredState, Signature]  # (inventory files, the desired state, project folders)
_cache: dict[Path, Entry] = {}
_current: set[tuple[Path, Path]] = set()  # (inventory, copy) pairs whose copy holds _cache's entry
CODE_PACKAGES = ("desired", "areas", "core")  # the code whose output is cached: an edit of it is a miss
PURPOSE = b"desired-state cache"
MAGIC = b"steward " + PURPOSE + b" 1\n"  # the copy's first line (state/signed_pickle.py)


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
    desired = replace(desired, generation=os.urandom(16).hex())  # this read, and every copy of it
    after = folders_signature(desired.sources)
    if hit and desired.sources == hit[1].sources and after != before:  # a project file written meanwhile
        raise InventoryChanged(sorted({p for p, *_ in set(before) ^ set(after)}))
    _cache[inventory] = (sig, desired, after)
    _current.difference_update({c for c in _current if c[0] == inventory})
    if persisted is not None and persisted.save(inventory, _cache[inventory]):
        _current.add(copy)
    return desired


class PersistedDesired:
    """The state folder's copy of the last desired state read whole (see the module's docstring)."""

    def __init__(self, paths: StatePaths, create_key: bool = False) -> None:
        self.path = paths.desired_cache
        self.copy = SignedPickle(self.path, paths, PURPOSE, create_key)

    def load(self, inventory: Path) -> Entry | None:
        stamp = _code_stamp()
        doc = self.copy.load() if stamp is not None else None
        if not isinstance(doc, dict) or doc.get("stamp") != stamp:
            return None
        if doc.get("inventory") != str(inventory):
            return None
        entry = doc.get("entry")
        return entry if isinstance(entry, tuple) and len(entry) == 3 else None

    def save(self, inventory: Path, entry: Entry) -> bool:
        """Write the copy; False when it was not (no key yet for a reader, a folder we cannot write)."""
        stamp = _code_stamp()
        return stamp is not None and self.copy.save({"stamp": stamp, "inventory": str(inventory), "entry": entry})


def _code_stamp() -> str | None:
    return code_stamp(CODE_PACKAGES)
