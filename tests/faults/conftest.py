"""Fault-injection suite: every case injects a real fault and counts what survived.

Each test fills a `fault` record (what was injected, what survived, what was lost); the
terminal summary prints one line per case, and a case that lost anything fails.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "plugins"))

REPORT: list[str] = []


@dataclass
class FaultRecord:
    name: str
    injected: list[str] = field(default_factory=list)
    survived: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)

    def inject(self, what: str) -> None:
        self.injected.append(what)

    def check(self, ok: bool, what: str) -> None:
        (self.survived if ok else self.lost).append(what)
        assert ok, f"lost: {what}"


@pytest.fixture
def fault(request: pytest.FixtureRequest) -> FaultRecord:
    record = FaultRecord(request.node.name)
    yield record
    REPORT.append(
        f"{record.name}: injected {len(record.injected)} ({'; '.join(record.injected)}), "
        f"survived {len(record.survived)}, lost {len(record.lost)}"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.section("fault injection: what was injected and what survived")
        for line in REPORT:
            terminalreporter.write_line(line)
