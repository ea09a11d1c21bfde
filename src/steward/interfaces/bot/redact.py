"""The bot token never reaches a log line, a traceback or the terminal.

PTB and httpx log request URLs, and every Bot API URL holds the token (``/bot<TOKEN>/method``);
PTB's InvalidToken message quotes it. While the bot runs, every log record made in the process
passes through `hide_token`: its message, arguments, traceback and stack text have the token
replaced by ``***`` before any handler (present or added later) sees it. Messages the bot prints
itself go through `redact`. httpx's and httpcore's per-request lines are also lowered to WARNING
unless a level was set for them on purpose.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from steward.core.inert import redact_text

NOISY = ("httpx", "httpcore")  # one INFO line per request (each long poll)
MASK = "***"


def redact(text: object, token: str) -> str:
    return redact_text(str(text), [token])


def _scrub(record: logging.LogRecord, token: str) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a record whose arguments do not format: leave it to logging's own error path
        message = str(record.msg)
    if token in message:
        record.msg, record.args = message.replace(token, MASK), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text and token in record.exc_text:
        record.exc_text = record.exc_text.replace(token, MASK)
    if record.stack_info and token in record.stack_info:
        record.stack_info = record.stack_info.replace(token, MASK)


@contextmanager
def hide_token(token: str) -> Iterator[None]:
    """While inside: every log record of the process is made with the token masked."""
    previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _scrub(record, token)
        return record

    lowered = [name for name in NOISY if logging.getLogger(name).level == logging.NOTSET]
    for name in lowered:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.setLogRecordFactory(factory)
    try:
        yield
    finally:
        if logging.getLogRecordFactory() is factory:
            logging.setLogRecordFactory(previous)
        for name in lowered:
            logging.getLogger(name).setLevel(logging.NOTSET)
