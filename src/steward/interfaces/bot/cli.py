"""`steward bot`: the Telegram bot, one per state folder (docs/telegram.md).

Exit codes as the CLI's: 0 stopped (SIGTERM, Ctrl-C, or one pass done with --once), 1 the bot
could not run (token refused, state map unusable, another bot holds this state folder), 2 its
configuration is missing or malformed (the message names the variable).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from typing import TYPE_CHECKING

from steward.app.errors import ConfigError, DesiredStateError
from steward.app.settings import Settings
from steward.core.inert import terminal
from steward.interfaces.bot.config import BotConfig, load_config
from steward.interfaces.bot.redact import hide_token, redact
from steward.state.telegram import TelegramStateError, TelegramStore

if TYPE_CHECKING:
    from telegram import Bot

    from steward.interfaces.bot.desk import Desk

# python-telegram-bot and the desk are imported by `steward bot` itself, not by every `steward`
# command (a third of the CLI's start-up when they were imported at the top)
log = logging.getLogger("steward.bot")
OK, FAILURE, BAD_INPUT = 0, 1, 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("bot", help="the Telegram bot: pending actions to allowed chats, Approve / Reject buttons")
    s.add_argument("--once", action="store_true", help="one pass (journal, one getUpdates, journal), then exit")
    s.add_argument("--poll-timeout", type=float, default=25.0, help="seconds a long poll waits (default 25)")
    s.add_argument("--interval", type=float, default=2.0, help="seconds between journal passes (default 2)")


def make_bot(config: BotConfig) -> Bot:
    from telegram import Bot

    return Bot(config.token, base_url=config.base_url, base_file_url=config.base_file_url)


def _error(text: object, token: str = "") -> None:
    print(f"error: {terminal(redact(text, token) if token else text)}", file=sys.stderr)


def cmd_bot(settings: Settings, args: argparse.Namespace) -> int:
    from telegram.error import InvalidToken, TelegramError

    try:
        config = load_config(settings)
    except (ConfigError, DesiredStateError) as exc:
        _error(exc)
        return BAD_INPUT
    with hide_token(config.token):
        for warning in config.warnings:
            log.warning("%s", warning)
        try:
            return _serve(settings, config, args)
        except InvalidToken:
            _error("the Bot API refused the token (check STEWARD_TELEGRAM_TOKEN with BotFather)")
            return FAILURE
        except TelegramStateError as exc:
            _error(exc)
            return FAILURE
        except (TelegramError, OSError) as exc:
            _error(f"{type(exc).__name__}: {exc}", config.token)
            return FAILURE


def _serve(settings: Settings, config: BotConfig, args: argparse.Namespace) -> int:
    from steward.interfaces.bot.desk import Desk

    store = TelegramStore(settings.paths.ensure())
    with store.held() as mine:
        if not mine:
            _error(f"another steward bot uses this state folder ({store.lock} is held)")
            return FAILURE
        desk = Desk(settings, config, make_bot(config), store)
        asyncio.run(_main(desk, args))
    return OK


async def _main(desk: Desk, args: argparse.Namespace) -> None:
    from steward.interfaces.bot.loop import run

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await run(desk, once=args.once, poll_timeout=args.poll_timeout, interval=args.interval, stop=stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
