"""homelab.steward.redis_events: what the stream may say, and what never leaves the source.

The stream is untrusted (every node agent writes to it). These run the source's own decoding on
stream entries as Redis hands them over (entry id + fields) against a real inventory file read by
Ansible's InventoryManager, and put what survives on a list-backed queue, as main() does.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.homelab.steward.extensions.eda.plugins.event_source import redis_events as src


class ListQueue:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    async def put(self, item: dict[str, Any]) -> None:
        self.items.append(item)


def write_inventory(path: Path, hosts: list[str], groups: dict[str, list[str]] | None = None) -> None:
    children = {g: {"hosts": {h: {} for h in members}} for g, members in (groups or {}).items()}
    path.write_text(json.dumps({"all": {"hosts": {h: {} for h in hosts}, "children": children}}))


@pytest.fixture
def inventory(tmp_path: Path) -> src.Inventory:
    path = tmp_path / "hosts.yml"
    write_inventory(path, ["saturn", "piha", "vps.example.org"], {"lab": ["saturn"], "edge": ["vps.example.org"]})
    inv = src.Inventory(str(path))
    inv.load()
    return inv


class Run:
    """Entries through the source's decoder; accepted ones on a list-backed queue, rejections kept."""

    def __init__(self, inventory: src.Inventory, journal: Path | None = None) -> None:
        self.inventory = inventory
        self.queue = ListQueue()
        self.rejected: list[str] = []
        self.journal = src.Rejections(str(journal) if journal else None)

    def reject(self, entry_id: str, stream: str, why: str) -> None:
        self.rejected.append(why)
        self.journal(entry_id, stream, why)

    def feed(self, *events: Any, raw: str | None = None) -> list[dict[str, Any]]:
        async def go() -> None:
            for n, event in enumerate(events):
                fields = {"event": raw if raw is not None else json.dumps(event)}
                decoded = src._decode(f"1-{n}", fields, "steward:events", self.inventory, self.reject)
                if decoded is not None:
                    await self.queue.put(decoded)

        asyncio.run(go())
        return self.queue.items


def agent_event(**over: Any) -> dict[str, Any]:
    event = {
        "id": "18ed41ace8209df9-00c02ca4f437",
        "type": "container_die",
        "at": "2026-12-01T22:00:00Z",
        "host": "saturn",
        "key": "saturn/docker/web",
        "action": "die",
        "cycle": None,
        "source": "node_agent",
        "container": "web",
        "container_id": "4f2a" * 16,
        "image": "steward-lab/busybox:1",
        "exit_code": 137,
        "time_nano": 1796163972073000000,
    }
    event.update(over)
    return event


def test_a_valid_agent_event_passes_with_the_meta_the_source_builds(inventory: src.Inventory) -> None:
    forged = {"hosts": "saturn,piha", "redis_id": "0-1", "extra": "x"}
    (event,) = Run(inventory).feed(agent_event(meta=forged, undocumented="{{ lookup('pipe', 'id') }}"))
    assert event["meta"] == {"redis_id": "1-0", "stream": "steward:events", "hosts": "saturn"}
    assert "undocumented" not in event
    assert event["container"] == "web" and event["exit_code"] == 137


def test_steward_own_events_pass(inventory: src.Inventory) -> None:
    run = Run(inventory)
    pending = {"id": "e1", "type": "action_pending", "at": "2026-12-01T22:00:00Z", "host": "piha"}
    pending.update(action="20261201T220000Z-piha-mqtt-not_running-1a2b", key="piha/docker/mqtt/not_running")
    pending["summary"] = "container mqtt is exited (exit code 0), desired running"
    recap = {"id": "e2", "type": "playbook_finished", "host": None, "recap": {"saturn": {"ok": 1}}}
    got = run.feed(pending, recap, {"id": "e3", "type": "cycle_skipped", "reason": "world/piha.json: truncated"})
    assert [e["id"] for e in got] == ["e1", "e2", "e3"] and run.rejected == []
    assert got[0]["meta"]["hosts"] == "piha"
    assert "hosts" not in got[1]["meta"] and "recap" not in got[1]  # a host-less event: no --limit at all


@pytest.mark.parametrize(
    "host",
    [
        "saturn,piha",
        "saturn,",
        ",saturn",
        "@/etc/shadow",
        "!saturn",
        "saturn&piha",
        "saturn:&piha",
        "sat*",
        "~sat.*",
        "web[1:3]",
        "saturn:22",
        "saturn.",
        "-saturn",
        " saturn",
        "saturn ",
        "all",  # a group: --limit all is every host
        "lab",  # a group name
        "nothere",  # not in the inventory
        "",
    ],
)
def test_a_host_that_is_not_one_inventory_host_is_dropped(inventory: src.Inventory, host: str) -> None:
    run = Run(inventory)
    assert run.feed(agent_event(host=host)) == []
    assert len(run.rejected) == 1


