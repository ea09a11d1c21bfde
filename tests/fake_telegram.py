"""A local HTTP server that speaks the Bot API methods `steward bot` uses, for the tests.

Telegram cannot be reached from here: python-telegram-bot is pointed at this server through its
``base_url`` (``{url}/bot{token}/{method}``, STEWARD_TELEGRAM_API_URL). It answers getMe,
getUpdates (long polling: it waits up to ``timeout`` seconds for an update the test injects),
sendMessage, editMessageText, answerCallbackQuery, deleteWebhook and getWebhookInfo the way
Telegram does, including its refusals: 401 for a wrong token, 400 for HTML it cannot parse,
for an edit that changes nothing ("message is not modified"), for a message that does not exist
and for an unknown callback query. Every request is recorded (method and decoded parameters) so
a test can assert what the bot sent, in which order, and that the token went nowhere else.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

TOKEN = "123456789:AAF-fake-token-for-tests-0123456789abc"
JSON_PARAMS = {"reply_markup", "allowed_updates", "reply_parameters", "link_preview_options", "entities"}
# the tags Telegram's HTML parse mode accepts
TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "span", "tg-spoiler"}
TAGS |= {"blockquote", "tg-emoji"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token_ok: bool


class _HtmlCheck(HTMLParser):
    """Telegram's rule in short: only known tags, each closed in order; the text without tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.text: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TAGS:
            self.error = self.error or f'unsupported start tag "{tag}"'
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.error = self.error or f'unmatched end tag "{tag}"'

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(text: str) -> tuple[str, str | None]:
    """(plain text, why Telegram would refuse it or None)."""
    check = _HtmlCheck()
    check.feed(text)
    check.close()
    if check.open and not check.error:
        check.error = f'unclosed tag "{check.open[-1]}"'
    return "".join(check.text), check.error


