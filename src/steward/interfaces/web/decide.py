"""The action page and the decisions made on it: approve, reject (a reason required), ack a storm.

A decision is `steward.app.actions.approve/reject`, journaled `via: web`, `by:` the session's
token name. One that can no longer be made (approved from the CLI a second earlier, expired,
quarantined, being run) is refused with the action's real place, never moved twice: the page is
shown again with the refusal (409), the buttons gone when the action is no longer pending.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from steward.app import actions, desk
from steward.app.errors import NoStorm
from steward.app.settings import Settings
from steward.app.storm import acknowledge
from steward.interfaces.web.render import page
from steward.state.actions import ActionNotFound, BadActionId, QueueError
from steward.state.journal import utcnow

VIA = "web"
REASON_MAX = 500


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def safe_next(request: Request, value: str | None = None) -> str:
    """Where to go after the login: a path of this site only (never `//elsewhere` or a URL)."""
    target = value if value is not None else request.query_params.get("next", "/")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _reason(form: Any) -> str:
    return " ".join(str(form.get("reason") or "").split())[:REASON_MAX]


async def action_page(
    request: Request, settings: Settings, now: datetime, refused: str | None = None, status_code: int = 200
) -> Response:
    action_id = request.path_params["id"]
    try:
        view = await asyncio.to_thread(desk.action_view, settings, action_id, now)
    except (ActionNotFound, BadActionId) as exc:
        return page(request, "error.html", 404, message=str(exc))
    return page(request, "action.html", status_code, view=view, refused=refused)


def approve_handler(settings: Settings) -> Any:
    async def handler(request: Request) -> Response:
        action_id = request.path_params["id"]
        by = request.state.session.token_name
        reason = _reason(request.state.form) or None
        try:
            await asyncio.to_thread(actions.approve, settings, action_id, via=VIA, by=by, reason=reason)
        except QueueError as exc:
            return await action_page(request, settings, utcnow(), refused=f"not approved: {exc}", status_code=409)
        return RedirectResponse(f"/actions/{action_id}", status_code=303)

    return handler


def reject_handler(settings: Settings) -> Any:
    async def handler(request: Request) -> Response:
        action_id = request.path_params["id"]
        reason = _reason(request.state.form)
        if not reason:
            return await action_page(
                request, settings, utcnow(), refused="not rejected: a rejection needs a reason", status_code=400
            )
        by = request.state.session.token_name
        try:
            await asyncio.to_thread(actions.reject, settings, action_id, reason, via=VIA, by=by)
        except QueueError as exc:
            return await action_page(request, settings, utcnow(), refused=f"not rejected: {exc}", status_code=409)
        return RedirectResponse(f"/actions/{action_id}", status_code=303)

    return handler


def ack_storm_handler(settings: Settings) -> Any:
    async def handler(request: Request) -> Response:
        try:
            await asyncio.to_thread(acknowledge, settings, VIA, request.state.session.token_name)
        except NoStorm as exc:
            return RedirectResponse(f"/hosts?message={exc}", status_code=303)
        return RedirectResponse("/hosts?message=storm acknowledged: the next cycle writes the held-back actions", 303)

    return handler