@pytest.mark.parametrize(
    "field",
    ["id", "type", "at", "host", "key", "action", "cycle", "summary", "reason", "msg", "container", "image", "source"],
)
@pytest.mark.parametrize(
    "value",
    [
        "{{ lookup('ansible.builtin.pipe', 'touch /tmp/steward-pwned') }}",
        "{% for x in range(9) %}{% endfor %}",
        "evil:1\n---\n- hosts: localhost\n  tasks:\n  - ansible.builtin.shell: touch /tmp/x\n#",
        "web\x1b[2J\x1b[Hfake",
        "line\u2028break",
    ],
    ids=["jinja", "jinja-block", "newline-play", "ansi", "u2028"],
)
def test_template_markers_and_control_characters_are_refused_in_every_field(
    inventory: src.Inventory, field: str, value: str
) -> None:
    run = Run(inventory)
    got = run.feed(agent_event(**{field: value}))
    if field in ("summary", "reason", "msg") and "{" not in value:
        # free text: kept, every control character escaped (one line, no escape sequence)
        (event,) = got
        assert src._CONTROL.search(event[field]) is None and "\\" in event[field]
        return
    assert got == []
    assert len(run.rejected) == 1
    # the log line is inert: one line, no escape sequence
    assert "\n" not in run.rejected[0] and "\x1b" not in run.rejected[0]


@pytest.mark.parametrize(
    ("over", "why"),
    [
        ({"summary": "x" * 2001}, "at most 2000"),
        ({"key": "k" * 513}, "at most 512"),
        ({"host": 5}, "must be a string"),
        ({"exit_code": "137"}, "must be an integer"),
        ({"exit_code": True}, "must be an integer"),
        ({"type": None}, "'type' is missing"),
        ({"id": "a b"}, "not of the form"),
        ({"container": "web;rm -rf /"}, "not of the form"),
        ({"container": "w"}, "not of the form"),  # Docker names are at least two characters
        ({"container_id": "../../etc"}, "not of the form"),
        ({"type": "action_pending", "action": "../../approved/x"}, "not an action id"),
        ({"type": "action_pending", "action": "a..b"}, "not an action id"),
        ({"type": "action_pending", "action": None}, "must name its action"),
        ({"host": None}, "must name its host"),
    ],
)
def test_wrong_types_lengths_and_shapes_are_refused(inventory: src.Inventory, over: dict[str, Any], why: str) -> None:
    run = Run(inventory)
    assert run.feed(agent_event(**over)) == []
    assert why in run.rejected[0], run.rejected


def test_an_oversized_or_non_object_entry_is_refused(inventory: src.Inventory) -> None:
    run = Run(inventory)
    assert run.feed(None, raw=json.dumps(agent_event(pad="x" * 20000))) == []
    assert run.feed(None, raw="[1, 2]") == []
    assert run.feed(None, raw="{not json") == []
    assert ["16384 bytes" in run.rejected[0], "JSON object" in run.rejected[1], "not JSON" in run.rejected[2]] == [
        True
    ] * 3


def test_the_inventory_is_read_again_when_its_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yml"
    write_inventory(path, ["saturn"])
    inv = src.Inventory(str(path))
    inv.load()
    run = Run(inv)
    assert run.feed(agent_event(host="solaria")) == []
    write_inventory(path, ["saturn", "solaria"])
    later = time.time() + 5
    os.utime(path, (later, later))
    inv._checked = 0.0
    inv.refresh()
    assert [e["meta"]["hosts"] for e in run.feed(agent_event(host="solaria"))] == ["solaria"]
    # a broken edit keeps the host names read before (and says so), it never opens the gate
    path.write_text("all: [unclosed")
    os.utime(path, (later + 5, later + 5))
    inv._checked = 0.0
    inv.refresh()
    assert inv.hosts == frozenset({"saturn", "solaria"})


def test_an_inventory_that_cannot_be_read_stops_the_source_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        src.Inventory(str(tmp_path / "missing.yml")).load()


def test_rejections_are_journaled_escaped_and_at_most_ten_a_minute(inventory: src.Inventory, tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    run = Run(inventory, journal)
    run.feed(*[agent_event(host=f"evil\n{n}") for n in range(15)])
    lines = [json.loads(x) for x in journal.read_text().splitlines()]
    assert len(run.rejected) == 15 and len(lines) == 10
    assert {e["type"] for e in lines} == {"event_rejected"}
    assert all("\n" not in e["reason"] and "evil\\n" in e["reason"] for e in lines)


def test_the_journal_is_never_written_through_a_symlink(inventory: src.Inventory, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("")
    (tmp_path / "journal.jsonl").symlink_to(target)
    Run(inventory, tmp_path / "journal.jsonl").feed(agent_event(host="nothere"))
    assert target.read_text() == ""


def test_urls_and_exception_texts_never_show_the_password() -> None:
    url = "redis://steward:p%40ss-word@127.0.0.1:6379/0"
    assert src.redact_url(url) == "redis://steward:***@127.0.0.1:6379/0"
    assert src.redact_url("redis://127.0.0.1:1/0?password=abc") == "redis://127.0.0.1:1/0?password=***"
    assert src.redact("AUTH p@ss-word failed, p%40ss-word", url) == "AUTH *** failed, ***"
    assert src.inert("a\nb\x1b") == "a\\nb\\x1b"
