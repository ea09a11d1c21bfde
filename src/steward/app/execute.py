"""Use case: run approved actions (`steward execute --once | --watch`).

The executor claims each file in approved/, refuses what it must not run, runs the rest and
verifies them (steward.execute.executor); this is only how an interface starts it.
"""

from __future__ import annotations

from steward.execute.executor import Executor, PassReport
from steward.state.settings import Settings

__all__ = ["PassReport", "pass_failed", "run_once", "watch"]


def run_once(settings: Settings) -> PassReport:
    """One pass over approved/ (after recovering what an earlier executor left in running/)."""
    return Executor(settings).run_once()


def watch(settings: Settings, interval: float) -> None:
    """Pass after pass, `interval` seconds apart, until interrupted (KeyboardInterrupt)."""
    Executor(settings).watch(interval)


def pass_failed(report: PassReport) -> bool:
    """A pass fails when an action failed or the pass itself was skipped (unusable inventory or world)."""
    return bool(report.failed or report.skipped_reason)
