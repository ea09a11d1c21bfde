"""Publish playbook events (start, failed/unreachable/changed results, recap) to the Steward stream."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import secrets
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: events
type: notification
short_description: Publish playbook events to the Steward event stream
description:
  - Publishes C(playbook_started), C(host_failed), C(host_unreachable), C(host_changed) and
    C(playbook_finished) (the per-host recap) for any playbook run.
  - When the C(steward) package is importable the events go through its journal, Redis stream
    and outbox (C(steward.app.events.playbook_journal)). Otherwise they are sent with a direct
    Redis XADD with a short timeout; Redis being down never fails or slows the playbook (one warning).
  - Never publishes task arguments or module results; only C(msg) (truncated, control characters
    escaped), and nothing at all from results with C(no_log).
  - Every XADD trims with C(MAXLEN ~ 100000), Steward's one stream-length policy for every producer.
  - Redis must authenticate its clients. A URL without a password, or a server that answers a client
    that did not authenticate, is refused (one warning, nothing sent) unless
    C(STEWARD_REDIS_ALLOW_UNAUTHENTICATED) is set and the URL is loopback or C(unix://).
    The password never appears in a warning (C(***)).
requirements:
  - redis (python library) when the steward package is not installed
options:
  redis_url:
    description: Redis URL of the event stream; events are only sent to Redis when set.
    type: str
    env:
      - name: STEWARD_REDIS_URL
    ini:
      - section: callback_steward_events
        key: redis_url
  stream:
    description: Name of the Redis stream.
    type: str
    default: steward:events
    env:
      - name: STEWARD_REDIS_STREAM
    ini:
      - section: callback_steward_events
        key: stream
  journal:
    description:
      - Path of C(journal.jsonl). Defaults to C(STEWARD_STATE_DIR/journal.jsonl) when
        C(STEWARD_STATE_DIR) is set; without either, nothing is journaled.
    type: path
    env:
      - name: STEWARD_JOURNAL
    ini:
      - section: callback_steward_events
        key: journal
"""

MSG_LIMIT = 300
TIMEOUT = 0.5
MAXLEN = 100_000  # steward.events.DEFAULT_MAXLEN: one stream-length policy for every producer
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u0085\ufeff]")


def inert(text: str) -> str:
    """One printable line: control characters as visible escapes (steward.core.inert.terminal's rule)."""
    return _CONTROL.sub(
        lambda m: f"\\x{ord(m.group(0)):02x}" if ord(m.group(0)) <= 0xFF else f"\\u{ord(m.group(0)):04x}", text
    )


def redact_url(url: str) -> str:
    """The URL with its password (userinfo or ?password=) replaced by `***`, read as plain text:
    a password with an unescaped `/`, `?` or `#` (urlsplit would cut the URL there) is hidden too."""
    text = str(url)
    found = re.match(r"(?s)^([A-Za-z][A-Za-z0-9+.-]*://)(.*)@(?=[^@]*$)", text)
    if found:
        userinfo = found.group(2)
        shown = userinfo.split(":", 1)[0] + ":***" if ":" in userinfo else userinfo
        if any(c in shown for c in "/?#"):
            shown = "***"
        text = found.group(1) + shown + "@" + text[found.end() :]
    return re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", text)


def url_secrets(url: str) -> list[str]:
    parts = urlsplit(url)
    found = re.search(r"(?i)(?:^|&)password=([^&#]*)", parts.query)
    values = {parts.password, unquote(parts.password or ""), found.group(1) if found else None}
    return [v for v in values if v]


def redact(text: str, url: str | None) -> str:
    for secret in url_secrets(url) if url else []:
        text = text.replace(secret, "***")
    return text


