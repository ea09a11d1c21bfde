"""engine/telegram.json: what `steward bot` sent and what its buttons mean, kept across restarts.

One JSON document (0600, written atomically: temp -> fsync -> os.replace -> fsync the folder):

* ``journal_offset``: the bytes of journal.jsonl the bot has acted on (always at a line's end);
  ``null`` until the bot's first start set it;
* ``update_offset``: the next Telegram update id to ask for (updates before it were handled);
* ``buttons``: opaque callback id -> {chat, message_id, action, verb, created}. A button's data is
  only this id: what it approves, and where it may be pressed, is looked up here;
* ``messages``: action id -> {posted: [{chat, message_id, shown}], status: [{key, line}], version,
  closed}: the announcements of an action, the lines that say what happened to it since, and
  which version of them each message shows (one behind is edited on the next pass);
* ``prompts``: "chat:message_id" of a force-reply prompt -> {action, user, created}: who was asked
  for a reason to reject which action.

The bot saves after every message it sends or edits, so a restart neither sends a message twice
(its ``posted`` entry is on disk) nor loses one (the journal offset moves only past events whose
messages are out). An unreadable file stops the bot (TelegramStateError): treating it as empty
would announce every pending action again. One bot per state folder: it holds
engine/locks/telegram.lock while it runs (`held`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from steward.core.atomic import atomic_write_json, read_regular_file
from steward.core.locks import try_exclusive
from steward.state.journal import isotime
from steward.state.paths import StatePaths
from steward.state.world import parse_time

SCHEMA = 1
FILE_MODE = 0o600
KEEP_CLOSED = timedelta(days=14)  # a closed action's messages and buttons are forgotten after this
MAX_STATUS_LINES = 12  # per action; the oldest go first


class TelegramStateError(Exception):
    """engine/telegram.json cannot be read or is not the bot's map; the message says which and why."""


@dataclass
class Button:
    chat: int
    message_id: int | None  # None while its message is being sent
    action: str
    verb: str  # approve | reject | details
    created: str


@dataclass
class Posted:
    chat: int
    message_id: int
    shown: int = 0  # the thread's version this message shows (behind it: to be edited)


@dataclass
class Thread:
    """One action's announcements and what happened to it since (one line per journal event)."""

    posted: list[Posted] = field(default_factory=list)
    status: list[dict[str, str]] = field(default_factory=list)  # {key, line}; key: a journal event id
    closed: str | None = None  # when the action ended (its buttons are gone)
    version: int = 0  # one more with each status line

    def chats(self) -> set[int]:
        return {p.chat for p in self.posted}

    def has_status(self, key: str) -> bool:
        return any(s.get("key") == key for s in self.status)

    def add_status(self, key: str, line: str) -> bool:
        if self.has_status(key):
            return False
        self.status.append({"key": key, "line": line})
        del self.status[:-MAX_STATUS_LINES]
        self.version += 1
        return True


@dataclass
class Prompt:
    action: str
    user: int
    created: str


@dataclass
class BotMap:
    journal_offset: int | None = None
    update_offset: int | None = None
    buttons: dict[str, Button] = field(default_factory=dict)
    messages: dict[str, Thread] = field(default_factory=dict)
    prompts: dict[str, Prompt] = field(default_factory=dict)

    def thread(self, action: str) -> Thread:
        return self.messages.setdefault(action, Thread())

    def prune(self, now: datetime) -> None:
        """Forget the messages and buttons of actions closed more than KEEP_CLOSED ago, old prompts too."""
        gone = {a for a, t in self.messages.items() if t.closed and _before(t.closed, now - KEEP_CLOSED)}
        for action in gone:
            del self.messages[action]
        self.buttons = {k: b for k, b in self.buttons.items() if b.action not in gone}
        old = now - timedelta(days=1)
        self.prompts = {k: p for k, p in self.prompts.items() if not _before(p.created, old)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "journal_offset": self.journal_offset,
            "update_offset": self.update_offset,
            "buttons": {k: vars(b) for k, b in self.buttons.items()},
            "messages": {
                a: {"posted": [vars(p) for p in t.posted], "status": t.status, "closed": t.closed, "version": t.version}
                for a, t in self.messages.items()
            },
            "prompts": {k: vars(p) for k, p in self.prompts.items()},
        }


def _before(when: str, limit: datetime) -> bool:
    """Whether the ISO time `when` is before `limit` (an unreadable time counts as before: forgotten)."""
    try:
        return parse_time(when) < limit
    except (TypeError, ValueError):
        return True


def _int_or_none(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TelegramStateError(f"{name} must be a whole number, got {value!r}")
    return value


def parse_map(doc: Any) -> BotMap:
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise TelegramStateError(f"not a schema {SCHEMA} map of the bot")
    try:
        return BotMap(
            journal_offset=_int_or_none(doc.get("journal_offset"), "journal_offset"),
            update_offset=_int_or_none(doc.get("update_offset"), "update_offset"),
            buttons={str(k): Button(**v) for k, v in doc.get("buttons", {}).items()},
            messages={
                str(a): Thread(
                    posted=[Posted(**p) for p in t.get("posted", [])],
                    status=[{"key": str(s["key"]), "line": str(s["line"])} for s in t.get("status", [])],
                    closed=t.get("closed"),
                    version=int(t.get("version", 0)),
                )
                for a, t in doc.get("messages", {}).items()
            },
            prompts={str(k): Prompt(**v) for k, v in doc.get("prompts", {}).items()},
        )
    except (AttributeError, KeyError, TypeError) as exc:
        raise TelegramStateError(f"an entry has the wrong shape ({exc})") from None


class TelegramStore:
    """Load and save the bot's map in the state folder."""

    def __init__(self, paths: StatePaths) -> None:
        self.paths = paths
        self.path = paths.engine / "telegram.json"
        self.lock = paths.locks / "telegram.lock"

    def load(self) -> BotMap:
        """The saved map; a fresh one (offsets None: a first start) when there is no file yet."""
        try:
            raw = read_regular_file(self.path)
        except FileNotFoundError:
            return BotMap()
        except OSError as exc:
            raise TelegramStateError(f"{self.path}: {exc}") from None
        try:
            return parse_map(json.loads(raw))
        except (ValueError, TelegramStateError) as exc:
            raise TelegramStateError(
                f"{self.path} is unusable ({exc}); move it aside to start afresh "
                "(every pending action is then announced again)"
            ) from None

    def save(self, bot_map: BotMap, now: datetime | None = None) -> None:
        bot_map.prune(now or parse_time(isotime()))
        atomic_write_json(self.path, bot_map.as_dict(), mode=FILE_MODE)

    @contextmanager
    def held(self) -> Iterator[bool]:
        """Hold the bot's lock (True), or say another bot holds it (False); never waits."""
        with try_exclusive(self.lock) as free:
            yield free
