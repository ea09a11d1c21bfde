"""What `steward bot` needs to start: the token, who may decide, and where the Bot API is.

* ``STEWARD_TELEGRAM_TOKEN`` (the token BotFather gave) or ``STEWARD_TELEGRAM_TOKEN_FILE`` (a file
  holding it, read and stripped; keep it 0600). Exactly one of the two.
* ``STEWARD_TELEGRAM_CHATS`` and ``STEWARD_TELEGRAM_USERS``: comma-separated ids, or the inventory
  vars ``steward_telegram_chats`` / ``steward_telegram_users`` (lists of ids); the environment
  wins. Both lists are required: the chats the bot writes to and listens in, and the users whose
  button presses and replies count (a press is checked against the pressing user's id, not only
  the chat).
* ``STEWARD_TELEGRAM_API_URL`` (optional): the Bot API server's root, default
  https://api.telegram.org; a self-hosted telegram-bot-api server or a test server. ``http://``
  is accepted only to a loopback address: the token is part of every request's URL.

Anything missing or malformed is a BotConfigError (exit 2) naming the variable and, for an id,
the bad value; the token itself is never part of a message.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from steward.app.errors import ConfigError
from steward.app.settings import Settings
from steward.app.telegram import CHATS_VAR, USERS_VAR, telegram_vars
from steward.core.inert import terminal

ENV_TOKEN = "STEWARD_TELEGRAM_TOKEN"
ENV_TOKEN_FILE = "STEWARD_TELEGRAM_TOKEN_FILE"
ENV_CHATS = "STEWARD_TELEGRAM_CHATS"
ENV_USERS = "STEWARD_TELEGRAM_USERS"
ENV_API_URL = "STEWARD_TELEGRAM_API_URL"
DEFAULT_API_URL = "https://api.telegram.org"
TOKEN_RE = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$")  # BotFather's shape: bot id, colon, secret
ID_RE = re.compile(r"^-?[0-9]{1,20}$")


class BotConfigError(ConfigError):
    """The bot's configuration is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class BotConfig:
    token: str = field(repr=False)
    chats: frozenset[int]
    users: frozenset[int]
    api_url: str = DEFAULT_API_URL
    warnings: tuple[str, ...] = ()  # said once at start (a token file others can read)

    @property
    def base_url(self) -> str:
        """PTB's base_url: it appends the token, then /method."""
        return f"{self.api_url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.api_url}/file/bot"


def _token(environ: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    value, path = environ.get(ENV_TOKEN, "").strip(), environ.get(ENV_TOKEN_FILE, "").strip()
    if value and path:
        raise BotConfigError(f"set {ENV_TOKEN} or {ENV_TOKEN_FILE}, not both")
    warnings: tuple[str, ...] = ()
    if path:
        try:
            mode = os.stat(path).st_mode
            value = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise BotConfigError(f"{ENV_TOKEN_FILE}={terminal(path)}: cannot read the token file ({exc})") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings = (f"{ENV_TOKEN_FILE}={terminal(path)} can be read by others: chmod 600 it",)
        where = f"the file {ENV_TOKEN_FILE}={terminal(path)}"
    else:
        where = ENV_TOKEN
    if not value:
        raise BotConfigError(
            f"no Telegram bot token: set {ENV_TOKEN} or {ENV_TOKEN_FILE} (a file holding the token BotFather gave)"
        )
    if not TOKEN_RE.fullmatch(value):
        raise BotConfigError(f"{where} does not hold a bot token of BotFather's shape (digits:secret)")
    return value, warnings


def _ids(env_name: str, var: str, environ: Mapping[str, str], inventory: Mapping[str, Any]) -> frozenset[int]:
    raw = environ.get(env_name)
    what = "chat" if var == CHATS_VAR else "user"
    if raw is not None and raw.strip():
        ids = []
        for part in raw.split(","):
            item = part.strip()
            if not item:
                continue
            if not ID_RE.fullmatch(item):
                raise BotConfigError(
                    f"{env_name} must be comma-separated {what} ids (integers), got {terminal(item)!r}"
                )
            ids.append(int(item))
        where = env_name
    else:
        value = inventory.get(var)
        if value is not None and not isinstance(value, list):
            raise BotConfigError(f"{var} must be a list of {what} ids (integers), got {terminal(repr(value))}")
        ids = []
        for item in value or []:
            if isinstance(item, bool) or not isinstance(item, int):
                raise BotConfigError(f"{var} must be a list of {what} ids (integers), got {terminal(repr(item))}")
            ids.append(item)
        where = var
    if not ids:
        raise BotConfigError(
            f"no Telegram {what} is allowed: set {env_name} (comma-separated {what} ids) or the inventory var {var}"
        )
    if var == USERS_VAR and any(i <= 0 for i in ids):
        bad = next(i for i in ids if i <= 0)
        raise BotConfigError(f"{where}: a user id is a positive integer, got {bad}")
    return frozenset(ids)


def _api_url(environ: Mapping[str, str]) -> str:
    value = environ.get(ENV_API_URL, "").strip()
    if not value:
        return DEFAULT_API_URL
    parts = urlsplit(value)
    shown = terminal(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise BotConfigError(f"{ENV_API_URL} must be an https:// URL without query, got {shown!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise BotConfigError(f"{ENV_API_URL} has a port that is not a number: {shown!r}") from None
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise BotConfigError(
            f"{ENV_API_URL}={shown!r}: http:// only to a loopback address (the token is in every URL); use https://"
        )
    return value.rstrip("/")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_config(settings: Settings, environ: Mapping[str, str] | None = None) -> BotConfig:
    """The configuration from the environment, then the inventory's vars (read only when needed)."""
    env = os.environ if environ is None else environ
    token, warnings = _token(env)
    api_url = _api_url(env)
    need_inventory = not env.get(ENV_CHATS, "").strip() or not env.get(ENV_USERS, "").strip()
    inventory = telegram_vars(settings) if need_inventory else {}
    chats = _ids(ENV_CHATS, CHATS_VAR, env, inventory)
    users = _ids(ENV_USERS, USERS_VAR, env, inventory)
    return BotConfig(token=token, chats=chats, users=users, api_url=api_url, warnings=warnings)
