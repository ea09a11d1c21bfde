"""A real state folder with real pending actions for the web desk's tests, and a logged-in client.

Actions are written by real engine cycles over real world files (tests/helpers.py); the page is
the real Starlette application, through httpx (Starlette's TestClient) or a real browser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from helpers import container, make_settings, service, write_world
from steward.interfaces.web.app import build_app
from steward.plan.engine import Engine
from steward.state.journal import Journal
from steward.state.settings import Settings
from steward.state.tokens import Tokens

ORIGIN = "http://127.0.0.1:8754"
HOSTILE = '<script>alert("node")</script><img src=x onerror=alert(1)>'


@dataclass
class Desk:
    settings: Settings
    token: str  # the `operator` token

    def cycles(self, host: str, name: str, when: datetime | None = None, **world: Any) -> str:
        """Two looks at `host` with container `name` exited, two plan cycles: the pending action's id."""
        start = when or datetime.now(UTC) - timedelta(minutes=5)
        engine = Engine(self.settings)
        new: list[str] = []
        for n in range(2):
            at = start + timedelta(minutes=n)
            write_world(self.settings, host, [container(name, state="exited", **world)], observed_at=at)
            new = engine.plan(now=at + timedelta(seconds=5)).new_actions
        assert len(new) == 1, new
        return new[0]

    def expired_pending(self) -> str:
        """A pending action whose TTL (24 h) passed and that no cycle has moved to expired/ yet."""
        return self.cycles("vps", "caddy", when=datetime.now(UTC) - timedelta(days=2))

    def client(self, *allowed: str) -> TestClient:
        return TestClient(build_app(self.settings, allowed), base_url=ORIGIN, follow_redirects=False)

    def logged_in(self, token: str | None = None) -> TestClient:
        client = self.client()
        login(client, token or self.token)
        return client

    def folder_of(self, action_id: str) -> list[str]:
        root = self.settings.paths.actions
        return sorted(p.parent.name for p in root.glob(f"*/{action_id}.yml"))

    def events(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in Journal(self.settings.paths.journal).events() if e["type"] == type_]


def login(client: TestClient, token: str, next_: str = "/") -> Any:
    form = client.get("/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)
    assert nonce, form.text
    return client.post(
        "/login", data={"token": token, "nonce": nonce.group(1), "next": next_}, headers={"Origin": ORIGIN}
    )


def csrf_of(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found, f"no CSRF field on {path}"
    return found.group(1)


def decide(client: TestClient, action_id: str, verb: str, reason: str = "", **headers: str) -> Any:
    csrf = csrf_of(client, f"/actions/{action_id}")
    return client.post(
        f"/actions/{action_id}/{verb}",
        data={"csrf": csrf, "reason": reason},
        headers={"Origin": ORIGIN, **headers},
    )


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    hosts = {h: [service(n)] for h, n in (("piha", "mqtt"), ("saturn", "gitea"), ("vps", "caddy"))}
    settings = make_settings(tmp_path, hosts)
    return Desk(settings, Tokens(settings.paths).add("operator"))
