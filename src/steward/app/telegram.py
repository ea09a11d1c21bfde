"""The bot's allow-lists from the inventory: `steward_telegram_chats` and `steward_telegram_users`.

Group vars of ``all:`` (lists of Telegram ids), read through the desired state like
``steward_state_dir``; the environment (``STEWARD_TELEGRAM_CHATS`` / ``STEWARD_TELEGRAM_USERS``)
wins over them. The bot validates the values (interfaces/bot/config.py); this only fetches them.
"""

from __future__ import annotations

from typing import Any

from steward.desired.cached import PersistedDesired, load_desired_cached
from steward.state.settings import Settings

CHATS_VAR = "steward_telegram_chats"
USERS_VAR = "steward_telegram_users"


def telegram_vars(settings: Settings) -> dict[str, Any]:
    """{var: value} for each of the two vars the inventory sets (DesiredStateError when it cannot be read)."""
    globals_ = load_desired_cached(settings.inventory, PersistedDesired(settings.paths)).globals
    return {name: globals_[name] for name in (CHATS_VAR, USERS_VAR) if name in globals_}
