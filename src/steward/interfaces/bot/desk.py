"""The bot's memory and its messages: announce pending actions, redraw them as the journal moves on.

`Desk` holds the map of engine/telegram.json (steward.state.telegram) and the PTB `Bot`. Every
change to what Telegram shows is followed by a save, so a restart resumes exactly there:

* a journal ``action_pending`` (or, on the first start, every action in pending/) -> one message
  to each allowed chat that has none for it yet, with three opaque buttons;
* any later event about an announced action (approved, rejected, expired, quarantined, ran,
  verified; from any surface: the CLI, the web page, a file moved by hand, this bot) -> one
  status line under each of its messages, and the buttons removed.

Decisions are not made here (updates.py calls steward.app.actions); this reads the queue through
steward.app.actions.show and the journal through feed.py.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import datetime

from telegram import Bot, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden

from steward.app.actions import ActionDetail, list_actions, show
from steward.app.errors import QueueError
from steward.app.settings import Settings
from steward.interfaces.bot import render
from steward.interfaces.bot.config import BotConfig
from steward.interfaces.bot.feed import journal_end, journal_size, new_events
from steward.state.journal import isotime, utcnow
from steward.state.telegram import BotMap, Button, Posted, TelegramStore, Thread

log = logging.getLogger("steward.bot")
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def new_button_id() -> str:
    """16 random URL-safe characters: opaque, unguessable, far below callback_data's 64 bytes."""
    return secrets.token_urlsafe(12)


