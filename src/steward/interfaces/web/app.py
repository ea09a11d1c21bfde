"""The web desk's application: routes, the login, and the check every page makes.

Pages (GET) need a session; decisions (POST) need a session, a same-origin request and the
session's CSRF token. /metrics and /static are open (no secrets in either). The state folder is
read anew on every request: a decision made elsewhere a second ago is what the next page shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from steward.app import desk
from steward.app.settings import Settings
from steward.interfaces.web import decide
from steward.interfaces.web.metrics import metrics_response
from steward.interfaces.web.render import STATIC, page
from steward.interfaces.web.security import (
    LOCAL_HOSTS,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    Doors,
    Sessions,
    csrf_ok,
    same_origin,
    set_cookie,
)
from steward.state.actions import QueueError
from steward.state.tokens import Tokens

Handler = Callable[[Request], Awaitable[Response]]


def _now() -> datetime:
    return datetime.now(UTC)


class Desk:
    """What every handler needs: the settings, the sessions, the allowed host names."""

    def __init__(self, settings: Settings, allowed_hosts: tuple[str, ...]) -> None:
        self.settings = settings
        self.sessions = Sessions(Tokens(settings.paths.ensure()))
        self.allowed = {h.lower() for h in (*LOCAL_HOSTS, *allowed_hosts)}

    def page(self, handler: Handler) -> Handler:
        """A page that needs a login: without a session, to the login form (and back after it)."""

        async def wrapped(request: Request) -> Response:
            session = self.sessions.of(request)
            if session is None:
                return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
            request.state.session = session
            return await handler(request)

        return wrapped

    def api(self, handler: Handler) -> Handler:
        """JSON for the page's script: without a session 401 (the script reloads, to the login)."""

        async def wrapped(request: Request) -> Response:
            session = self.sessions.of(request)
            if session is None:
                return JSONResponse({"error": "not logged in (or the session ended)"}, status_code=401)
            request.state.session = session
            return await handler(request)

        return wrapped

    def post(self, handler: Handler) -> Handler:
        """A state-changing request: a session, from this server's own page, with its CSRF token."""

        async def wrapped(request: Request) -> Response:
            session = self.sessions.of(request)
            if session is None:
                return Response("not logged in (or the session ended): log in again", status_code=401)
            if not same_origin(request, self.allowed):
                return Response("refused: this request did not come from the desk's own page", status_code=403)
            form = await request.form()
            if not csrf_ok(session.csrf, form.get("csrf")):
                return Response("refused: the form's CSRF token is missing or wrong; reload the page", status_code=403)
            request.state.session = session
            request.state.form = form
            return await handler(request)

        return wrapped


def build_app(settings: Settings, allowed_hosts: tuple[str, ...] = ()) -> Doors:
    desk_ = Desk(settings, allowed_hosts)

    async def login_form(request: Request) -> Response:
        nonce = request.cookies.get(LOGIN_COOKIE) or decide.new_nonce()
        response = page(request, "login.html", nonce=nonce, error=None, next=decide.safe_next(request))
        set_cookie(response, request, LOGIN_COOKIE, nonce, 600)
        return response

    async def login(request: Request) -> Response:
        form = await request.form()
        nonce = request.cookies.get(LOGIN_COOKIE) or ""
        if not same_origin(request, desk_.allowed) or not csrf_ok(nonce, form.get("nonce")):
            return Response("refused: the login form did not come from this page; reload it", status_code=403)
        opened = desk_.sessions.open(str(form.get("token") or ""))
        if opened is None:
            await asyncio.sleep(0.5)  # a wrong token costs the guesser time
            return page(
                request, "login.html", 401, nonce=nonce, error="that token is not valid", next=decide.safe_next(request)
            )
        _, cookie = opened
        back = RedirectResponse(decide.safe_next(request, str(form.get("next") or "/")), status_code=303)
        set_cookie(back, request, SESSION_COOKIE, cookie, SESSION_MAX_AGE)
        back.delete_cookie(LOGIN_COOKIE, path="/")
        return back

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def queue(request: Request) -> Response:
        view = await asyncio.to_thread(desk.queue_view, settings, _now())
        return page(request, "queue.html", view=view)

    async def action(request: Request) -> Response:
        return await decide.action_page(request, settings, _now())

    async def hosts(request: Request) -> Response:
        view = await asyncio.to_thread(desk.hosts_view, settings, _now())
        return page(request, "hosts.html", view=view, message=request.query_params.get("message"))

    async def journal(request: Request) -> Response:
        filters = {k: request.query_params.get(k, "") for k in desk.JOURNAL_FILTERS}
        events = await asyncio.to_thread(desk.journal_view, settings, filters, 200)
        return page(request, "journal.html", events=events, filters=filters)

    async def journal_api(request: Request) -> Response:
        filters = {k: request.query_params.get(k, "") for k in desk.JOURNAL_FILTERS}
        after = request.query_params.get("after") or None
        events = await asyncio.to_thread(desk.journal_view, settings, filters, 200, after)
        return JSONResponse({"events": events})

    async def queue_api(request: Request) -> Response:
        view = await asyncio.to_thread(desk.queue_view, settings, _now())
        return JSONResponse({"counts": view.counts, "open": [[r.info.id, r.info.folder] for r in view.open]})

    async def metrics(request: Request) -> Response:
        return await asyncio.to_thread(metrics_response, settings)

    async def refuse(request: Request, exc: Exception) -> Response:  # a QueueError that escaped a page
        return page(request, "error.html", 409, message=str(exc))

    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", desk_.post(logout), methods=["POST"]),
        Route("/", desk_.page(queue), methods=["GET"]),
        Route("/actions/{id}", desk_.page(action), methods=["GET"]),
        Route("/actions/{id}/approve", desk_.post(decide.approve_handler(settings)), methods=["POST"]),
        Route("/actions/{id}/reject", desk_.post(decide.reject_handler(settings)), methods=["POST"]),
        Route("/hosts", desk_.page(hosts), methods=["GET"]),
        Route("/storm/ack", desk_.post(decide.ack_storm_handler(settings)), methods=["POST"]),
        Route("/journal", desk_.page(journal), methods=["GET"]),
        Route("/api/journal", desk_.api(journal_api), methods=["GET"]),
        Route("/api/queue", desk_.api(queue_api), methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={QueueError: refuse})
    return Doors(app, allowed_hosts)
