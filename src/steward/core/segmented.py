"""An append-only file of JSON lines kept as numbered segments: the journal, rotated by size.

    journal.jsonl          the file every writer appends to (O_APPEND, one write() per batch)
    journal.d/000001.jsonl the first segment: what journal.jsonl held when it reached the limit
    journal.d/000002.jsonl ... never deleted, never changed again

A writer appends holding a shared flock on the file it opened, and only when that file is still the
one named journal.jsonl (a rotation between its open and its lock sends it to the new one). When a
write leaves the file at or over the limit, the writer takes the exclusive lock (every other writer
has finished its line) and renames the file into the next free segment: no line is cut, none lost,
and a segment never grows after it is made.

Readers see one stream: the segments in order, then journal.jsonl. A *logical offset* counts bytes
across that stream; as segments never change and the current file only grows, an offset stays valid
across rotations (a rotation turns the current file into the last segment, byte for byte). Only
complete lines are read: a line still being written is left for the next read.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from steward.core.atomic import fsync_dir, make_dir, open_append, open_read

SEGMENT_RE = re.compile(r"^[0-9]{6,}\.jsonl$")
CHUNK = 1 << 20
TRIES = 1000  # looks at the folder before a reader or writer gives up (a rotation takes microseconds)

log = logging.getLogger("steward")


class JournalLayoutError(OSError):
    """The files of the stream cannot be read as one (e.g. journal.jsonl hard-linked to a segment)."""


def segment_dir(path: Path) -> Path:
    """journal.jsonl -> journal.d (beside it)."""
    return path.with_suffix(".d")


def segments(path: Path) -> list[Path]:
    """The rotated segments, oldest first: regular files only (a symlink there was never made by a rotation)."""
    folder = segment_dir(path)
    if folder.is_symlink() or not folder.is_dir():
        return []  # the state folder's check refuses a symlinked journal.d; a rotation never makes one
    names = [n for n in os.listdir(folder) if SEGMENT_RE.match(n)]
    found = [folder / n for n in sorted(names, key=lambda n: int(n.split(".")[0]))]
    return [p for p in found if stat.S_ISREG(os.lstat(p).st_mode)]


def parts(path: Path) -> list[Path]:
    """Every file of the stream, in order: the segments, then the current file."""
    return [*segments(path), path]


def total_size(path: Path) -> int:
    """Bytes in the whole stream (a logical offset past this does not exist yet, or the files were replaced)."""
    listed, current = _snapshot(path)
    try:
        return sum(os.lstat(p).st_size for p in listed) + (os.fstat(current.fileno()).st_size if current else 0)
    finally:
        if current is not None:
            current.close()


def append(path: Path, data: bytes, rotate_at: int | None) -> None:
    """Append `data` (whole lines) in one write and fsync it; rotate when the file reaches `rotate_at` bytes."""
    make_dir(path.parent)
    for _ in range(TRIES):
        fd = open_append(path)  # never through a symlink
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            if not _is_current(fd, path):
                continue  # rotated between our open and our lock: append to the new file
            os.write(fd, data)
            os.fsync(fd)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if rotate_at is not None and size >= rotate_at:
            try:
                rotate(path, rotate_at)
            except OSError as exc:  # the line is written; the file just grows until a rotation can be made
                log.warning("journal not rotated (%s): %s keeps growing", exc, path)
        return
    raise JournalLayoutError(f"{path}: still not the file named so after {TRIES} tries (rotated under us?)")


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _is_current(fd: int, path: Path) -> bool:
    try:
        return _same_file(os.stat(path, follow_symlinks=False), os.fstat(fd))
    except FileNotFoundError:
        return False


def rotate(path: Path, rotate_at: int = 0) -> Path | None:
    """Make the current file the next segment if it holds at least `rotate_at` bytes; the new segment
    (None when another writer rotated first, or the file is smaller)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # every writer of this file has finished its line
        if not _is_current(fd, path) or os.fstat(fd).st_size < max(rotate_at, 1):
            return None
        folder = segment_dir(path)
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise JournalLayoutError(f"{folder} is not a folder of this state folder (a symlink or a file)")
        make_dir(folder)
        existing = segments(path)
        number = int(existing[-1].name.split(".")[0]) + 1 if existing else 1
        target = folder / f"{number:06d}.jsonl"
        while os.path.lexists(target):  # never over an existing segment
            number += 1
            target = folder / f"{number:06d}.jsonl"
        # one atomic rename (a crash leaves either name, never both): only the holder of this file's
        # exclusive lock renames it, so no other rotator picks the same number meanwhile
        os.rename(path, target)
        fsync_dir(folder)
        fsync_dir(path.parent)
        return target
    finally:
        os.close(fd)


