"""World store: atomic writes and a loader that never mistakes a torn file for an empty world."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import pytest

from helpers import container, world_doc
from steward.areas import check_problem
from steward.core.atomic import atomic_move, atomic_write_bytes, atomic_write_json
from steward.state.world import MAX_WORLD_FILE_BYTES, WorldFileError, load_world, load_world_file

HOSTS = ("saturn", "piha", "solaria")
MANY = [container(f"svc{i:02d}") for i in range(40)]  # ~8 KB per file: torn writes are likely


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "world" / "piha.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"b": 2})
    assert json.loads(target.read_text()) == {"b": 2}
    assert [p.name for p in target.parent.iterdir()] == ["piha.json"]


def test_failed_write_keeps_previous_file_and_removes_temp(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    atomic_write_json(target, {"good": True})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"bad": object()})
    # os.replace onto a directory fails after the temp file was fully written
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep").write_text("x")
    with pytest.raises(OSError):
        atomic_write_bytes(tmp_path / "d", b"data")
    assert json.loads(target.read_text()) == {"good": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "x.json"]


def test_atomic_move_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("one")
    (tmp_path / "b").write_text("two")
    with pytest.raises(FileExistsError):
        atomic_move(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "a").read_text() == "one" and (tmp_path / "b").read_text() == "two"
    atomic_move(tmp_path / "a", tmp_path / "sub" / "c")
    assert (tmp_path / "sub" / "c").read_text() == "one" and not (tmp_path / "a").exists()
    with pytest.raises(FileNotFoundError):
        atomic_move(tmp_path / "a", tmp_path / "d")


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "empty file"),
        (b"   \n", "empty file"),
        (json.dumps(world_doc("piha", MANY)).encode()[:700], "not valid JSON"),
        (b"\xff\xfe\x00garbage\x00", "not valid JSON"),
        (b"{}", "schema"),
        (b"[]", "not a JSON object"),
        (json.dumps({**world_doc("piha", []), "schema": 2}).encode(), "schema"),
        (json.dumps(world_doc("saturn", [])).encode(), 'host: not the host the file is for, "piha", got "saturn"'),
        (json.dumps({**world_doc("piha", []), "observed_at": "yesterday"}).encode(), "ISO 8601"),
        (json.dumps({**world_doc("piha", []), "checks": []}).encode(), "checks"),
        (json.dumps(world_doc("piha", None)).encode(), "checks.docker.containers: not a list, got null"),
        (json.dumps(world_doc("piha", [{"state": "running"}])).encode(), r"docker.containers\[0\]: missing .*name"),
        (json.dumps(world_doc("piha", [container("mqtt", state="x")])).encode(), r"containers\[0\].state: not one of"),
        (json.dumps({**world_doc("piha", []), "checks": {"docker": {"status": "bogus"}}}).encode(), "docker.status"),
        (json.dumps(world_doc("piha", [container("a\n---\n- hosts: all")])).encode(), r"containers\[0\].name"),
        (json.dumps({**world_doc("piha", []), "observed_at": "2026-11-27T04:00:00"}).encode(), "time zone"),
        (b" " * (MAX_WORLD_FILE_BYTES + 1) + b"{}", "larger than"),
    ],
)
def test_loader_rejects_unusable_world_files(tmp_path: Path, content: bytes, why: str) -> None:
    (tmp_path / "saturn.json").write_text(json.dumps(world_doc("saturn", [container("web")])))
    (tmp_path / "piha.json").write_bytes(content)
    with pytest.raises(WorldFileError, match=why):
        load_world_file(tmp_path / "piha.json", check_problem)
    snapshot = load_world(tmp_path, check_problem)
    assert not snapshot.usable
    assert "piha.json" in snapshot.errors


def test_loader_accepts_valid_files_and_ignores_temp_files(tmp_path: Path) -> None:
    (tmp_path / "piha.json").write_text(json.dumps(world_doc("piha", [container("mqtt")])))
    (tmp_path / "vps.json").write_text(json.dumps(world_doc("vps", None, reachable=False)))
    (tmp_path / "solaria.json").write_text(json.dumps(world_doc("solaria", None, docker_status="engine_unreachable")))
    (tmp_path / ".piha.json.abc.tmp").write_text('{"half')
    snapshot = load_world(tmp_path, check_problem)
    assert snapshot.usable, snapshot.errors
    assert sorted(snapshot.hosts) == ["piha", "solaria", "vps"]
    assert snapshot.hosts["piha"]["checks"]["docker"]["containers"][0]["name"] == "mqtt"


def _writer(world_dir: str, atomic: bool, stop_at: float) -> None:
    """Rewrite every world file as fast as possible until stop_at."""
    n = 0
    while time.time() < stop_at:
        for host in HOSTS:
            doc = world_doc(host, MANY, cycle=f"c{n}")
            path = Path(world_dir) / f"{host}.json"
            if atomic:
                atomic_write_json(path, doc)
            else:  # the seed's bug: truncate, then write in pieces
                data = json.dumps(doc, indent=2)
                with open(path, "w") as fh:
                    for i in range(0, len(data), 1024):
                        fh.write(data[i : i + 1024])
                        fh.flush()
        n += 1


def _hammer(tmp_path: Path, atomic: bool, loads: int) -> tuple[int, int]:
    for host in HOSTS:
        atomic_write_json(tmp_path / f"{host}.json", world_doc(host, MANY, cycle="c0"))
    ctx = mp.get_context("fork")
    writer = ctx.Process(target=_writer, args=(str(tmp_path), atomic, time.time() + 120))
    writer.start()
    usable = unusable = 0
    try:
        for _ in range(loads):
            snapshot = load_world(tmp_path, check_problem)
            if snapshot.usable:
                usable += 1
                # a usable snapshot is always complete: every host, every container
                assert sorted(snapshot.hosts) == sorted(HOSTS)
                assert all(len(w["checks"]["docker"]["containers"]) == len(MANY) for w in snapshot.hosts.values())
            else:
                unusable += 1
    finally:
        writer.kill()  # SIGKILL: a SIGTERM handler inherited through fork may ignore terminate()
        writer.join()
    return usable, unusable


def test_reader_never_sees_a_torn_file_while_a_writer_rewrites_atomically(tmp_path: Path) -> None:
    usable, unusable = _hammer(tmp_path, atomic=True, loads=3000)
    assert (usable, unusable) == (3000, 0)


def test_loader_flags_torn_files_from_a_non_atomic_writer(tmp_path: Path) -> None:
    """Control experiment: the same hammering with open('w') + chunked writes tears files,
    and the loader reports those cycles unusable instead of returning a partial world."""
    usable, unusable = _hammer(tmp_path, atomic=False, loads=3000)
    assert unusable > 0, "the non-atomic writer never produced a torn read; the test proves nothing"
    assert usable + unusable == 3000


def test_atomic_write_fsyncs_file_and_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    atomic_write_json(tmp_path / "w.json", {"x": 1})
    assert any(p.endswith(".tmp") for p in synced), synced
    assert str(tmp_path) in synced
