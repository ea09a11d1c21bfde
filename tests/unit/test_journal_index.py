"""Journal.has answers from journal.index/<id> (one small file), never by reading the whole journal."""

from __future__ import annotations

import json
import os

import pytest

from steward.state.journal import INDEX_BUILT, Journal


@pytest.fixture
def journal(tmp_path) -> Journal:
    return Journal(tmp_path / "journal.jsonl", bus=None)


def test_has_reads_the_index_not_the_journal(journal) -> None:
    journal.append("action_pending", action="a-1", key="h/docker/x/missing")
    journal.append("action_approved", action="a-1", via="cli")
    journal.append("action_running", action="a-2")
    assert journal.has("action_approved", "a-1") and not journal.has("action_running", "a-1")
    journal.path.write_text("")  # the index alone answers: the journal is not read again
    assert journal.has("action_approved", "a-1") and journal.has_any(("action_failed", "action_running"), "a-2")
    assert not journal.has("action_approved", "a-3")
    assert (journal.index / "a-1").read_text().split() == ["action_pending", "action_approved"]


def test_events_of_a_batch_are_indexed_when_the_batch_is_written(journal) -> None:
    with journal.batched():
        journal.append("action_expired", action="a-1", reason="TTL")
        assert not (journal.index / "a-1").exists()  # not on disk in the journal yet: not in the index either
    assert journal.has("action_expired", "a-1")


def test_a_journal_from_before_the_index_is_indexed_once(journal) -> None:
    lines = [
        {"id": "1", "type": "action_approved", "at": "t", "action": "old-1"},
        {"id": "2", "type": "action_running", "at": "t", "action": "old-1"},
        {"id": "3", "type": "notice", "at": "t", "key": "k"},
    ]
    journal.path.write_text("".join(json.dumps(e) + "\n" for e in lines) + '{"torn": ')
    assert journal.has("action_running", "old-1") and not journal.has("action_failed", "old-1")
    assert (journal.index / INDEX_BUILT).exists()
    journal.append("action_failed", action="old-1")
    indexed = sorted((journal.index / "old-1").read_text().split())
    assert indexed == ["action_approved", "action_failed", "action_running"]


def test_an_index_that_cannot_be_written_is_rebuilt_from_the_journal(journal) -> None:
    journal.append("action_approved", action="a-1")
    assert journal.has("action_approved", "a-1")  # built
    (journal.index / "a-2").mkdir()  # the next index write for a-2 fails
    journal.append("action_running", action="a-2")
    assert not (journal.index / INDEX_BUILT).exists()  # the marker is withdrawn ...
    os.rmdir(journal.index / "a-2")
    assert journal.has("action_running", "a-2")  # ... so the journal answers, once, and the index is whole again
    assert (journal.index / INDEX_BUILT).exists()


def test_an_id_that_is_no_file_name_is_answered_from_the_journal(journal) -> None:
    journal.append("action_approved", action="../../etc")
    assert journal.has("action_approved", "../../etc")
    assert not (journal.index.parent / "etc").exists() and not journal.index.exists()