class FakeTelegram:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.calls: list[Call] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}  # (chat, message_id) -> what it shows now
        self.fail: dict[str, list[int]] = {}  # method -> the HTTP status of each next call (0: answer normally)
        self._updates: list[dict[str, Any]] = []
        self._next_update = 1000
        self._next_message: dict[int, int] = {}
        self._queries: set[str] = set()
        self._cond = threading.Condition()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The API root (STEWARD_TELEGRAM_API_URL): PTB adds /bot<token>/<method>."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def close(self) -> None:
        with self._cond:
            self._cond.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- what the test injects ------------------------------------------------------------
    def user(self, user_id: int, name: str = "Alice") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": name}

    def chat(self, chat_id: int) -> dict[str, Any]:
        return {"id": chat_id, "type": "private" if chat_id > 0 else "group", "title": "ops"}

    def inject(self, **update: Any) -> int:
        with self._cond:
            self._next_update += 1
            self._updates.append({"update_id": self._next_update, **update})
            self._cond.notify_all()
            return self._next_update

    def press(self, user_id: int, chat: int, message_id: int, data: str, name: str = "Alice") -> str:
        """A user presses an inline button of a message: a callback_query update; its id."""
        query_id = f"q{len(self._queries) + 1}-{time.time_ns()}"
        self._queries.add(query_id)
        shown = self.messages.get((chat, message_id), {})
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self.chat(chat),
            "from": self.me(),
            "text": shown.get("plain", ""),
        }
        self.inject(
            callback_query={
                "id": query_id,
                "from": self.user(user_id, name),
                "chat_instance": f"ci{chat}",
                "data": data,
                "message": message,
            }
        )
        return query_id

    def say(self, user_id: int, chat: int, text: str, reply_to: int | None = None, name: str = "Alice") -> None:
        """A user writes a message (a reply to one of the bot's when `reply_to` is given)."""
        message: dict[str, Any] = {
            "message_id": self._message_id(chat),
            "date": int(time.time()),
            "chat": self.chat(chat),
            "from": self.user(user_id, name),
            "text": text,
        }
        if reply_to is not None:
            shown = self.messages.get((chat, reply_to), {})
            message["reply_to_message"] = {
                "message_id": reply_to,
                "date": int(time.time()),
                "chat": self.chat(chat),
                "from": self.me(),
                "text": shown.get("plain", ""),
            }
        self.inject(message=message)

    # -- what the test reads --------------------------------------------------------------
    def sent(self, method: str) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method == method]

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    def forget(self) -> None:
        self.calls.clear()

    def last_message(self, chat: int) -> int:
        """The id of the newest message the bot sent to a chat."""
        return max(mid for c, mid in self.messages if c == chat)

    def buttons(self, chat: int, message_id: int) -> dict[str, str]:
        """Label -> callback_data of the inline keyboard a message shows now."""
        markup = self.messages[(chat, message_id)].get("reply_markup") or {}
        return {b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row}

    # -- the Bot API ----------------------------------------------------------------------
    def me(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Steward", "username": "steward_test_bot"}

    def _message_id(self, chat: int) -> int:
        with self._cond:
            self._next_message[chat] = self._next_message.get(chat, 0) + 1
            return self._next_message[chat]

    def api(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        failing = self.fail.get(method)
        status = failing.pop(0) if failing else 0
        if status:
            return status, {"ok": False, "error_code": status, "description": "Bad Gateway"}
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
        try:
            return 200, {"ok": True, "result": handler(params)}
        except ApiError as exc:
            return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"}

    def _api_getMe(self, params: dict[str, Any]) -> Any:
        return self.me()

    def _api_deleteWebhook(self, params: dict[str, Any]) -> Any:
        return True

    def _api_getWebhookInfo(self, params: dict[str, Any]) -> Any:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    def _api_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]  # confirmed ones go
                if self._updates or time.monotonic() >= deadline:
                    return list(self._updates[: int(params.get("limit") or 100)])
                self._cond.wait(max(0.0, deadline - time.monotonic()))

    def _render(self, params: dict[str, Any]) -> tuple[str, str]:
        text = str(params.get("text", ""))
        if not text.strip():
            raise ApiError("message text is empty")
        if params.get("parse_mode") == "HTML":
            plain, error = parse_html(text)
            if error:
                raise ApiError(f"can't parse entities: {error}")
        else:
            plain = text
        if len(plain) > 4096:
            raise ApiError("message is too long")
        return text, plain

    def _api_sendMessage(self, params: dict[str, Any]) -> Any:
        chat = int(params["chat_id"])
        text, plain = self._render(params)
        message_id = self._message_id(chat)
        self.messages[(chat, message_id)] = {"text": text, "plain": plain, "reply_markup": params.get("reply_markup")}
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self.chat(chat),
            "from": self.me(),
            "text": plain,
        }
        reply = (params.get("reply_parameters") or {}).get("message_id")
        if reply is not None:
            message["reply_to_message"] = {
                "message_id": reply,
                "date": int(time.time()),
                "chat": self.chat(chat),
                "text": self.messages.get((chat, reply), {}).get("plain", ""),
            }
        return message

    def _api_editMessageText(self, params: dict[str, Any]) -> Any:
        key = (int(params["chat_id"]), int(params["message_id"]))
        if key not in self.messages:
            raise ApiError("message to edit not found")
        text, plain = self._render(params)
        shown = self.messages[key]
        markup = params.get("reply_markup")
        if shown["text"] == text and shown["reply_markup"] == markup:
            raise ApiError(
                "message is not modified: specified new message content and reply markup are exactly the same"
            )
        self.messages[key] = {"text": text, "plain": plain, "reply_markup": markup}
        return {"message_id": key[1], "date": int(time.time()), "chat": self.chat(key[0]), "text": plain}

    def _api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        if params.get("callback_query_id") not in self._queries:
            raise ApiError("query is too old and response timeout expired or query ID is invalid")
        if len(str(params.get("text", ""))) > 200:
            raise ApiError("MESSAGE_TOO_LONG")
        return True


class ApiError(Exception):
    pass


def _decode(raw: dict[str, list[str]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, values in raw.items():
        value: Any = values[-1]
        if key in JSON_PARAMS:
            value = json.loads(value)
        params[key] = value
    return params


def _handler(server: FakeTelegram) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = self.path.split("/")  # ["", "bot<token>", "<method>"]
            token = parts[1][3:] if len(parts) == 3 and parts[1].startswith("bot") else ""
            method = parts[2] if len(parts) == 3 else ""
            if self.headers.get("Content-Type", "").startswith("application/json"):
                params = json.loads(body or b"{}")
            else:
                params = _decode(parse_qs(body.decode(), keep_blank_values=True))
            server.calls.append(Call(method, params, token == server.token))
            if token != server.token:
                status, doc = 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            else:
                status, doc = server.api(method, params)
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST

    return Handler
