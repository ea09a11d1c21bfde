"""Render untrusted text inert: one rule for every place a node's or the stream's string is shown.

What a node reports (container names, images, error messages, summaries built from them) and
what arrives on the event stream is data. Wherever Steward shows it, it must stay one line of
plain text that cannot start a new YAML document, a new play, a terminal escape sequence or a
template:

* ``terminal(text)`` for the CLI (plan, list, show, status, events tail): control characters
  (C0, DEL, C1, and the Unicode line/paragraph separators) become visible escapes (``\\n``,
  ``\\x1b``, ``\\u2028``), so a string cannot move the cursor, clear the screen or fake a line;
* ``comment(text)`` for a ``#`` comment line of a playbook header: the same, so a comment stays
  one line and never ends, whatever the text holds;
* ``redact_url(url)`` for any Redis (or other) URL shown in a message or a log line: the
  password is replaced by ``***``.

HTML (the web page) relies on Jinja2's autoescape and Telegram on its own escaping; both start
from these rules (docs/architecture.md, "Untrusted data").
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, the Unicode separators terminals and YAML treat as line breaks,
# bidirectional overrides/isolates and zero-width characters (they make shown text lie about itself)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def terminal(value: object) -> str:
    """`value` as one printable line: every control character shown as an escape."""
    text = value if isinstance(value, str) else str(value)
    return _CONTROL.sub(_escape, text)


def comment(value: object) -> str:
    """Text safe inside one `#` comment line of a YAML file (never a second line)."""
    return terminal(value)


def redact_url(url: object) -> str:
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


def redact_text(text: str, secrets: list[str]) -> str:
    """`text` with each given secret replaced by `***` (for exception messages that embed a URL)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
