"""Torn-read detection for the inventory: what its files were before and after Ansible read them.

A read that raced a writer (an editor's save, a `git pull`) must never become a desired state:
the signature (real path, size, crc32 of the content, mtime) of every file that feeds the
inventory is taken before and after the load, and every byte Ansible parsed must be the file's
content at both moments; a file written less than SETTLE_SECONDS ago is first given that long
to settle. The same signature keys `load_desired_cached`'s cache.
"""

from __future__ import annotations

import os
import time
import zlib
from pathlib import Path

from steward.desired.errors import InventoryChanged

Signature = tuple[tuple[str, int, int, int], ...]  # (real path, size, crc32, mtime_ns) per file
SETTLE_SECONDS = 0.25  # a file written more recently than this may be half written: wait, then read


def digest(path: str) -> tuple[int, int]:
    """(size, crc32) of the file's content now; (-1, 0) when it cannot be read (gone mid-rename)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return -1, 0
    return len(data), zlib.crc32(data)


def _mtime_ns(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


def _feeds(path: Path, vars_file: bool) -> bool:
    """Whether Ansible reads this file (editor swap and backup files do not count: no false "changed")."""
    from ansible import constants as C

    name = path.name
    if name.startswith(".") or any(name.endswith(ext) for ext in C.INVENTORY_IGNORE_EXTS):
        return False
    return not vars_file or path.suffix in (*C.YAML_FILENAME_EXTENSIONS, "")


def signature(inventory: Path) -> Signature:
    """Every file that can feed a static inventory: the source and group_vars/host_vars beside it.

    (real path, size, crc32 of the content, mtime): an edit within the same clock tick is still seen
    (content), and so is one that wrote the same bytes again (mtime)."""
    root = inventory if inventory.is_dir() else inventory.parent
    files = [inventory] if inventory.is_file() else []
    for sub in ("group_vars", "host_vars"):
        if (root / sub).is_dir():
            files += sorted(p for p in (root / sub).rglob("*") if p.is_file() and _feeds(p, vars_file=True))
    if inventory.is_dir():
        files += sorted(p for p in inventory.rglob("*") if p.is_file() and _feeds(p, vars_file=False))
    out = {os.path.realpath(f): (*digest(str(f)), _mtime_ns(str(f))) for f in files}
    return tuple((path, *stats) for path, stats in sorted(out.items()))


def folders_signature(folders: tuple[Path, ...]) -> Signature:
    """The signature of every file under ``folders`` (Compose project folders the inventory names)."""
    files = [p for folder in folders if folder.is_dir() for p in sorted(folder.rglob("*")) if p.is_file()]
    out = {os.path.realpath(f): (*digest(str(f)), _mtime_ns(str(f))) for f in files}
    return tuple((path, *stats) for path, stats in sorted(out.items()))


def _young(sig: Signature) -> list[str]:
    """Files written less than SETTLE_SECONDS ago (a writer may be between two halves)."""
    now = time.time_ns()
    return [path for path, _s, _c, mtime in sig if abs(now - mtime) < SETTLE_SECONDS * 1e9]


def settled_signature(inventory: Path) -> Signature:
    """The signature once no file was written for SETTLE_SECONDS (waited for once), else InventoryChanged."""
    sig = signature(inventory)
    if _young(sig):
        time.sleep(SETTLE_SECONDS)
        sig = signature(inventory)
        if young := _young(sig):
            raise InventoryChanged(young, "is being written")
    return sig


def check_whole(inventory: Path, before: Signature, reads: list[tuple[str, int, int]]) -> None:
    """InventoryChanged unless the files are as they were, and each read Ansible did got exactly that content."""
    after = signature(inventory)
    moved = {p for p, *_ in set(before) ^ set(after)}
    now = {p: (size, crc) for p, size, crc, _mtime in after}
    for path, size, crc in reads:
        if now.get(path, digest(path)) != (size, crc):
            moved.add(path)
    if moved:
        raise InventoryChanged(sorted(moved))