def refusal(url: str) -> str | None:
    """Why this Redis is not one to send to (no authentication), or None."""
    parts = urlsplit(url)
    local = parts.scheme == "unix" or parts.hostname == "localhost"
    with contextlib.suppress(ValueError):
        local = local or ipaddress.ip_address(parts.hostname or "").is_loopback
    allow = os.environ.get("STEWARD_REDIS_ALLOW_UNAUTHENTICATED", "").strip().lower() in ("1", "true", "yes", "on")
    if allow:
        return None if local else "STEWARD_REDIS_ALLOW_UNAUTHENTICATED is only accepted for a loopback Redis"
    if not url_secrets(url):
        return f"{redact_url(url)} has no password: Redis must authenticate its clients"
    try:
        if parts.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(TIMEOUT)
            sock.connect(parts.path)
        else:
            sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=TIMEOUT)
        with sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(64).startswith(b"+PONG"):
                return f"Redis at {redact_url(url)} answers clients that did not authenticate"
    except OSError:
        return None  # unreachable: the XADD reports it
    return None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_id() -> str:
    return f"{time.time_ns():016x}-{secrets.token_hex(6)}"


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "homelab.steward.events"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display: Any = None) -> None:
        super().__init__(display=display)
        self.redis_url: str | None = None
        self.stream = "steward:events"
        self.journal_path: Path | None = None
        self._journal: Any = None
        self._redis: Any = None
        self._down = False
        self._playbook = ""
        self._play = ""

    def set_options(self, task_keys: Any = None, var_options: Any = None, direct: Any = None) -> None:
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        self.redis_url = (self.get_option("redis_url") or "").strip() or None
        self.stream = self.get_option("stream") or "steward:events"
        journal = self.get_option("journal")
        if not journal and os.environ.get("STEWARD_STATE_DIR"):
            journal = os.path.join(os.environ["STEWARD_STATE_DIR"], "journal.jsonl")
        self.journal_path = Path(journal) if journal else None
        self._setup()

    def _setup(self) -> None:
        if self.journal_path is None:
            return
        try:
            from steward.app.events import playbook_journal
        except ImportError:
            return  # no steward package here: events go out with a direct XADD (redis_url)
        self._journal = playbook_journal(self.journal_path, self.redis_url, self.stream)

    # -- delivery -------------------------------------------------------------------------
    def _emit(self, type_: str, **fields: Any) -> None:
        fields = {"playbook": self._playbook, "play": self._play, "host": None, "task": None, **fields}
        try:
            if self._journal is not None:
                self._journal.append(type_, **fields)
                return
            if self.redis_url:
                self._xadd({"id": _new_id(), "type": type_, "at": _now(), **fields})
        except Exception as exc:
            self._warn_once(f"steward events: {redact(str(exc), self.redis_url)}")

    def _xadd(self, event: dict[str, Any]) -> None:
        if self._down:
            return
        try:
            if self._redis is None:
                why = refusal(self.redis_url or "")
                if why:
                    self._down = True
                    self._warn_once(f"steward events: refusing to publish: {why}")
                    return
                import redis

                self._redis = redis.Redis.from_url(
                    self.redis_url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT
                )
            fields = {"id": event["id"], "type": event["type"], "event": json.dumps(event, sort_keys=True, default=str)}
            self._redis.xadd(self.stream, fields, maxlen=MAXLEN, approximate=True)
        except Exception as exc:
            self._down = True
            self._warn_once(
                f"steward events: Redis at {redact_url(self.redis_url or '')} unavailable, events not published "
                f"({redact(str(exc), self.redis_url)})"
            )

    def _warn_once(self, msg: str) -> None:
        if not getattr(self, "_warned", False):
            self._warned = True
            self._display.warning(msg)

    # -- callbacks ------------------------------------------------------------------------
    def v2_playbook_on_start(self, playbook: Any) -> None:
        self._playbook = os.path.basename(getattr(playbook, "_file_name", "") or "")

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._play = play.get_name().strip()
        self._emit("playbook_started")

    def _result(self, type_: str, result: Any) -> None:
        host = result._host.get_name()
        task = result._task.get_name().strip()
        fields: dict[str, Any] = {"host": host, "task": task}
        res = result._result if isinstance(result._result, dict) else {}
        if not (result._task.no_log or res.get("_ansible_no_log")):
            msg = res.get("msg")
            if msg:
                fields["msg"] = inert(str(msg)[:MSG_LIMIT])
        self._emit(type_, **fields)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._result("host_failed", result)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._result("host_unreachable", result)

    def v2_runner_on_ok(self, result: Any) -> None:
        if result._result.get("changed"):
            self._result("host_changed", result)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        recap = {}
        for host in sorted(stats.processed):
            s = stats.summarize(host)
            recap[host] = {k: s.get(k, 0) for k in ("ok", "changed", "failures", "unreachable")}
            recap[host]["failed"] = recap[host].pop("failures")
        self._emit("playbook_finished", recap=recap)
        if self._journal is not None:
            try:
                self._journal.flush()
            except Exception as exc:
                self._warn_once(f"steward events: {redact(str(exc), self.redis_url)}")
