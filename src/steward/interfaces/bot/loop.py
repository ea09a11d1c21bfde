"""How `steward bot` runs: long polling (getUpdates) beside a journal pass every few seconds.

PTB's `Bot` is the client; the loop is ours, so one pass (`once`) is a test's step and the
journal is read while a long poll waits. Both loops take the desk's lock for each change, so a
press and a journal event are never handled at the same time. A network error, a Bot API
conflict (another poller, a webhook) or a flood wait backs off (1 s doubling to 60 s) and is
logged without the token; a refused token ends the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from telegram.error import InvalidToken, RetryAfter, TelegramError

from steward.interfaces.bot.desk import Desk
from steward.interfaces.bot.updates import handle

log = logging.getLogger("steward.bot")
UPDATES = ["message", "callback_query"]
MAX_BACKOFF = 60.0


class Backoff:
    def __init__(self, first: float = 1.0, cap: float = MAX_BACKOFF) -> None:
        self.first, self.cap, self.delay = first, cap, first

    def reset(self) -> None:
        self.delay = self.first

    def next(self, exc: BaseException) -> float:
        if isinstance(exc, RetryAfter):
            after = exc.retry_after
            return float(after if isinstance(after, int | float) else after.total_seconds())
        wait, self.delay = self.delay, min(self.delay * 2, self.cap)
        return wait


async def poll(desk: Desk, timeout: float) -> int:
    """One getUpdates (waiting up to `timeout` s for one) and each update handled; how many."""
    updates = await desk.bot.get_updates(offset=desk.map.update_offset, timeout=int(timeout), allowed_updates=UPDATES)
    async with desk.lock:
        for update in updates:
            try:
                await handle(desk, update)
            except TelegramError:
                raise  # network, flood wait: the update comes again after the back-off
            except Exception:  # a bug on one update must not stop every later one
                log.exception("update %d could not be handled; skipped", update.update_id)
            desk.map.update_offset = update.update_id + 1
            desk.save()
    return len(updates)


async def _forever(what: str, step: Callable[[], Awaitable[object]], pause: float, stop: asyncio.Event) -> None:
    backoff = Backoff()
    while not stop.is_set():
        try:
            await step()
            backoff.reset()
            wait = pause
        except InvalidToken:
            raise
        except (TelegramError, OSError) as exc:
            wait = backoff.next(exc)
            log.warning("%s: %s: %s; again in %.0f s", what, type(exc).__name__, exc, wait)
        if wait:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)


async def start(desk: Desk, retry: bool, stop: asyncio.Event) -> bool:
    """getMe (the token checked), then the map loaded; network errors retried when `retry`."""
    backoff = Backoff()
    while True:
        try:
            await desk.bot.initialize()
            await desk.start()
            return True
        except InvalidToken:
            raise
        except (TelegramError, OSError) as exc:
            if not retry:
                raise
            wait = backoff.next(exc)
            log.warning("start: %s: %s; again in %.0f s", type(exc).__name__, exc, wait)
            try:
                await asyncio.wait_for(stop.wait(), wait)
                return False
            except TimeoutError:
                continue


async def run(desk: Desk, *, once: bool, poll_timeout: float, interval: float, stop: asyncio.Event) -> None:
    try:
        if not await start(desk, retry=not once, stop=stop):
            return
        if once:
            await desk.journal_pass()
            await poll(desk, 0)
            await desk.journal_pass()
            return
        loops = [
            asyncio.create_task(_forever("getUpdates", lambda: poll(desk, poll_timeout), 0, stop)),
            asyncio.create_task(_forever("journal", desk.journal_pass, interval, stop)),
        ]
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*loops, stopping], return_when=asyncio.FIRST_COMPLETED)
        async with desk.lock:  # a press being handled is finished (and saved) before the loops stop
            for task in (*loops, stopping):
                task.cancel()
        await asyncio.gather(*loops, stopping, return_exceptions=True)
        for task in done:
            failure = None if task is stopping or task.cancelled() else task.exception()
            if failure is not None:
                raise failure
    finally:
        await desk.bot.shutdown()
