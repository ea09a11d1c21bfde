"""plugins/module_utils/_atomic.py: readers never see a partial file."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from ansible_collections.homelab.steward.plugins.module_utils._atomic import (
    atomic_write_bytes,
    atomic_write_json,
)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_writes_bytes_with_the_requested_mode(tmp_path: Path) -> None:
    target = tmp_path / "saturn.json"

    returned = atomic_write_bytes(target, b"payload", mode=0o640)

    assert returned == str(target)
    assert target.read_bytes() == b"payload"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert leftovers(tmp_path) == []


def test_default_mode_is_world_readable(tmp_path: Path) -> None:
    # mkstemp creates 0600; a world file must be readable by the web UI's user too.
    target = tmp_path / "f"
    atomic_write_bytes(target, b"x")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_json_is_sorted_indented_and_ends_with_a_newline(tmp_path: Path) -> None:
    target = tmp_path / "world.json"

    atomic_write_json(target, {"b": 1, "a": {"d": None, "c": [1, 2]}})

    assert target.read_text() == (
        '{\n  "a": {\n    "c": [\n      1,\n      2\n    ],\n    "d": null\n  },\n  "b": 1\n}\n'
    )


def test_replaces_by_rename_so_an_open_reader_keeps_the_old_complete_file(tmp_path: Path) -> None:
    target = tmp_path / "world.json"
    atomic_write_json(target, {"version": 1})
    old_inode = target.stat().st_ino

    with target.open() as reader:
        atomic_write_json(target, {"version": 2})
        # The reader's file was not truncated in place: it still holds version 1.
        assert json.load(reader) == {"version": 1}

    assert target.stat().st_ino != old_inode
    assert json.loads(target.read_text()) == {"version": 2}
    assert leftovers(tmp_path) == []


def test_failed_write_leaves_target_untouched_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "world.json"
    atomic_write_json(target, {"good": True})

    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]

    assert json.loads(target.read_text()) == {"good": True}
    assert leftovers(tmp_path) == []


def test_failed_rename_removes_the_temp_file_and_reraises(tmp_path: Path) -> None:
    target = tmp_path / "occupied"
    target.mkdir()
    (target / "keep").write_text("x")

    with pytest.raises(OSError):
        atomic_write_bytes(target, b"data")

    assert (target / "keep").read_text() == "x"
    assert leftovers(tmp_path) == []


def test_unserialisable_object_never_touches_the_target(tmp_path: Path) -> None:
    target = tmp_path / "world.json"
    atomic_write_json(target, {"good": True})

    with pytest.raises(TypeError):
        atomic_write_json(target, {"bad": object()})

    assert json.loads(target.read_text()) == {"good": True}
    assert leftovers(tmp_path) == []


def test_missing_folder_is_an_error_not_created_implicitly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "absent" / "f", b"x")


def test_temp_file_is_hidden_in_the_same_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Readers that glob *.json never pick up a temp file, and rename stays on one filesystem."""
    target = tmp_path / "saturn.json"
    seen: list[str] = []
    real_replace = os.replace

    def recording_replace(src: str, dst: str) -> None:  # records, then does the real rename
        seen.append(src)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", recording_replace)
    atomic_write_bytes(target, b"x")
    monkeypatch.undo()

    assert len(seen) == 1
    tmp = Path(seen[0])
    assert tmp.parent == tmp_path
    assert tmp.name.startswith(".saturn.json.") and tmp.name.endswith(".tmp")


def test_concurrent_reader_only_ever_sees_complete_documents(tmp_path: Path) -> None:
    target = tmp_path / "world.json"
    big = {"containers": [{"name": f"c{i}", "state": "running", "pad": "x" * 200} for i in range(500)]}
    atomic_write_json(target, {"n": -1, **big})
    stop = threading.Event()
    bad: list[str] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            text = target.read_text()
            reads += 1
            try:
                json.loads(text)
            except ValueError:
                bad.append(text[-40:])

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in range(60):
            atomic_write_json(target, {"n": n, **big})
    finally:
        stop.set()
        thread.join()

    assert reads > 0
    assert bad == []
    assert json.loads(target.read_text())["n"] == 59
