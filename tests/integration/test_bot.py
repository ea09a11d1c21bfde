"""`steward bot` through the real python-telegram-bot client against tests/fake_telegram.py.

Each case starts from a real state folder and a real engine cycle (two observations of a stopped
container -> one signed pending action). The bot runs as `steward bot --once` would (cmd_bot:
the configuration from the environment, one journal pass, one getUpdates, one more journal
pass); every run is a fresh bot on the same state folder, so every step is also a restart.
The test plays Telegram's users by injecting updates (button presses, replies) into the server,
and asserts on what the bot sent, on the queue folders and on the journal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_telegram import TOKEN, FakeTelegram

from helpers import Clock, container, make_settings, service, write_world
from steward.app import actions
from steward.app.plan import plan
from steward.app.telegram import telegram_vars
from steward.desired.cached import load_desired_cached
from steward.interfaces.bot.cli import add_parser, cmd_bot, make_bot
from steward.interfaces.bot.config import load_config
from steward.interfaces.bot.desk import Desk
from steward.interfaces.bot.loop import run
from steward.interfaces.bot.redact import hide_token
from steward.state.journal import Journal
from steward.state.settings import Settings
from steward.state.telegram import TelegramStore

GROUP = -1001234567  # the allowed group chat
ALICE = 4242  # an allowed user (her private chat with the bot is allowed too)
BOB = 5151  # another allowed user
MALLORY = 6666  # in the group, not on the list
SUMMARY = "container mqtt is exited (exit code 137), desired running"


def look_and_plan(settings: Settings, observed_at: Any, stopped: tuple[str, ...] = ("mqtt",)) -> Any:
    containers = [container(n, state="exited" if n in stopped else "running") for n in ("mqtt", "homeauto")]
    write_world(settings, "piha", containers, observed_at=observed_at)
    return plan(settings)


def planned_settings(tmp_path: Path, **host_vars: Any) -> tuple[Settings, str, Clock]:
    settings = make_settings(tmp_path, {"piha": [service("mqtt"), service("homeauto")]})
    if host_vars:
        doc = yaml.safe_load(settings.inventory.read_text())
        doc["all"]["hosts"]["piha"].update(host_vars)
        settings.inventory.write_text(yaml.safe_dump(doc, sort_keys=False))
    clock = Clock()
    *_, second = [look_and_plan(settings, clock.tick()) for _ in range(2)]
    (action_id,) = second.new_actions
    return settings, action_id, clock


@pytest.fixture
def fake() -> Any:
    server = FakeTelegram()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, fake: FakeTelegram) -> None:
    for name in list(os.environ):
        if name.startswith("STEWARD_TELEGRAM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("STEWARD_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("STEWARD_TELEGRAM_CHATS", f"{GROUP}, {ALICE}")
    monkeypatch.setenv("STEWARD_TELEGRAM_USERS", f"{ALICE},{BOB}")
    monkeypatch.setenv("STEWARD_TELEGRAM_API_URL", fake.url)


@pytest.fixture
def planned(tmp_path: Path) -> tuple[Settings, str]:
    settings, action_id, _ = planned_settings(tmp_path)
    return settings, action_id


def bot(settings: Settings, *args: str) -> int:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    return cmd_bot(settings, parser.parse_args(["bot", "--once", *args]))


def events(settings: Settings, type_: str) -> list[dict[str, Any]]:
    return [e for e in Journal(settings.paths.journal).events() if e["type"] == type_]


def folder_of(settings: Settings, action_id: str) -> str:
    return actions.show(settings, action_id).folder


def announced(fake: FakeTelegram, chat: int) -> tuple[int, dict[str, str]]:
    """The message id of the first announcement in a chat and its buttons (label -> data)."""
    first = min(mid for c, mid in fake.messages if c == chat)
    return first, fake.buttons(chat, first)


def answers(fake: FakeTelegram) -> list[str]:
    return [p.get("text", "") for p in fake.sent("answerCallbackQuery")]


def test_a_pending_action_is_one_message_per_allowed_chat_with_opaque_buttons(planned, fake) -> None:
    settings, action_id = planned
    assert bot(settings) == 0
    sent = fake.sent("sendMessage")
    assert sorted(int(p["chat_id"]) for p in sent) == sorted([GROUP, ALICE])
    data: list[str] = []
    for params in sent:
        text = params["text"]
        assert SUMMARY in text and "host: <code>piha</code>" in text and action_id in text
        assert "evidence: world/piha.json observed at" in text and "seen in 2 consecutive observations" in text
        assert " UTC (in 23 h 59 min)" in text or " UTC (in 24 h 0 min)" in text
        assert params["parse_mode"] == "HTML"
        (row,) = params["reply_markup"]["inline_keyboard"]
        assert [b["text"] for b in row] == ["Approve", "Reject", "Details"]
        data += [b["callback_data"] for b in row]
    assert len(set(data)) == 6  # one opaque id per button and message
    for value in data:
        assert action_id not in value and "piha" not in value and "approve" not in value.lower()
        assert 16 <= len(value.encode()) <= 64
    assert bot(settings) == 0 and len(fake.sent("sendMessage")) == 2  # the next run sends nothing new


def test_an_allowed_users_approve_moves_the_file_journals_who_and_edits_the_messages(planned, fake) -> None:
    settings, action_id = planned
    bot(settings)
    message_id, buttons = announced(fake, GROUP)
    fake.forget()
    fake.press(ALICE, GROUP, message_id, buttons["Approve"], name="Alice")
    assert bot(settings) == 0
    calls = fake.methods()
    assert calls.index("answerCallbackQuery") < calls.index("editMessageText")  # answered first
    assert answers(fake) == ["approved: the executor runs it on its next pass"]
    assert folder_of(settings, action_id) == "approved"
    assert (settings.paths.actions / "approved" / f"{action_id}.yml").is_file()
    (approved,) = events(settings, "action_approved")
    assert (approved["action"], approved["via"], approved["by"]) == (action_id, "telegram", f"{ALICE} (Alice)")
    edited = {(int(p["chat_id"]), int(p["message_id"])) for p in fake.sent("editMessageText")}
    assert edited == {(GROUP, message_id), (ALICE, announced(fake, ALICE)[0])}  # every chat's message
    for key in edited:
        assert f"approved via telegram by {ALICE} (Alice)" in fake.messages[key]["text"]
        assert fake.messages[key]["reply_markup"] is None  # the buttons are gone


def test_a_stranger_or_a_foreign_chat_changes_nothing_and_is_told_why(planned, fake) -> None:
    settings, action_id = planned
    bot(settings)
    message_id, buttons = announced(fake, GROUP)
    fake.forget()
    fake.press(MALLORY, GROUP, message_id, buttons["Approve"], name="Mallory")
    fake.messages[(999, 1)] = {"text": "x", "plain": "x", "reply_markup": None}
    fake.press(ALICE, 999, 1, buttons["Approve"])  # an allowed user, in a chat that is not allowed
    assert bot(settings) == 0
    assert folder_of(settings, action_id) == "pending" and events(settings, "action_approved") == []
    stranger, foreign = fake.sent("answerCallbackQuery")
    assert f"user id {MALLORY}" in stranger["text"] and "not on this bot's list" in stranger["text"]
    assert "chat is not allowed" in foreign["text"] and stranger["show_alert"] == "true"
    assert "editMessageText" not in fake.methods()


def test_tampered_data_and_a_replay_change_nothing_and_say_the_real_state(planned, fake) -> None:
    settings, action_id = planned
    bot(settings)
    message_id, buttons = announced(fake, GROUP)
    alice_chat_message, _ = announced(fake, ALICE)
    fake.forget()
    flipped = buttons["Approve"][:-1] + ("y" if buttons["Approve"].endswith("x") else "x")
    for data in (action_id, f"approve:{action_id}", flipped, "A" * 64):
        fake.press(ALICE, GROUP, message_id, data)
    fake.press(ALICE, ALICE, alice_chat_message, buttons["Approve"])  # the group's button, on another message
    assert bot(settings) == 0
    assert folder_of(settings, action_id) == "pending"
    *unknown, elsewhere = answers(fake)
    assert len(unknown) == 4 and all(a.startswith("unknown button") for a in unknown)
    assert elsewhere.startswith("this button does not belong to this message")

    fake.press(ALICE, GROUP, message_id, buttons["Approve"])
    bot(settings)
    assert folder_of(settings, action_id) == "approved"
    fake.forget()
    fake.press(BOB, GROUP, message_id, buttons["Approve"], name="Bob")  # a replay after the decision
    fake.press(BOB, GROUP, message_id, buttons["Reject"], name="Bob")
    assert bot(settings) == 0
    approve_again, reject_after = answers(fake)
    assert approve_again.startswith("not approved:") and "approved/" in approve_again
    assert reject_after.startswith("not rejected:") and "approved/" in reject_after
    assert len(events(settings, "action_approved")) == 1 and events(settings, "action_rejected") == []
    assert "sendMessage" not in fake.methods()  # no reason prompt for a decided action
    assert f"approved via telegram by {ALICE} (Alice)" in fake.messages[(GROUP, message_id)]["text"]


def test_reject_asks_the_presser_for_a_reason_and_records_it(planned, fake) -> None:
    settings, action_id = planned
    bot(settings)
    message_id, buttons = announced(fake, GROUP)
    fake.forget()
    fake.press(ALICE, GROUP, message_id, buttons["Reject"])
    assert bot(settings) == 0
    (prompt,) = fake.sent("sendMessage")
    assert prompt["reply_markup"]["force_reply"] is True and prompt["reply_markup"]["selective"] is True
    assert prompt["reply_parameters"]["message_id"] == message_id
    assert f"tg://user?id={ALICE}" in prompt["text"] and "reason" in prompt["text"]
    prompt_id = fake.last_message(GROUP)

    fake.forget()
    fake.say(BOB, GROUP, "because I say so", reply_to=prompt_id, name="Bob")  # not the one who pressed
    fake.say(ALICE, GROUP, " \n\t ", reply_to=prompt_id)  # no reason
    assert bot(settings) == 0
    assert folder_of(settings, action_id) == "pending"
    not_bob, empty = (p["text"] for p in fake.sent("sendMessage"))
    assert "Only the user who pressed Reject" in not_bob and "needs a reason" in empty

    fake.forget()
    fake.say(ALICE, GROUP, "not tonight:\nthe backup runs", reply_to=prompt_id)
    assert bot(settings) == 0
    assert folder_of(settings, action_id) == "rejected"
    (rejected,) = events(settings, "action_rejected")
    assert (rejected["via"], rejected["by"], rejected["reason"]) == (
        "telegram",
        f"{ALICE} (Alice)",
        "not tonight: the backup runs",
    )
    result = json.loads((settings.paths.actions / "rejected" / f"{action_id}.result.json").read_text())
    assert result["reason"] == "not tonight: the backup runs"
    shown = fake.messages[(GROUP, message_id)]
    assert f"rejected via telegram by {ALICE} (Alice): not tonight: the backup runs" in shown["text"]
    assert shown["reply_markup"] is None
    fake.say(ALICE, GROUP, "again", reply_to=prompt_id)  # the prompt is used up
    bot(settings)
    assert len(events(settings, "action_rejected")) == 1


def test_details_replies_with_the_playbooks_header(planned, fake) -> None:
    settings, action_id = planned
    bot(settings)
    message_id, buttons = announced(fake, GROUP)
    fake.forget()
    fake.press(ALICE, GROUP, message_id, buttons["Details"])
    assert bot(settings) == 0
    (details,) = fake.sent("sendMessage")
    assert details["reply_parameters"]["message_id"] == message_id
    assert details["text"].startswith(f"<b>{action_id}</b> (in pending/)\n<pre># Steward remediation playbook")
    assert "\n# What drifted : " + SUMMARY in details["text"] and "\n#   desired    : state=running" in details["text"]
    assert folder_of(settings, action_id) == "pending"


def test_an_action_approved_from_the_cli_is_edited_to_say_so(planned, fake) -> None:
    settings, action_id = planned
    bot(settings)
    message_id, buttons = announced(fake, GROUP)
    actions.approve(settings, action_id, via="cli", by="ops")
    fake.forget()
    assert bot(settings) == 0
    assert len(fake.sent("editMessageText")) == 2
    assert "approved via cli by ops" in fake.messages[(GROUP, message_id)]["text"]
    assert fake.messages[(GROUP, message_id)]["reply_markup"] is None
    fake.forget()
    fake.press(ALICE, GROUP, message_id, buttons["Approve"])  # pressed on a client that still shows it
    assert bot(settings) == 0
    (refused,) = answers(fake)
    assert refused.startswith("not approved:") and "is in approved/" in refused
    assert [e["via"] for e in events(settings, "action_approved")] == ["cli"]


def test_an_expired_action_reads_expired_and_is_never_rejected(tmp_path, fake) -> None:
    settings, action_id, clock = planned_settings(tmp_path, steward_policy={"action_ttl": 3})
    assert bot(settings) == 0
    message_id, buttons = announced(fake, GROUP)
    expires_at = actions.show(settings, action_id).info.expires_at
    left = datetime.strptime(expires_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) - datetime.now(UTC)
    time.sleep(max(0.0, left.total_seconds()) + 1.1)
    fake.forget()
    fake.press(ALICE, GROUP, message_id, buttons["Approve"])
    fake.press(ALICE, GROUP, message_id, buttons["Reject"])
    assert bot(settings) == 0
    approve, reject = answers(fake)
    assert f"expired: not approved before {expires_at}" in approve and approve.startswith("not approved")
    assert reject == f"not rejected: expired: not approved before {expires_at}"
    assert folder_of(settings, action_id) == "pending" and "sendMessage" not in fake.methods()
    shown = fake.messages[(GROUP, message_id)]
    assert f"expired: not approved before {expires_at}" in shown["text"] and shown["reply_markup"] is None

    look_and_plan(settings, clock.tick())  # the engine's next cycle moves it to expired/
    assert folder_of(settings, action_id) == "expired" and events(settings, "action_expired")
    assert bot(settings) == 0
    text = fake.messages[(GROUP, message_id)]["text"]
    assert text.count("expired: not approved before") == 1 and "rejected" not in text
    assert events(settings, "action_rejected") == []


def test_a_restarted_bot_sends_nothing_twice_and_loses_nothing(tmp_path, fake, capfd) -> None:
    settings, first, clock = planned_settings(tmp_path, steward_policy={"storm_host_fraction": 1.0})
    fake.fail["sendMessage"] = [0, 502]  # the second chat's announcement fails: the bot stops
    assert bot(settings) == 1
    assert "NetworkError" in capfd.readouterr().err
    assert [int(p["chat_id"]) for p in fake.sent("sendMessage")] == [GROUP, ALICE]  # the second one failed
    assert bot(settings) == 0  # restarted: only the chat that has no message yet gets one
    assert [int(p["chat_id"]) for p in fake.sent("sendMessage")] == [GROUP, ALICE, ALICE]
    assert sorted(fake.messages) == sorted([(GROUP, 1), (ALICE, 1)])
    for _ in range(2):
        assert bot(settings) == 0
    assert len(fake.sent("sendMessage")) == 3

    for _ in range(2):  # a second container stops: a second action, from the journal
        second = look_and_plan(settings, clock.tick(), stopped=("mqtt", "homeauto"))
    (new,) = second.new_actions
    fake.forget()
    assert bot(settings) == 0 and bot(settings) == 0
    sent = fake.sent("sendMessage")
    assert len(sent) == 2 and all(new in p["text"] and first not in p["text"] for p in sent)
    doc = json.loads((settings.paths.engine / "telegram.json").read_text())
    assert set(doc["messages"]) == {first, new}
    assert (settings.paths.engine / "telegram.json").stat().st_mode & 0o777 == 0o600


def test_a_second_bot_on_the_same_state_folder_refuses_to_start(planned, fake, capsys) -> None:
    settings, _ = planned
    with TelegramStore(settings.paths).held() as mine:
        assert mine
        assert bot(settings) == 1
    assert "another steward bot uses this state folder" in capsys.readouterr().err
    assert fake.calls == []


def test_the_token_is_in_no_log_line_and_no_output(planned, fake, caplog, capfd, monkeypatch) -> None:
    settings, action_id = planned
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "telegram"):
        caplog.set_level(logging.DEBUG, logger=name)
    assert bot(settings) == 0
    message_id, buttons = announced(fake, GROUP)
    fake.press(ALICE, GROUP, message_id, buttons["Approve"])
    fake.fail["getUpdates"] = [502]
    assert bot(settings) == 1  # a network error is reported ...
    assert bot(settings) == 0
    monkeypatch.setenv("STEWARD_TELEGRAM_TOKEN", "987654321:AAwrong-token-the-server-refuses-000")
    assert bot(settings) == 1  # ... and so is a token the Bot API refuses
    out, err = capfd.readouterr()
    assert "refused the token" in err
    assert any("HTTP Request: POST" in r.getMessage() and "/bot***/getMe" in r.getMessage() for r in caplog.records)
    secret = TOKEN.split(":", 1)[1]
    for text in (caplog.text, out, err, *(r.getMessage() for r in caplog.records)):
        assert secret not in text and "wrong-token" not in text
    assert folder_of(settings, action_id) == "approved"


def test_strings_from_nodes_and_other_surfaces_arrive_escaped(tmp_path, fake) -> None:
    settings = make_settings(tmp_path, {"piha": [service("mqtt")]})
    hostile = '<b>urgent</b> <a href="https://evil.example/">approve me</a> & more'
    dropped = settings.paths.actions / "pending" / "dropped-by-hand.yml"
    dropped.write_text(f"# Steward remediation playbook\n# Evidence     : {hostile}\n---\n- hosts: all\n  tasks: []\n")
    assert bot(settings) == 0  # a first start announces what is in pending/, unsigned files too
    (params,) = [p for p in fake.sent("sendMessage") if int(p["chat_id"]) == GROUP]
    assert "&lt;b&gt;urgent&lt;/b&gt; &lt;a href=&quot;https://evil.example/&quot;&gt;" in params["text"]
    assert "&amp; more" in params["text"] and "not signed by the engine" in params["text"]
    assert hostile in fake.messages[(GROUP, 1)]["plain"]  # Telegram shows it as the text it is

    dropped.unlink()
    clock = Clock()
    for _ in range(2):
        write_world(settings, "piha", [container("mqtt", state="exited")], observed_at=clock.tick())
        (action_id, *_) = plan(settings).new_actions or [None]
    assert action_id
    assert bot(settings) == 0
    actions.reject(settings, action_id, hostile + "\nsecond line", via="cli", by="<i>ops</i>")
    assert bot(settings) == 0
    message_id = fake.last_message(GROUP)
    text = fake.messages[(GROUP, message_id)]["text"]
    assert "rejected via cli by &lt;i&gt;ops&lt;/i&gt;: &lt;b&gt;urgent&lt;/b&gt; &lt;a href=" in text
    assert (
        "<a href" not in text
        and "<i>" not in text
        and "& more second line" in fake.messages[(GROUP, message_id)]["plain"]
    )


@pytest.mark.parametrize(
    ("env_changes", "named"),
    [
        ({"STEWARD_TELEGRAM_TOKEN": None}, "STEWARD_TELEGRAM_TOKEN"),
        ({"STEWARD_TELEGRAM_TOKEN": "not-a-token"}, "STEWARD_TELEGRAM_TOKEN"),
        ({"STEWARD_TELEGRAM_TOKEN": None, "STEWARD_TELEGRAM_TOKEN_FILE": "/nonexistent/token"}, "TOKEN_FILE"),
        ({"STEWARD_TELEGRAM_CHATS": ""}, "STEWARD_TELEGRAM_CHATS"),
        ({"STEWARD_TELEGRAM_USERS": " , "}, "STEWARD_TELEGRAM_USERS"),
        ({"STEWARD_TELEGRAM_USERS": "4242,alice"}, "STEWARD_TELEGRAM_USERS must be comma-separated user ids"),
        ({"STEWARD_TELEGRAM_CHATS": "-100;200"}, "'-100;200'"),
        ({"STEWARD_TELEGRAM_API_URL": "http://api.example.org"}, "STEWARD_TELEGRAM_API_URL"),
    ],
)
def test_a_missing_or_malformed_setting_exits_2_naming_it(planned, fake, capsys, monkeypatch, env_changes, named):
    settings, _ = planned
    for name, value in env_changes.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    assert bot(settings) == 2
    err = capsys.readouterr().err
    assert named in err and TOKEN not in err
    assert fake.calls == []  # nothing reached the Bot API


def test_the_token_file_is_read_and_stripped(planned, fake, tmp_path, monkeypatch) -> None:
    settings, _ = planned
    token_file = tmp_path / "token"
    token_file.write_text(f"  {TOKEN}\n")
    token_file.chmod(0o600)
    monkeypatch.delenv("STEWARD_TELEGRAM_TOKEN")
    monkeypatch.setenv("STEWARD_TELEGRAM_TOKEN_FILE", str(token_file))
    assert bot(settings) == 0
    assert fake.calls and all(c.token_ok for c in fake.calls)


def test_the_allow_lists_can_be_inventory_vars(planned, fake, monkeypatch) -> None:
    settings, _ = planned
    doc = yaml.safe_load(settings.inventory.read_text())
    doc["all"]["vars"] = {"steward_telegram_chats": [GROUP], "steward_telegram_users": [ALICE]}
    settings.inventory.write_text(yaml.safe_dump(doc, sort_keys=False))
    if "steward_telegram_chats" not in load_desired_cached(settings.inventory).globals:
        pytest.skip("steward.desired.inventory does not keep steward_telegram_* in the desired state's globals yet")
    monkeypatch.delenv("STEWARD_TELEGRAM_CHATS")
    monkeypatch.delenv("STEWARD_TELEGRAM_USERS")
    assert telegram_vars(settings) == {"steward_telegram_chats": [GROUP], "steward_telegram_users": [ALICE]}
    assert bot(settings) == 0
    assert [int(p["chat_id"]) for p in fake.sent("sendMessage")] == [GROUP]


def test_the_long_running_bot_polls_backs_off_and_follows_the_journal(planned, fake, caplog) -> None:
    """Not --once: long polling beside journal passes; a Bot API outage is backed off and survived."""
    settings, action_id = planned
    config = load_config(settings)
    fake.fail["getUpdates"] = [502]

    async def scenario() -> None:
        desk = Desk(settings, config, make_bot(config), TelegramStore(settings.paths))
        stop = asyncio.Event()
        task = asyncio.create_task(run(desk, once=False, poll_timeout=2, interval=0.2, stop=stop))
        await until(lambda: len(fake.sent("sendMessage")) == 2)
        message_id, buttons = announced(fake, GROUP)
        fake.press(ALICE, GROUP, message_id, buttons["Approve"])  # answered by a long poll
        await until(lambda: "approved via telegram" in fake.messages[(GROUP, message_id)]["text"])
        stop.set()
        await asyncio.wait_for(task, 5)

    with hide_token(config.token):
        asyncio.run(scenario())
    assert folder_of(settings, action_id) == "approved"
    waits = [float(p.get("timeout", 0)) for p in fake.sent("getUpdates")]
    assert max(waits) == 2  # long polling, not short polling
    assert any("getUpdates: NetworkError: Bad Gateway; again in 1 s" in r.getMessage() for r in caplog.records)
    assert TOKEN.split(":", 1)[1] not in caplog.text


async def until(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
