"""A stored diagnosis as lines for `steward show` (and a plain-text base for the web page and Telegram).

The stored text came from a model that read untrusted logs: every value goes through
inert.terminal, so it stays plain, one line per field, whatever it holds.
"""

from __future__ import annotations

from typing import Any

from steward.core.inert import terminal


def diagnosis_lines(doc: dict[str, Any] | None) -> list[str]:
    """`# diagnosis ...` comment lines; [] when there is no diagnosis."""
    if not doc:
        return []
    answer = doc.get("answer")
    if doc.get("status") != "ok" or not isinstance(answer, dict):
        return [f"# {terminal(doc.get('text') or 'diagnosis unavailable: ' + str(doc.get('reason')))}"]
    lines = [
        f"# diagnosis by {terminal(doc.get('model'))} at {terminal(doc.get('at'))} "
        "(a model's reading of the evidence: it cannot act on this action)",
        f"#   summary      : {terminal(answer.get('summary', ''))}",
        f"#   likely cause : {terminal(answer.get('likely_cause', ''))}",
        f"#   confidence   : {terminal(answer.get('confidence', ''))}"
        f"    fix fits: {terminal(answer.get('fix_fits', ''))}",
    ]
    checks = answer.get("checks_before_approving") or []
    if checks:
        lines.append("#   check before approving:")
        lines += [f"#     - {terminal(check)}" for check in checks]
    lines.append(f"#   why          : {terminal(answer.get('why', ''))}")
    return lines