class Desk:
    def __init__(
        self,
        settings: Settings,
        config: BotConfig,
        bot: Bot,
        store: TelegramStore | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.config = config
        self.bot = bot
        self.store = store or TelegramStore(settings.paths.ensure())
        self.now = now
        self.map = BotMap()
        self.lock = asyncio.Lock()  # one change at a time: the journal pass and each update

    def save(self) -> None:
        self.store.save(self.map, self.now())

    # -- start ----------------------------------------------------------------------
    async def start(self) -> None:
        """Load the map; on a first start (or after the journal was replaced) announce what is pending.

        First start: the journal's history is not replayed (it would announce long-decided
        actions); every action now in pending/ is announced, then the offset is set to where the
        journal ended before that. The offset is saved only after the announcements, so a crash in
        between announces the rest on the next start (the ones already posted are in the map)."""
        self.map = self.store.load()
        journal = self.settings.paths.journal
        offset = self.map.journal_offset
        if offset is not None and offset <= journal_size(journal):
            return
        if offset is not None:
            log.warning("the journal is shorter than the bot's offset (replaced?): announcing what is pending now")
        end = journal_end(journal)
        async with self.lock:
            self.map.journal_offset = None
            for info in sorted(list_actions(self.settings), key=lambda i: (i.created_at or "", i.id)):
                if info.folder == "pending":
                    await self.announce(info.id)
            self.map.journal_offset = end
            self.save()

    # -- the journal ----------------------------------------------------------------
    async def journal_pass(self) -> int:
        async with self.lock:
            return await self.journal_pass_locked()

    async def journal_pass_locked(self) -> int:
        """Act on every complete journal line past the offset; the number of lines read."""
        path, count = self.settings.paths.journal, 0
        while True:
            offset = self.map.journal_offset or 0
            if offset > journal_size(path):
                log.warning("the journal shrank below the bot's offset: reading it from its end")
                self.map.journal_offset = journal_end(path)
                self.save()
                return count
            read = 0
            for end, event in new_events(path, offset):
                await self.on_event(event)
                self.map.journal_offset = end
                read += 1
            if not read:
                break
            count += read
            self.save()
        return count

    async def on_event(self, event: dict[str, object]) -> None:
        action = event.get("action")
        if not isinstance(action, str):
            return
        if event.get("type") == "action_pending":
            await self.announce(action)
        elif action in self.map.messages:
            shown = render.status_line(event)
            if shown is not None:
                await self.add_status(action, *shown)

    # -- messages -------------------------------------------------------------------
    async def announce(self, action: str) -> None:
        """One message to each allowed chat without one for this action, if it is still decidable."""
        thread = self.map.messages.get(action)
        missing = sorted(self.config.chats - (thread.chats() if thread else set()))
        if not missing or (thread is not None and thread.status):
            return
        try:
            detail = show(self.settings, action)
        except QueueError as exc:
            log.info("not announced: %s", render.line(exc))
            return
        now = self.now()
        if detail.folder != "pending" or render.expired(detail.info, now):
            log.info("not announced: %s is in %s/ or past its expiry", render.line(action), detail.folder)
            return
        body = render.announcement(detail, now)
        for chat in missing:
            ids = {verb: new_button_id() for verb in render.VERBS}
            for verb, bid in ids.items():
                self.map.buttons[bid] = Button(chat, None, action, verb, isotime(now))
            try:
                sent = await self.bot.send_message(
                    chat,
                    body,
                    parse_mode=ParseMode.HTML,
                    reply_markup=render.keyboard(ids),
                    link_preview_options=NO_PREVIEW,
                )
            except (BadRequest, Forbidden) as exc:  # this chat refuses it: the other chats still get theirs
                for bid in ids.values():
                    del self.map.buttons[bid]
                log.error("chat %d: the announcement of %s was refused: %s", chat, render.line(action), exc)
                continue
            except BaseException:
                for bid in ids.values():
                    self.map.buttons.pop(bid, None)
                raise
            for bid in ids.values():
                self.map.buttons[bid].message_id = sent.message_id
            thread = self.map.thread(action)
            thread.posted.append(Posted(chat, sent.message_id, thread.version))
            self.save()
            log.info("announced %s in chat %d (message %d)", render.line(action), chat, sent.message_id)

    async def add_status(self, action: str, key: str, text: str, ended: bool) -> None:
        """One more line under the action's messages (once per key); the buttons go."""
        thread = self.map.thread(action)
        if thread.add_status(key, text) and ended and not thread.closed:
            thread.closed = isotime(self.now())
        await self.redraw(action)

    async def redraw(self, action: str) -> None:
        """Edit each message of the action whose text is behind the action's status lines."""
        thread = self.map.messages.get(action)
        if thread is None:
            return
        stale = [p for p in thread.posted if p.shown != thread.version]
        if not stale:
            return
        text = render.with_status(self._body(action), thread.status)
        for posted in stale:
            # an edit without reply_markup removes the inline keyboard: a decided action has no buttons
            markup = None if thread.status else render.keyboard(self.buttons_of(posted))
            try:
                await self.bot.edit_message_text(
                    text,
                    chat_id=posted.chat,
                    message_id=posted.message_id,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                    link_preview_options=NO_PREVIEW,
                )
            except BadRequest as exc:
                if "not modified" not in str(exc).lower():
                    log.warning("chat %d message %d not edited: %s", posted.chat, posted.message_id, exc)
            except Forbidden as exc:
                log.warning("chat %d message %d not edited: %s", posted.chat, posted.message_id, exc)
            posted.shown = thread.version
            self.save()

    def _body(self, action: str) -> str:
        try:
            detail: ActionDetail | None = show(self.settings, action)
        except QueueError:
            detail = None
        if detail is None:
            return f"<b>Steward action</b> <code>{render.esc(action, 160)}</code>: in no queue folder any more"
        return render.announcement(detail, None)

    def buttons_of(self, posted: Posted) -> dict[str, str]:
        return {
            b.verb: bid
            for bid, b in self.map.buttons.items()
            if b.chat == posted.chat and b.message_id == posted.message_id
        }

    async def real_state(self, action: str) -> None:
        """After a refused decision: make the messages say where the action really is.

        The journal pass first (a decision made elsewhere a moment ago is an event there); then a
        pending action past its TTL reads "expired: not approved before ...", and one that moved
        without an event (a file moved by hand) reads where it is now."""
        await self.journal_pass_locked()
        thread: Thread = self.map.thread(action)
        try:
            info = show(self.settings, action).info
        except QueueError:
            await self.add_status(action, "gone", "in no queue folder any more", True)
            return
        if info.folder == "pending" and render.expired(info, self.now()):
            await self.add_status(action, "ttl", f"expired: not approved before {info.expires_at}", True)
        elif info.folder != "pending" and not thread.status:
            await self.add_status(action, f"folder:{info.folder}", f"now in {info.folder}/", False)

    async def reply(self, to: Message, text: str) -> Message | None:
        """An HTML reply (text already escaped); a chat that refuses it is logged, not fatal."""
        try:
            return await to.reply_text(text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW)
        except (BadRequest, Forbidden) as exc:
            log.warning("chat %d: reply not sent: %s", to.chat.id, exc)
            return None
