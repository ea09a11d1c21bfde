# Copyright: Steward maintainers
# MIT License (see galaxy.yml)
"""Atomic file writes for modules (standard library only).

temp file in the same folder -> write -> flush -> fsync -> os.replace -> fsync the folder.
A reader therefore sees the previous complete file or the new complete file, never a
half-written one (the failure Steward exists to prevent). On any
error the temp file is removed and the error re-raised; the target is left untouched.

Mirrors ``steward.core.atomic`` on the controller; modules cannot import that package
because they are shipped to the target on their own.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile


def fsync_dir(path: str) -> None:
    """fsync a folder so that a rename inside it survives a crash."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mode: int = 0o644) -> str:
    """Replace ``path`` with ``data`` atomically and durably; return the path as a str.

    The parent folder must exist. ``mode`` is applied to the new file (mkstemp creates 0600).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        fsync_dir(folder)
    except BaseException:
        # FileNotFoundError: already renamed into place (only fsync_dir failed).
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def dumps_json(obj: object) -> bytes:
    """The canonical serialisation of every Steward state file."""
    return (json.dumps(obj, sort_keys=True, indent=2) + "\n").encode("utf-8")


def atomic_write_json(path: str | os.PathLike, obj: object, mode: int = 0o644) -> str:
    """Serialise ``obj`` (sorted keys, indent 2, trailing newline) and write it atomically."""
    return atomic_write_bytes(path, dumps_json(obj), mode)