def _snapshot(path: Path) -> tuple[list[Path], BinaryIO | None]:
    """The segments and an open current file that belong together: the current file is opened first,
    and if it is already among the segments (a rotation in between), the look is taken again."""
    for _ in range(TRIES):
        try:
            current: BinaryIO | None = open_read(path)
        except FileNotFoundError:
            current = None
        listed = segments(path)
        if current is None:
            if not os.path.lexists(path):
                return listed, None
            continue  # created between our open and our look
        # still the file named journal.jsonl after the listing: it was not rotated in between, so the
        # listing holds every segment older than it and none of them is it
        if _is_current(current.fileno(), path):
            if not listed or not _same_file(os.fstat(current.fileno()), os.lstat(listed[-1])):
                return listed, current
            current.close()
            raise JournalLayoutError(
                f"{path} and {listed[-1]} are the same file (a hard link?): the history would be read twice"
            )
        current.close()
    raise JournalLayoutError(f"{path}: the segments and the current file kept changing for {TRIES} looks")


def lines_from(path: Path, offset: int = 0, limit: int | None = None) -> Iterator[tuple[int, bytes]]:
    """(logical offset after the line, the line without its newline) for each complete line from
    `offset` on; with `limit`, it stops after the line that takes it past about `limit` bytes (at
    least one line is always given, however long)."""
    listed, current = _snapshot(path)
    budget = _Budget(limit)
    start = 0
    try:
        for part in [*listed, None]:
            # a segment that vanished would shift every offset after it: open_read's error, not a skip
            fh = current if part is None else open_read(part)
            if fh is None:
                break
            with fh:
                size = os.fstat(fh.fileno()).st_size
                if offset < start + size or part is None:
                    yield from _lines(fh, start, max(offset - start, 0), part is None, budget)
                    if budget.spent():
                        return
            start += size
    finally:
        if current is not None:
            current.close()


class _Budget:
    def __init__(self, limit: int | None) -> None:
        self.left, self.given = limit, 0

    def spent(self) -> bool:
        return self.left is not None and self.left <= 0 and self.given > 0


def _lines(fh: BinaryIO, start: int, skip: int, last: bool, budget: _Budget) -> Iterator[tuple[int, bytes]]:
    fh.seek(skip)
    at = start + skip
    pending = b""
    while True:
        block = fh.read(CHUNK)
        if not block:
            break
        pending += block
        *whole, pending = pending.split(b"\n")
        for raw in whole:
            at += len(raw) + 1
            budget.given += 1
            yield at, raw
        if budget.left is not None:
            budget.left -= len(block)
            if budget.spent():
                return
    if not last and pending:
        # a segment that ends in a torn line (a writer crashed mid-line before the rotation): it can
        # never be completed, so it is passed over
        budget.given += 1
        yield at + len(pending), pending


def end(path: Path) -> int:
    """The logical offset just past the stream's last complete line."""
    listed, current = _snapshot(path)
    before = sum(os.lstat(p).st_size for p in listed)
    if current is None:
        return before
    with current:
        at = os.fstat(current.fileno()).st_size
        while at > 0:
            begin = max(0, at - 65536)
            current.seek(begin)
            block = current.read(at - begin)
            newline = block.rfind(b"\n")
            if newline >= 0:
                return before + begin + newline + 1
            at = begin
    return before
