"""The web desk's doors: which Host may be asked, which Origin may post, who is logged in, CSRF.

* Host allow-list (against DNS rebinding): `localhost`, `127.0.0.1`, `[::1]` and the names given
  with `--allow-host` / STEWARD_UI_HOSTS; anything else is 400 before any route runs.
* A state-changing request (POST) must come from the page itself: its Origin (or, without one,
  its Referer) must be this server under an allowed name; then its form must carry the session's
  CSRF token.
* The session is a cookie signed with the state folder's `engine/ui-secret.key` (HttpOnly,
  SameSite=Strict, Secure over https), naming the token and its generation: a revoked token
  ends its sessions at their next request. Sessions last SESSION_MAX_AGE.
* Every answer carries a Content-Security-Policy without inline script, X-Frame-Options DENY,
  nosniff, a same-origin referrer policy and no-store.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from steward.state.tokens import Tokens

SESSION_COOKIE = "steward_session"
LOGIN_COOKIE = "steward_login"  # the login form's own CSRF value (double submit), before any session
SESSION_MAX_AGE = 12 * 3600
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",  # not no-referrer: Chromium then posts `Origin: null`
    "cache-control": "no-store",
}


def host_name(value: str) -> str:
    """`example:8754` -> `example`, `[::1]:8754` -> `[::1]`, lower-cased."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class Doors:
    """Middleware: the Host allow-list and the security headers on every answer."""

    def __init__(self, app: ASGIApp, allowed_hosts: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = {h.lower() for h in (*LOCAL_HOSTS, *allowed_hosts)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = host_name(Headers(scope=scope).get("host", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.decode().lower() not in SECURITY_HEADERS]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message["headers"] = headers
            await send(message)

        if host not in self.allowed:
            refused = PlainTextResponse(
                "this host name is not allowed (start steward ui with --allow-host NAME to add one)", status_code=400
            )
            await refused(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def same_origin(request: Request, allowed: set[str]) -> bool:
    """Whether a POST comes from a page of this server: Origin, else Referer, names an allowed host
    and the port this request was sent to."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return False
    parts = urlsplit(source)
    here = request.headers.get("host", "")
    return (
        parts.scheme in ("http", "https")
        and host_name(parts.netloc) in allowed
        and parts.netloc.lower() == here.lower()
    )


@dataclass(frozen=True)
class Session:
    token_name: str
    generation: str
    csrf: str


class Sessions:
    def __init__(self, tokens: Tokens) -> None:
        self.tokens = tokens
        self.signer = URLSafeTimedSerializer(tokens.secret(), salt="steward-ui-session")

    def open(self, token: str) -> tuple[Session, str] | None:
        """A new session and its cookie value for a valid token; None for any other string."""
        holder = self.tokens.holder(token)
        if holder is None:
            return None
        session = Session(holder.name, holder.generation, secrets.token_urlsafe(24))
        return session, self.signer.dumps({"t": session.token_name, "g": session.generation, "c": session.csrf})

    def of(self, request: Request) -> Session | None:
        """The request's session: a cookie this server signed, not too old, of a token not revoked."""
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            data: Any = self.signer.loads(raw, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("t", "g", "c")):
            return None
        if not self.tokens.current(data["t"], data["g"]):
            return None
        return Session(data["t"], data["g"], data["c"])


def csrf_ok(expected: str, given: object) -> bool:
    return isinstance(given, str) and bool(given) and hmac.compare_digest(expected.encode(), given.encode())


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
