"""What a Telegram update may do: a button press or a reply, checked before anything moves.

A press counts only when all hold, checked in this order: the pressing user's id
(``callback_query.from.id``) is allow-listed, the message is in an allowed chat, the callback id
is one this bot issued, and it was issued for this very chat and message. Otherwise the press is
answered with why and nothing changes. The callback is answered first, then the message edited.

* Approve -> steward.app.actions.approve(via="telegram", by="<id> (<name>)"): the same move as
  `mv` and `steward approve`. Refused (decided elsewhere, expired, quarantined, gone) -> the
  answer says why and the message is redrawn with the action's real state.
* Reject -> a force-reply prompt naming the user; that user's reply to it is the reason
  (required) -> steward.app.actions.reject. A pending action past its TTL is never rejected:
  it reads "expired: not approved before ...".
* Details -> the playbook's header as a reply (read only).
"""

from __future__ import annotations

import logging

from telegram import CallbackQuery, ForceReply, Message, ReplyParameters, Update, User
from telegram.constants import ParseMode
from telegram.error import BadRequest

from steward.app import actions
from steward.app.errors import QueueError
from steward.interfaces.bot import render
from steward.interfaces.bot.desk import NO_PREVIEW, Desk
from steward.state.journal import isotime
from steward.state.telegram import Button, Prompt

log = logging.getLogger("steward.bot")
VIA = "telegram"
HELP = (
    "Steward posts each pending action here with Approve / Reject / Details.\n"
    "Reject asks for a reason: reply to its prompt. Your user id: {user}; this chat: {chat}."
)


def who(user: User) -> str:
    """The journal's `by`: "<id> (<name>)", one inert line of bounded length."""
    name = user.full_name or (f"@{user.username}" if user.username else "?")
    return f"{user.id} ({render.line(name, 64)})"


def _clip(text: object) -> str:
    return render.line(text, render.ANSWER_MAX)


async def answer(query: CallbackQuery, text: str, alert: bool = False) -> None:
    try:
        await query.answer(_clip(text), show_alert=alert)
    except BadRequest as exc:  # e.g. "query is too old": the press is still handled
        log.warning("callback not answered: %s", exc)


def refusal(desk: Desk, query: CallbackQuery) -> str | None:
    """Why this press changes nothing, or None when it may."""
    user, message = query.from_user, query.message
    if user.id not in desk.config.users:
        return f"you (user id {user.id}) are not on this bot's list of deciders: nothing changed"
    if message is None or message.chat.id not in desk.config.chats:
        return "this chat is not allowed to decide: nothing changed"
    button = desk.map.buttons.get(query.data or "")
    if button is None:
        return "unknown button (not issued by this bot, or long forgotten): nothing changed"
    if button.chat != message.chat.id or button.message_id != message.message_id:
        return "this button does not belong to this message: nothing changed"
    return None


async def handle(desk: Desk, update: Update) -> None:
    if update.callback_query is not None:
        await on_press(desk, update.callback_query)
    elif update.message is not None:
        await on_message(desk, update.message)


async def on_press(desk: Desk, query: CallbackQuery) -> None:
    why = refusal(desk, query)
    chat = query.message.chat.id if query.message else None
    if why is not None:
        log.warning("press refused (user %d, chat %s): %s", query.from_user.id, chat, why)
        await answer(query, why, alert=True)
        return
    button = desk.map.buttons[query.data or ""]
    if button.verb == "approve":
        await approve(desk, query, button)
    elif button.verb == "reject":
        await ask_reason(desk, query, button)
    else:
        await answer(query, "details below")
        await details(desk, button)


def not_open(desk: Desk, action: str) -> str | None:
    """Why the action can no longer be decided here, or None while it is pending inside its TTL."""
    try:
        info = actions.show(desk.settings, action).info
    except QueueError as exc:
        return str(exc)
    if info.folder != "pending":
        return f"it is in {info.folder}/, no longer pending"
    if render.expired(info, desk.now()):
        return f"expired: not approved before {info.expires_at}"
    return None


async def approve(desk: Desk, query: CallbackQuery, button: Button) -> None:
    by = who(query.from_user)
    try:
        actions.approve(desk.settings, button.action, via=VIA, by=by)
    except QueueError as exc:
        log.info("approval by %s refused: %s", by, render.line(exc))
        await answer(query, f"not approved: {exc}", alert=True)
        await desk.real_state(button.action)
        return
    log.info("%s approved by %s", render.line(button.action), by)
    await answer(query, "approved: the executor runs it on its next pass")
    await desk.journal_pass_locked()  # the approval's journal event redraws every message of it


async def ask_reason(desk: Desk, query: CallbackQuery, button: Button) -> None:
    why = not_open(desk, button.action)
    if why is not None:
        await answer(query, f"not rejected: {why}", alert=True)
        await desk.real_state(button.action)
        return
    await answer(query, "reply to the prompt with a reason")
    user = query.from_user
    mention = f'<a href="tg://user?id={int(user.id)}">{render.esc(user.full_name or user.id, 64)}</a>'
    prompt = await desk.bot.send_message(
        button.chat,
        f"{mention}, why reject <code>{render.esc(button.action, 160)}</code>? "
        "Reply to this message with the reason (required).",
        parse_mode=ParseMode.HTML,
        reply_parameters=ReplyParameters(button.message_id or 0, allow_sending_without_reply=True),
        reply_markup=ForceReply(selective=True, input_field_placeholder="reason for rejecting"),
        link_preview_options=NO_PREVIEW,
    )
    desk.map.prompts[f"{button.chat}:{prompt.message_id}"] = Prompt(button.action, user.id, isotime(desk.now()))
    desk.save()


async def details(desk: Desk, button: Button) -> None:
    try:
        text = render.details(actions.show(desk.settings, button.action))
    except QueueError as exc:
        text = render.esc(exc, 500)
    await desk.bot.send_message(
        button.chat,
        text,
        parse_mode=ParseMode.HTML,
        reply_parameters=ReplyParameters(button.message_id or 0, allow_sending_without_reply=True),
        link_preview_options=NO_PREVIEW,
    )


async def on_message(desk: Desk, message: Message) -> None:
    user, chat = message.from_user, message.chat.id
    if user is None or user.id not in desk.config.users or chat not in desk.config.chats:
        log.info("ignored a message from user %s in chat %d: not allow-listed", user.id if user else "?", chat)
        return
    replied = message.reply_to_message
    key = f"{chat}:{replied.message_id}" if replied is not None else ""
    prompt = desk.map.prompts.get(key)
    if prompt is None:
        if (message.text or "").startswith(("/start", "/help")):
            await desk.reply(message, render.esc(HELP.format(user=user.id, chat=chat), 500))
        return
    if prompt.user != user.id:
        await desk.reply(message, "Only the user who pressed Reject gives its reason: nothing changed.")
        return
    reason = render.line(message.text or "", 500)
    if not reason:
        await desk.reply(message, "A rejection needs a reason: nothing changed. Reply to the prompt with one.")
        return
    del desk.map.prompts[key]
    desk.save()
    why = not_open(desk, prompt.action)
    by = who(user)
    try:
        if why is not None:
            raise QueueError(why)
        actions.reject(desk.settings, prompt.action, reason, via=VIA, by=by)
    except QueueError as exc:
        await desk.reply(message, f"Not rejected: {render.esc(exc, 400)}")
        await desk.real_state(prompt.action)
        return
    log.info("%s rejected by %s", render.line(prompt.action), by)
    await desk.reply(message, "Rejected: it will not run.")
    await desk.journal_pass_locked()
