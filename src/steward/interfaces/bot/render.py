"""What the bot writes: Telegram HTML in which every value is escaped text, never markup.

Every string shown may come from a node (a container name, an image, an error message, a summary
built from them) or from another surface (a web token's name): it is made one inert line
(`line`: whitespace collapsed, control characters escaped as in the terminal), cut to a length,
then `html.escape`d. The only markup is the fixed frame written here. Telegram counts a message's
length after entities are parsed; each field has a cap, so a message stays far below 4096.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from steward.app.actions import ActionDetail, ActionInfo
from steward.core.inert import terminal
from steward.state.world import parse_time

VERBS = ("approve", "reject", "details")
LABELS = {"approve": "Approve", "reject": "Reject", "details": "Details"}
ANSWER_MAX = 200  # answerCallbackQuery's text limit
DETAILS_MAX = 3500
_FIELD = re.compile(r"^# (\S[^:]*?)\s+: ?(.*)$")
_MORE = re.compile(r"^#\s{2,}(\S.*)$")


def line(value: object, cap: int = 300) -> str:
    """One inert line of at most `cap` characters (plain text, not yet escaped)."""
    text = terminal(" ".join(str(value).split()))
    return text if len(text) <= cap else text[: cap - 1] + "…"


def esc(value: object, cap: int = 300) -> str:
    return html.escape(line(value, cap), quote=True)


def header(playbook: str | None) -> list[str]:
    """The comment lines a playbook opens with (the engine's header: what drifted, evidence, fix)."""
    out = []
    for text in (playbook or "").splitlines():
        if not text.startswith("#"):
            break
        out.append(text)
    return out


def header_fields(playbook: str | None) -> dict[str, str]:
    """Each `# Label : value` of the header with its indented continuation lines, joined by '; '."""
    fields: dict[str, list[str]] = {}
    current: list[str] | None = None
    for text in header(playbook):
        top, more = _FIELD.match(text), _MORE.match(text)
        if top and not text.startswith("#  "):
            current = fields.setdefault(top.group(1).strip().lower(), [])
            current.append(top.group(2).strip())
        elif more and current is not None:
            current.append(re.sub(r"\s+: ", ": ", more.group(1).strip()))
        else:
            current = None
    return {k: "; ".join(v for v in vs if v) for k, vs in fields.items()}


def expired(info: ActionInfo, now: datetime) -> bool:
    try:
        return bool(info.expires_at) and parse_time(str(info.expires_at)) <= now
    except ValueError:
        return False


def expiry(expires_at: str | None, now: datetime | None) -> str:
    if not expires_at:
        return "no expiry recorded"
    try:
        when = parse_time(expires_at)
    except ValueError:
        return esc(expires_at, 40)
    shown = when.strftime("%Y-%m-%d %H:%M UTC")
    if now is None:
        return shown
    minutes = int((when - now).total_seconds() // 60)
    if minutes < 0:
        return f"{shown} (passed)"
    left = f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"
    return f"{shown} (in {left})"


def announcement(detail: ActionDetail, now: datetime | None) -> str:
    """The message of a pending action; `now` None: without the time left (a later edit)."""
    info, fields = detail.info, header_fields(detail.playbook)
    lines = [
        "<b>Steward: an action waits for a decision</b>",
        f"<b>{esc(info.summary or fields.get('what drifted') or '(no summary)', 500)}</b>",
        f"host: <code>{esc(info.host or '?', 100)}</code>",
        f"drift: <code>{esc(info.key or '?', 200)}</code>",
    ]
    if fields.get("evidence"):
        lines.append(f"evidence: {esc(fields['evidence'], 500)}")
    if fields.get("proposed fix"):
        lines.append(f"fix: {esc(fields['proposed fix'], 300)}")
    if not info.signed:
        lines.append("<b>not signed by the engine: the executor will quarantine it</b>")
    lines.append(f"expires: {expiry(info.expires_at, now)}")
    lines.append(f"id: <code>{esc(info.id, 160)}</code>")
    return "\n".join(lines)


def with_status(body: str, status: list[dict[str, str]]) -> str:
    if not status:
        return body
    return body + "\n\n" + "\n".join(f"<b>{esc(s['line'], 400)}</b>" for s in status)


def keyboard(buttons: dict[str, str]) -> InlineKeyboardMarkup:
    """verb -> opaque callback id: the buttons of one message (the data names no action)."""
    row = [InlineKeyboardButton(LABELS[verb], callback_data=buttons[verb]) for verb in VERBS if verb in buttons]
    return InlineKeyboardMarkup([row])


def details(detail: ActionDetail) -> str:
    """The playbook's header (what drifted, desired vs observed, evidence, fix) as escaped preformatted text."""
    text = "\n".join(terminal(t) for t in header(detail.playbook)) or "(the playbook has no header)"
    if len(text) > DETAILS_MAX:
        text = text[: DETAILS_MAX - 1] + "…"
    where = f"in {detail.folder}/"
    return f"<b>{esc(detail.info.id, 160)}</b> ({where})\n<pre>{html.escape(text, quote=False)}</pre>"


def _who(event: dict[str, Any]) -> str:
    via, by = event.get("via") or "?", event.get("by")
    if via == "file":
        return "by a file moved into approved/"
    return f"via {via} by {by}" if by else f"via {via}"


def status_line(event: dict[str, Any]) -> tuple[str, str, bool] | None:
    """(key, plain line, ended) for a journal event about an action; None for events not shown.

    The key is the event's id, so a journal line read twice adds one line; a TTL expiry has the
    fixed key "ttl" (the bot may have said it already, on a press after the TTL)."""
    kind, key = str(event.get("type")), str(event.get("id") or event.get("at") or "")
    reason = line(event.get("reason") or "", 300)
    at = f" ({event['at']})" if event.get("at") else ""
    if kind == "action_approved":
        extra = f": {reason}" if reason else ""
        return key, f"approved {_who(event)}{extra}{at}", False
    if kind == "action_rejected":
        return key, f"rejected {_who(event)}: {reason}{at}", True
    if kind == "action_expired":
        text = reason if reason.startswith("expired") else f"expired: {reason or 'no longer valid'}"
        return ("ttl" if "not approved before" in reason else key), f"{text}{at}", True
    simple = {
        "action_quarantined": (f"quarantined, never run: {reason}", True),
        "action_running": ("running", False),
        "action_succeeded": ("ran: succeeded", True),
        "action_failed": (f"ran: failed (rc {event.get('rc')})", True),
        "action_interrupted": (f"interrupted: {reason}", True),
        "action_verified": ("verified: the drift is gone", True),
        "action_not_fixed": (f"not fixed: {reason}", True),
        "action_unverified": (f"not verified: {reason}", True),
    }
    if kind in simple:
        text, ended = simple[kind]
        return key, f"{text}{at}", ended
    return None
