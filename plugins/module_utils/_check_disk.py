# Copyright: Steward maintainers
# MIT License (see galaxy.yml)
"""Disk check: how full each configured path's filesystem is, and which mount it lives on.

Private to homelab.steward. Runs on the node, so it uses the standard library only:
``os.statvfs`` for sizes and inodes, ``/proc/self/mountinfo`` for the mount a path lives on
(mount point, fstype, device, per-mount options).

:func:`collect` never raises for what it observes. A configured path that does not exist is
reported as ``present: false`` with an ``error``; a path that could not be looked at (permission
denied, a hung network mount that did not answer within ``timeout``) as ``present: null`` with an
``error``; either way every other field is ``null`` and the other mounts are still reported. Only
when the mount table cannot be read at all is the whole check ``check_failed`` (with
``mounts: null``). An option the collector cannot use (a relative path, a threshold outside
0..100) raises :class:`InvalidMountSpec`, a ``ValueError``: that is a configuration mistake.

Percentages are computed like ``df``: ``used / (used + avail) * 100`` (``avail`` excludes the
blocks reserved for root), rounded *up* to one decimal, so a filesystem is never reported
emptier than it is.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

MOUNTINFO = "/proc/self/mountinfo"
DEFAULT_MOUNTS: tuple[dict[str, Any], ...] = ({"path": "/", "max_used_pct": None, "max_inodes_pct": None},)
DEFAULT_TIMEOUT = 5
THRESHOLD_KEYS = ("max_used_pct", "max_inodes_pct")

# The keyword arguments of collect(), as an Ansible argument_spec: the options of
# homelab.steward.disk_usage_info and of the `disk` entry of homelab.steward.node_observe.
OPTIONS_SPEC = dict(
    mounts=dict(
        type="list",
        elements="dict",
        default=[{"path": "/"}],
        options=dict(
            path=dict(type="str", required=True),
            max_used_pct=dict(type="int"),
            max_inodes_pct=dict(type="int"),
        ),
    ),
    timeout=dict(type="int", default=DEFAULT_TIMEOUT),
)

_OCTAL_ESCAPE = re.compile(rb"\\([0-7]{3})")


class InvalidMountSpec(ValueError):
    """An entry of ``mounts`` the collector cannot use."""


class MountEntry(NamedTuple):
    """One line of /proc/self/mountinfo, reduced to what the check reports."""

    mount_id: int
    parent_id: int
    mount_point: str
    options: frozenset[str]  # per-mount options (ro, nosuid, ...)
    fstype: str
    device: str  # the mount source: /dev/sda1, tmpfs, server:/export, ...
    super_options: frozenset[str]  # per-superblock options


def _unescape(field: bytes) -> str:
    """Undo the kernel's octal escapes (``\\040`` for a space, ...) and decode like os does."""
    return os.fsdecode(_OCTAL_ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), field))


def parse_mountinfo(data: bytes) -> list[MountEntry]:
    """Parse the text of /proc/<pid>/mountinfo (see proc(5)); lines that do not parse are skipped."""
    entries = []
    for line in data.splitlines():
        fields = line.split(b" ")
        try:
            sep = fields.index(b"-", 6)
            entries.append(
                MountEntry(
                    mount_id=int(fields[0]),
                    parent_id=int(fields[1]),
                    mount_point=_unescape(fields[4]),
                    options=frozenset(os.fsdecode(fields[5]).split(",")),
                    fstype=_unescape(fields[sep + 1]),
                    device=_unescape(fields[sep + 2]),
                    super_options=frozenset(os.fsdecode(fields[sep + 3]).split(",")),
                )
            )
        except (ValueError, IndexError):
            continue
    return entries


def read_mountinfo(path: str = MOUNTINFO) -> list[MountEntry]:
    """Read and parse the mount table; raises OSError when it cannot be read."""
    with open(path, "rb") as handle:
        return parse_mountinfo(handle.read())


def find_mount(real_path: str, entries: Iterable[MountEntry]) -> MountEntry | None:
    """The mount an absolute, symlink-free path lives on: the longest mount point that contains it.

    When several mounts share that mount point, the last one listed is on top (mounted later).
    """
    best: MountEntry | None = None
    for entry in entries:
        mp = entry.mount_point
        contains = mp == "/" or real_path == mp or real_path.startswith(mp + "/")
        if contains and (best is None or len(mp) >= len(best.mount_point)):
            best = entry
    return best


def percent_up(part: int, whole: int) -> float | None:
    """``part / whole * 100`` rounded up to one decimal (exact integer arithmetic); None if whole <= 0."""
    if whole <= 0:
        return None
    return -(-part * 1000 // whole) / 10


def normalise_mounts(mounts: Iterable[Any] | None) -> list[dict[str, Any]]:
    """Validate ``mounts`` into ``[{path, max_used_pct, max_inodes_pct}]``; raise InvalidMountSpec."""
    if mounts is None:
        return [dict(m) for m in DEFAULT_MOUNTS]
    if isinstance(mounts, (str, bytes, Mapping)):
        raise InvalidMountSpec(f"mounts must be a list of {{path, max_used_pct, max_inodes_pct}}, got {mounts!r}")
    result = []
    for spec in mounts:
        if isinstance(spec, str):
            spec = {"path": spec}
        if not isinstance(spec, Mapping):
            raise InvalidMountSpec(f"each mount must be a mapping with a path, got {spec!r}")
        unknown = sorted(set(spec) - {"path", *THRESHOLD_KEYS})
        if unknown:
            raise InvalidMountSpec(f"mount {spec.get('path')!r}: unknown keys {', '.join(map(str, unknown))}")
        path = spec.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidMountSpec(f"mount path must be an absolute path, got {path!r}")
        entry: dict[str, Any] = {"path": path}
        for key in THRESHOLD_KEYS:
            value = spec.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100):
                raise InvalidMountSpec(f"mount {path!r}: {key} must be an integer from 0 to 100, got {value!r}")
            entry[key] = value
        result.append(entry)
    return result


