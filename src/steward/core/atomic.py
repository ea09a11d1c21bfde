"""Atomic file writes: temp file in the same folder -> fsync -> os.replace -> fsync the folder.

Every state file the controller writes goes through here. Its twin,
plugins/module_utils/_atomic.py, does the same for the collection's plugins (the world files
written by the node_observe action plugin): collection code cannot import this package, since
the collection installs and runs without it. A reader therefore sees either the
previous complete file or the new complete file, never a half-written one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO


class NotARegularFile(OSError):
    """A state file that is a symlink, a folder or a device: never read or written through."""


def open_read(path: Path | str) -> BinaryIO:
    """A binary reader on a regular file, never through a symlink (NotARegularFile)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotARegularFile(errno.ELOOP, "is a symlink: refusing to read through it", str(path)) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotARegularFile(errno.EINVAL, "not a regular file", str(path))
    return os.fdopen(fd, "rb")


def read_regular_file(path: Path | str) -> bytes:
    """The bytes of a regular file, read without following a symlink."""
    with open_read(path) as fh:
        return fh.read()


def open_append(path: Path | str, mode: int = 0o644) -> int:
    """An O_APPEND descriptor on a regular file (created if missing), never through a symlink."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotARegularFile(errno.ELOOP, "is a symlink: refusing to append through it", str(path)) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotARegularFile(errno.EINVAL, "not a regular file", str(path))
    return fd


def make_dir(path: Path) -> None:
    """A folder (and its parents) 0755 whatever the umask: the state folder check refuses group write."""
    if path.is_dir():
        return
    make_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o755)
        os.chmod(path, 0o755)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path | str, data: bytes | Iterable[bytes], mode: int = 0o644) -> Path:
    """`data` in one piece, or as chunks written one after the other (a big file never held whole)."""
    path = Path(path)
    make_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)  # on the descriptor: the name could be swapped meanwhile
            for chunk in (data,) if isinstance(data, bytes) else data:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_text(path: Path | str, text: str, mode: int = 0o644) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), mode)


def atomic_write_json(path: Path | str, obj: Any, mode: int = 0o644, compact: bool = False) -> Path:
    """Indented for files people read; compact for big engine-internal files."""
    text = json.dumps(obj, separators=(",", ":")) if compact else json.dumps(obj, indent=2, sort_keys=True)
    return atomic_write_text(path, text + "\n", mode)


def atomic_move(src: Path, dst: Path) -> None:
    """Rename src to dst (same filesystem) and fsync both folders.

    os.rename is atomic: of two processes renaming the same src, exactly one wins and the
    other gets FileNotFoundError -- that is how an action is claimed. An existing dst is
    never overwritten (FileExistsError): nothing is ever lost by a move. A source that is a
    symlink is refused (NotARegularFile): a move never carries a link to elsewhere into a folder.
    """
    make_dir(dst.parent)
    if os.path.lexists(dst):
        raise FileExistsError(f"refusing to overwrite {dst}")
    if src.is_symlink():
        raise NotARegularFile(errno.ELOOP, "is a symlink: refusing to move it", str(src))
    os.rename(src, dst)
    fsync_dir(dst.parent)
    if src.parent != dst.parent:
        fsync_dir(src.parent)
