"""The journal rotated by size into numbered segments (issue 16): every line kept, in order, once;
offsets that readers keep (the bot, /metrics, `steward events tail --follow`) valid across a rotation;
concurrent writers in separate processes (steward's Journal and the rulebook source's own appender)
never write into a segment once it is made."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ansible_collections.homelab.steward.extensions.eda.plugins.event_source import redis_events
from steward.core import segmented
from steward.events.tail import journal_events
from steward.interfaces.bot.feed import journal_end, journal_size, new_events
from steward.interfaces.web.metrics import JournalCounts
from steward.state.journal import Journal


def lines(path: Path) -> list[dict]:
    return [json.loads(raw) for _, raw in segmented.lines_from(path)]


def test_a_journal_past_its_size_becomes_numbered_segments_and_reads_as_one(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, bus=None, rotate_at=2000)
    for n in range(100):
        journal.append("action_pending", action=f"20261204T000000Z-saturn-{n:04d}", n=n)
    made = segmented.segments(path)
    assert len(made) >= 3, made
    assert [p.name for p in made] == [f"{i:06d}.jsonl" for i in range(1, len(made) + 1)]
    assert all(p.read_bytes().endswith(b"\n") and p.stat().st_size >= 2000 for p in made)
    assert [e["n"] for e in journal.events()] == list(range(100)), "every line, in order, once"
    assert journal.has("action_pending", "20261204T000000Z-saturn-0003")
    # a fresh index is built from every segment, not only the current file
    for f in journal.index.iterdir():
        f.unlink()
    assert Journal(path, bus=None).has("action_pending", "20261204T000000Z-saturn-0001")


def test_a_logical_offset_stays_valid_across_a_rotation(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, bus=None, rotate_at=10**9)
    for n in range(10):
        journal.append("cycle_done", n=n)
    offset = journal_end(path)
    assert offset == journal_size(path) == path.stat().st_size
    assert segmented.rotate(path) is not None  # the current file becomes 000001.jsonl
    assert not path.exists() and journal_end(path) == offset
    for n in range(10, 15):
        journal.append("cycle_done", n=n)
    after = [e["n"] for _, e in new_events(path, offset)]
    assert after == [10, 11, 12, 13, 14]
    assert [json.loads(raw)["n"] for _, raw in segmented.lines_from(path, 0)] == list(range(15))


def test_metrics_counts_and_a_followed_tail_go_on_across_rotations(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, bus=None, rotate_at=10**9)
    counts = JournalCounts()
    for _ in range(3):
        journal.append("action_failed")
    assert counts.read(path)["action_failed"] == 3
    segmented.rotate(path)
    journal.append("action_failed")
    assert counts.read(path)["action_failed"] == 4, "counted on from where it was, not again from zero"

    seen: list[int] = []
    stop = threading.Event()

    def follow() -> None:
        for event in journal_events(path, 100, follow=True, interval=0.05, stop=stop.is_set):
            if "n" in event:  # the action_failed lines above come first, in the tail of 100
                seen.append(event["n"])

    reader = threading.Thread(target=follow)
    reader.start()
    try:
        for n in range(6):
            journal.append("cycle_done", n=n)
            if n % 2:
                segmented.rotate(path)
            time.sleep(0.1)
        deadline = time.monotonic() + 5
        while len(seen) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        reader.join(5)
    assert seen == [0, 1, 2, 3, 4, 5]


def _steward_writer(path: str, who: int, count: int) -> None:
    journal = Journal(Path(path), bus=None, rotate_at=4096)
    for n in range(count):
        journal.append("cycle_done", who=who, n=n)


def _source_writer(path: str, who: int, count: int) -> None:
    for n in range(count):
        redis_events.journal(path, "event_rejected", who=who, n=n)


def test_concurrent_writers_across_rotations_lose_nothing_and_never_touch_a_segment(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_steward_writer, args=(str(path), w, 150)) for w in range(3)]
    writers.append(ctx.Process(target=_source_writer, args=(str(path), 9, 150)))
    for w in writers:
        w.start()
    for w in writers:
        w.join(120)
        assert w.exitcode == 0
    events = lines(path)
    got = sorted((e["who"], e["n"]) for e in events)
    assert got == sorted((w, n) for w in (0, 1, 2, 9) for n in range(150)), "each line exactly once"
    made = segmented.segments(path)
    assert len(made) >= 10
    sizes = {p: p.stat().st_size for p in made}
    for p in made:  # whole lines only: a segment was made after every writer finished its line
        assert p.read_bytes().endswith(b"\n")
    _steward_writer(str(path), 5, 50)  # more writing and rotating: the old segments do not change
    assert all(p.stat().st_size == size for p, size in sizes.items())
    assert sum(1 for e in lines(path) if e["who"] == 5) == 50


def test_a_segment_ending_in_a_torn_line_is_passed_over(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, bus=None, rotate_at=10**9)
    journal.append("cycle_done", n=1)
    with open(path, "ab") as fh:
        fh.write(b'{"type": "cycle_do')  # a writer killed mid-line
    segmented.rotate(path)
    journal.append("cycle_done", n=2)
    assert [e["n"] for e in journal.events()] == [1, 2]
    assert journal_end(path) == segmented.total_size(path)
    assert os.path.getsize(segmented.segments(path)[0]) > 0


def _line(n: int) -> bytes:
    return (json.dumps({"n": n, "pad": "x" * 20}) + "\n").encode()


@contextlib.contextmanager
def rotated_at_the_listing(
    monkeypatch: pytest.MonkeyPatch, path: Path, line: int, rotate_again: bool = False
) -> Iterator[list[int]]:
    """The first time a reader lists journal.d, a writer rotates, appends `line` (and rotates
    again): the race point between a reader's open of journal.jsonl and its listing."""
    real = segmented.segments
    fired: list[int] = []

    def racing(p: Path) -> list[Path]:
        if not fired:
            fired.append(1)
            segmented.rotate(path)
            segmented.append(path, _line(line), None)
            if rotate_again:
                segmented.rotate(path)
        return real(p)

    monkeypatch.setattr(segmented, "segments", racing)
    try:
        yield fired
    finally:
        monkeypatch.setattr(segmented, "segments", real)


