"""flock-based locks: released by the kernel when the holder dies, so a crash never leaves one stuck."""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from steward.core.atomic import make_dir


class UnsafeLockFile(OSError):
    pass


def _open_lock(path: Path) -> int:
    """The lock file's descriptor: created 0600 if missing, never opened through a symlink."""
    make_dir(path.parent)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeLockFile(errno.ELOOP, "lock file is a symlink: refusing to open it", str(path)) from None
        raise


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Wait for and hold an exclusive lock on `path`."""
    fd = _open_lock(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextmanager
def try_exclusive(path: Path) -> Iterator[bool]:
    """Take the lock if it is free (True) or report that someone holds it (False); never waits."""
    fd = _open_lock(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
