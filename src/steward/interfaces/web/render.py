"""Templates of the web desk: one Jinja2 environment, autoescape on, strict undefined.

Everything a template shows may come from a node; it is passed as data and autoescaped, never
marked safe, never used as a template itself.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse

from steward.state.world import parse_time

HERE = Path(__file__).parent
STATIC = HERE / "static"


def ago(seconds: float | None) -> str:
    """120.0 -> "2m", 7300 -> "2h 1m"; None -> "?"."""
    if seconds is None:
        return "?"
    s = int(abs(seconds))
    if s < 60:
        text = f"{s}s"
    elif s < 3600:
        text = f"{s // 60}m {s % 60}s" if s < 600 else f"{s // 60}m"
    elif s < 86400:
        text = f"{s // 3600}h {s % 3600 // 60}m"
    else:
        text = f"{s // 86400}d {s % 86400 // 3600}h"
    return text if seconds >= 0 else f"-{text}"


def epoch(value: str | None) -> str:
    """An ISO time as epoch seconds for the page's countdown script ("" when it does not parse)."""
    try:
        return str(int(parse_time(value).timestamp())) if value else ""
    except ValueError:
        return ""


def pretty(value: Any) -> str:
    """A value as indented JSON text (for desired/observed/evidence): shown in <pre>, escaped."""
    return json.dumps(value, indent=2, sort_keys=True, default=str)


ENV = Environment(
    loader=FileSystemLoader(str(HERE / "templates")),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(ago=ago, epoch=epoch, pretty=pretty)


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    session = getattr(request.state, "session", None)
    html = ENV.get_template(name).render(
        session=session,
        csrf=session.csrf if session else "",
        now=datetime.now(UTC),
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)