def test_rotations_between_a_readers_open_and_its_listing_are_seen_not_read_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two rotations land between the reader opening journal.jsonl and listing journal.d (found by
    review: the file it opened was then read as a segment and as the current file)."""
    path = tmp_path / "journal.jsonl"
    for n in range(3):
        segmented.append(path, _line(n), None)
    segmented.rotate(path)
    for n in range(3, 6):
        segmented.append(path, _line(n), None)
    with rotated_at_the_listing(monkeypatch, path, 6, rotate_again=True) as fired:
        got = list(segmented.lines_from(path))
    assert fired
    assert [json.loads(raw)["n"] for _, raw in got] == list(range(7))
    assert got[-1][0] == segmented.total_size(path) == segmented.end(path)


@pytest.mark.parametrize("measure", [segmented.end, segmented.total_size], ids=["end", "total_size"])
def test_a_rotation_inside_end_or_total_size_gives_a_line_boundary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, measure: Callable[[Path], int]
) -> None:
    path = tmp_path / "journal.jsonl"
    for n in range(5):
        segmented.append(path, _line(n), None)
    with rotated_at_the_listing(monkeypatch, path, 99) as fired:
        at = measure(path)
    ends = [end for end, _ in segmented.lines_from(path)]
    assert fired and at in ends, (at, ends)


def test_a_journal_hard_linked_to_a_segment_is_an_error_not_a_spin(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    segmented.append(path, _line(1), None)
    segmented.segment_dir(path).mkdir()
    os.link(path, segmented.segment_dir(path) / "000001.jsonl")  # e.g. a backup restored with cp -al
    with pytest.raises(segmented.JournalLayoutError, match="same file"):
        list(segmented.lines_from(path))


def test_a_symlinked_history_folder_is_refused_and_never_rotated_into(tmp_path: Path) -> None:
    from steward.app.errors import UnsafeStateDir
    from steward.state.paths import StatePaths

    state = tmp_path / "state"
    paths = StatePaths(state).ensure()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (state / "journal.d").symlink_to(elsewhere)
    journal = Journal(paths.journal, bus=None, rotate_at=4096)
    for n in range(200):
        journal.append("cycle_done", n=n)
    assert list(elsewhere.iterdir()) == [], "no history renamed out of the state folder"
    assert [e["n"] for e in journal.events()] == list(range(200)), "the journal just grew"
    from steward.state import paths as paths_module

    paths_module._checked.discard(state)
    with pytest.raises(UnsafeStateDir, match="journal.d is a symlink"):
        StatePaths(state).ensure()