class _Probe(NamedTuple):
    real_path: str
    statvfs: os.statvfs_result


def _probe(path: str) -> _Probe:
    """The filesystem calls that may block on a hung mount; raises OSError."""
    real_path = os.path.realpath(path)
    os.stat(path)
    return _Probe(real_path, os.statvfs(path))


class _Timeout(Exception):
    pass


def _run_all(calls: list[Callable[[], Any]], timeout: float) -> list[Any]:
    """Run each call in its own daemon thread; wait at most ``timeout`` in total.

    Each result is the call's return value, the exception it raised, or a _Timeout. A call stuck
    in the kernel (a hard NFS mount whose server is gone) is abandoned, not waited for.
    """
    results: list[Any] = [_Timeout()] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            results[index] = call()
        except Exception as exc:  # returned to the caller, who reports it
            results[index] = exc

    threads = [
        threading.Thread(target=run, args=(i, call), name=f"steward-disk-{i}", daemon=True)
        for i, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return list(results)


def _blank(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "path": spec["path"],
        "present": None,
        "error": None,
        "max_used_pct": spec["max_used_pct"],
        "max_inodes_pct": spec["max_inodes_pct"],
        "is_mountpoint": None,
        "mount_point": None,
        "fstype": None,
        "device": None,
        "read_only": None,
        "total_bytes": None,
        "used_bytes": None,
        "avail_bytes": None,
        "used_pct": None,
        "inodes_total": None,
        "inodes_used": None,
        "inodes_free": None,
        "inodes_used_pct": None,
    }


def _describe_error(path: str, exc: BaseException, timeout: float) -> tuple[bool | None, str]:
    """(present, error message) for a path whose probe failed."""
    if isinstance(exc, _Timeout):
        return None, f"no answer from the filesystem of {path} within {timeout:g} s (hung network mount?)"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return False, f"{path} does not exist"
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM):
        return None, f"permission denied looking at {path}"
    reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__
    return None, f"cannot look at {path}: {reason}"


def describe_mount(spec: dict[str, Any], probe: _Probe, entries: list[MountEntry]) -> dict[str, Any]:
    """The report for one present path."""
    record = _blank(spec)
    vfs = probe.statvfs
    entry = find_mount(probe.real_path, entries)
    used_blocks = vfs.f_blocks - vfs.f_bfree
    used_bytes = used_blocks * vfs.f_frsize
    avail_bytes = vfs.f_bavail * vfs.f_frsize
    inodes_used = vfs.f_files - vfs.f_ffree
    record.update(
        present=True,
        is_mountpoint=entry is not None and entry.mount_point == probe.real_path,
        mount_point=entry.mount_point if entry else None,
        fstype=entry.fstype if entry else None,
        device=entry.device if entry else None,
        read_only=bool(vfs.f_flag & os.ST_RDONLY) or (entry is not None and "ro" in entry.options),
        total_bytes=vfs.f_blocks * vfs.f_frsize,
        used_bytes=used_bytes,
        avail_bytes=avail_bytes,
        used_pct=percent_up(used_bytes, used_bytes + avail_bytes),
        inodes_total=vfs.f_files,
        inodes_used=inodes_used,
        inodes_free=vfs.f_ffree,
        inodes_used_pct=percent_up(inodes_used, vfs.f_files),
    )
    return record


def collect(mounts: Iterable[Any] | None = None, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Report every configured mount; see the module docstring for the contract.

    ``mounts``: ``[{path, max_used_pct, max_inodes_pct}]`` (thresholds optional and only reported
    back); a bare path string is accepted too. Default: ``/`` without thresholds.
    ``timeout``: seconds to wait, in total, for the filesystems to answer.
    """
    mountinfo = MOUNTINFO
    specs = normalise_mounts(mounts)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise InvalidMountSpec(f"timeout must be a positive number of seconds, got {timeout!r}")
    try:
        entries = read_mountinfo(mountinfo)
    except OSError as exc:
        return {
            "status": "check_failed",
            "error": f"cannot read the mount table {mountinfo}: {exc.strerror or exc}",
            "mounts": None,
        }
    if not entries:
        return {"status": "check_failed", "error": f"the mount table {mountinfo} lists no mounts", "mounts": None}

    probes = _run_all([functools.partial(_probe, spec["path"]) for spec in specs], timeout)
    reports = []
    for index, spec in enumerate(specs):  # not zip(strict=): nodes may run Python < 3.10
        probe = probes[index]
        if isinstance(probe, _Probe):
            reports.append(describe_mount(spec, probe, entries))
        else:
            record = _blank(spec)
            record["present"], record["error"] = _describe_error(spec["path"], probe, timeout)
            reports.append(record)
    return {"status": "ok", "error": None, "mounts": reports}
