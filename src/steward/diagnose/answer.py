"""The answer a diagnosis is: its JSON schema (sent as Ollama's `format`) and its validation.

An answer is text for a human, nothing more: six fields of bounded strings. Whatever the model
writes - "approve this", other tasks, a shell command - stays a string on the page.

Validation: the reply must be one JSON object holding every field, each a string (a list of
strings for `checks_before_approving`), the two enums among their values. Anything else is
"not JSON of the schema" and the diagnosis is unavailable. Over-long text is cut (with an
ellipsis) rather than refused, and fields beyond the schema are dropped; control characters
are removed, so the stored text is plain whatever the model emits.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

CONFIDENCE = ("low", "medium", "high")
FIX_FITS = ("yes", "no", "unsure")
LIMITS = {"summary": 400, "likely_cause": 800, "why": 1000, "check": 300}
MAX_CHECKS = 8
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string", "maxLength": LIMITS["summary"]},
        "likely_cause": {"type": "string", "maxLength": LIMITS["likely_cause"]},
        "confidence": {"type": "string", "enum": list(CONFIDENCE)},
        "checks_before_approving": {
            "type": "array",
            "items": {"type": "string", "maxLength": LIMITS["check"]},
            "maxItems": MAX_CHECKS,
        },
        "fix_fits": {"type": "string", "enum": list(FIX_FITS)},
        "why": {"type": "string", "maxLength": LIMITS["why"]},
    },
    "required": ["summary", "likely_cause", "confidence", "checks_before_approving", "fix_fits", "why"],
    "additionalProperties": False,
}


class AnswerInvalid(ValueError):
    """The model's reply is not JSON of the schema; the message says how."""


@dataclass(frozen=True)
class Answer:
    summary: str
    likely_cause: str
    confidence: str
    checks_before_approving: tuple[str, ...]
    fix_fits: str
    why: str

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["checks_before_approving"] = list(self.checks_before_approving)
        return out


def _plain(text: str, limit: int) -> str:
    text = _CONTROL.sub("", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def _string(doc: dict[str, Any], name: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str):
        raise AnswerInvalid(f"{name} is {'missing' if name not in doc else type(value).__name__}, not a string")
    return value


def parse_answer(content: str) -> Answer:
    """The model's reply as an Answer, or AnswerInvalid."""
    try:
        doc = json.loads(content)
    except ValueError as exc:
        raise AnswerInvalid(f"not JSON ({exc.__class__.__name__}: {str(exc)[:80]})") from None
    if not isinstance(doc, dict):
        raise AnswerInvalid(f"a JSON {type(doc).__name__}, not an object")
    strings = {name: _string(doc, name) for name in ("summary", "likely_cause", "confidence", "fix_fits", "why")}
    for name, allowed in (("confidence", CONFIDENCE), ("fix_fits", FIX_FITS)):
        if strings[name].strip().lower() not in allowed:
            raise AnswerInvalid(f"{name} is {strings[name][:40]!r}, not one of {', '.join(allowed)}")
    checks = doc.get("checks_before_approving")
    if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
        raise AnswerInvalid("checks_before_approving is not a list of strings")
    if not strings["summary"].strip():
        raise AnswerInvalid("summary is empty")
    return Answer(
        summary=_plain(strings["summary"], LIMITS["summary"]),
        likely_cause=_plain(strings["likely_cause"], LIMITS["likely_cause"]),
        confidence=strings["confidence"].strip().lower(),
        checks_before_approving=tuple(_plain(c, LIMITS["check"]) for c in checks[:MAX_CHECKS] if c.strip()),
        fix_fits=strings["fix_fits"].strip().lower(),
        why=_plain(strings["why"], LIMITS["why"]),
    )
