"""The state folder keeps its promises: it is ours, nobody else can write in it, and it never moves silently.

Checked on every start (`StatePaths.ensure`), before anything is read or written:

* **Ownership and modes.** The folder, every subfolder and every file is owned by the running
  user (or root), is not world-writable and not group-writable. One exception, for approvers
  who approve by moving files: with an operator group named (`STEWARD_OPERATOR_GROUP`),
  `actions/pending` and `actions/approved` may be writable by that group (never `actions/`
  itself: a member could swap a queue folder for a symlink). Files inside the queue
  folders are not judged here (whoever dropped one, the executor runs only what the engine
  signed, and quarantines the rest). `engine/hmac.key` is readable by its owner only. No
  symlink anywhere but in a queue folder. `runs/` (ansible-runner's artifacts) is checked to
  its first level only. Refusal: `UnsafeStateDir`, exit 2.
* **A marker.** `.steward-state` (a random id) is written into a new state folder. A folder that
  holds files but no marker (made by a version before the marker) is adopted, once.
* **No silent switch.** Every state folder used is remembered, per user, in
  `$XDG_STATE_HOME/steward/state-folders.json` (default `~/.local/state/...`; at most 200,
  newest first). When the configured folder is missing or lost its marker although it was used
  before, nothing is created: it moved or was deleted, and the message says so, with the other
  folders still in use. `steward init` creates a new one on purpose.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import secrets
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MARKER = ".steward-state"
REGISTRY_LIMIT = 200
SHALLOW = {"runs"}  # checked to the first level only (ansible-runner artifacts)


class ConfigError(ValueError):
    """A setting Steward cannot use; the message says which and why (exit 2)."""


class UnsafeStateDir(ConfigError):
    """The state folder is not safe to use (ownership, modes, symlinks, moved); nothing was touched."""


def operator_gid() -> int | None:
    name = os.environ.get("STEWARD_OPERATOR_GROUP", "").strip()
    if not name:
        return None
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ConfigError(f"STEWARD_OPERATOR_GROUP={name!r}: no such group") from None


def _problem(path: Path, st: os.stat_result, gid: int | None, *, group_ok: bool) -> str | None:
    me = os.geteuid()
    if st.st_uid not in (me, 0):
        return f"{path} is owned by uid {st.st_uid}, not by the running user (uid {me}) or root"
    if st.st_mode & stat.S_IWOTH:
        return f"{path} is writable by everyone (mode {stat.filemode(st.st_mode)})"
    if st.st_mode & stat.S_IWGRP and not (group_ok and gid is not None and st.st_gid == gid):
        if gid is None:
            why = "no operator group is named (STEWARD_OPERATOR_GROUP)"
        elif group_ok:
            why = "its group is not the operator group"
        else:
            why = "only actions/pending and actions/approved may be written by the operator group"
        return f"{path} is group-writable (mode {stat.filemode(st.st_mode)}, gid {st.st_gid}): {why}"
    return None


def check_permissions(root: Path) -> None:
    """Refuse (UnsafeStateDir) a state folder someone else could write into; reads only."""
    gid = operator_gid()
    problems: list[str] = []
    st = os.stat(root)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeStateDir(f"{root} is not a folder")
    p = _problem(root, st, gid, group_ok=False)
    if p:
        problems.append(p)
    for top in sorted(os.scandir(root), key=lambda e: e.name):
        _walk(Path(top.path), top.name, gid, problems, depth=0)
        if len(problems) >= 5:
            break
    key = root / "engine" / "hmac.key"
    with contextlib.suppress(FileNotFoundError):
        kst = os.lstat(key)
        if kst.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            problems.append(f"{key} is readable by others (mode {stat.filemode(kst.st_mode)}): anyone could sign")
    if problems:
        raise UnsafeStateDir(
            "refusing to use the state folder: " + "; ".join(problems[:5]) + " (fix with chown/chmod; "
            "docs/operations.md, 'Permissions')"
        )


def _walk(path: Path, top: str, gid: int | None, problems: list[str], depth: int) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return  # moved meanwhile
    queue_file = top == "actions" and depth >= 2
    if stat.S_ISLNK(st.st_mode):
        if not queue_file:
            problems.append(f"{path} is a symlink: refusing to use it (it could lead outside the state folder)")
        return
    if queue_file:
        return  # whoever dropped a file in a queue folder: the executor runs only what the engine signed
    shared = top == "actions" and depth == 1 and path.name in ("pending", "approved") and stat.S_ISDIR(st.st_mode)
    p = _problem(path, st, gid, group_ok=shared)
    if p:
        problems.append(p)
    if not stat.S_ISDIR(st.st_mode) or (top in SHALLOW and depth >= 1):
        return
    with os.scandir(path) as it:
        for entry in it:
            _walk(Path(entry.path), top, gid, problems, depth + 1)
            if len(problems) >= 5:
                return


# -- marker and registry ------------------------------------------------------------------
def registry_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "steward" / "state-folders.json"


def _registry() -> dict[str, Any]:
    try:
        doc = json.loads(registry_path().read_text())
    except (OSError, ValueError):
        return {"folders": {}}
    return doc if isinstance(doc, dict) and isinstance(doc.get("folders"), dict) else {"folders": {}}


def _remember(root: Path, marker_id: str) -> None:
    from steward.core.atomic import atomic_write_json

    doc = _registry()
    folders: dict[str, Any] = doc["folders"]
    if folders.get(str(root), {}).get("id") == marker_id:
        return  # known: no write on an ordinary start
    folders[str(root)] = {"id": marker_id, "first_used": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    newest = sorted(folders.items(), key=lambda kv: kv[1].get("first_used", ""), reverse=True)[:REGISTRY_LIMIT]
    with contextlib.suppress(OSError):  # the registry is a safety net, never a reason to stop
        atomic_write_json(registry_path(), {"folders": dict(newest)}, mode=0o600)


def read_marker(root: Path) -> str | None:
    try:
        doc = json.loads((root / MARKER).read_text())
        return str(doc["id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_marker(root: Path) -> str:
    from steward.core.atomic import atomic_write_json

    marker_id = secrets.token_hex(8)
    atomic_write_json(root / MARKER, {"id": marker_id, "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
    return marker_id


def _others(root: Path, limit: int = 5) -> list[str]:
    """The most recently first-used other state folders that still have their marker."""
    folders = _registry()["folders"]
    newest = sorted(folders, key=lambda p: folders[p].get("first_used", ""), reverse=True)
    out: list[str] = []
    for path in newest:
        if path != str(root) and read_marker(Path(path)) is not None:
            out.append(path)
            if len(out) == limit:
                break
    return out


def claim(root: Path, create: bool = True) -> None:
    """Make sure `root` is a Steward state folder (marker), or refuse when it moved or vanished."""
    marker_id = read_marker(root)
    if marker_id is None:
        known = _registry()["folders"].get(str(root))
        if known is not None:
            others = _others(root)
            raise UnsafeStateDir(
                f"the state folder {root} was in use (since {known.get('first_used')}) and its "
                f"{'marker' if root.exists() else 'folder'} is gone: it was moved or deleted. "
                + (f"State folders in use: {', '.join(others)}. " if others else "")
                + "Point --state-dir / STEWARD_STATE_DIR / steward_state_dir at the right one, or start "
                f"anew on purpose with `steward --state-dir {root} init`; nothing was written"
            )
        if not create:
            raise UnsafeStateDir(f"{root} is not a Steward state folder (no {MARKER}); nothing was written")
        if not root.is_dir():
            root.mkdir(mode=0o755, parents=True)
            os.chmod(root, 0o755)  # whatever the umask
        marker_id = _write_marker(root)
    _remember(root, marker_id)


def init(root: Path) -> str:
    """`steward init`: make `root` a new state folder on purpose (an existing marker is kept)."""
    if not root.is_dir():
        root.mkdir(mode=0o755, parents=True)
        os.chmod(root, 0o755)
    marker_id = read_marker(root) or _write_marker(root)
    _remember(root, marker_id)
    return marker_id


def other_folders(root: Path) -> list[str]:
    """State folders used before by this user that still exist, besides `root`."""
    return _others(root)
