"""What never leaves for the model: secrets removed from everything a diagnosis sends.

Three layers, applied to every string of the request before it is serialised:

1. **Secret-named fields.** In any mapping, the value of a key named `env`, `environment` or
   `env_file`, or a key that names a secret (`password`, `passwd`, `secret`, `token`, `api_key`,
   `apikey`, `access_key`, `private_key`, `credential(s)`, `auth`), becomes `[REDACTED]`
   (a mapping's values each, its keys - the variable names - kept). Each value removed is also
   remembered and scrubbed wherever else it appears (a log line echoing it).
2. **Default patterns** (DEFAULT_PATTERNS): `NAME=value` / `NAME: value` where NAME names a secret
   (DB_PASSWORD=..., "api_key": "...", X-Auth-Token: ...); `Authorization:` headers and `Bearer` /
   `Basic` credentials; a URL's userinfo password; PEM private key blocks; AWS access key ids;
   JWTs; GitHub, GitLab, Slack and OpenAI-style tokens; hex runs of 32+ characters (not an image
   digest after `sha256:`); base64-like runs of 40+ characters with digits and a random-looking
   mix of upper and lower case (a quarter to three quarters of the letters upper case), so an
   action id, a path or an identifier stays.
3. **Configured patterns** (`steward_diagnosis.redact`): each match becomes `[REDACTED]`.

The container's own environment values are scrubbed on the node already (container_logs_info).
Redaction errs on removing too much: a diagnosis needs the shape of an error, not its secrets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "[REDACTED]"
_SECRET_WORD = r"(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?|auth)"
SECRET_KEY = re.compile(rf"(?i)^(?:env|environment|env_file|[\w.-]*{_SECRET_WORD}[\w.-]*)$")
_HEX_DIGEST = re.compile(r"(?i)(?:sha1|sha256|sha384|sha512):$")

# (pattern, replacement); a replacement keeps what tells a human *which* secret was there
DEFAULT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S), MASK),
    (re.compile(r"(?i)\b(authorization|proxy-authorization)(\"?\s*[:=]\s*\"?)[^\r\n\",}]+"), rf"\1\2{MASK}"),
    (re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=-]{8,}"), rf"\1\2{MASK}"),
    (re.compile(r"(?i)\b(basic|token)(\s+)(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{8,}"), rf"\1\2{MASK}"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@"), rf"\1{MASK}@"),
    (
        re.compile(rf"(?i)([\w.-]*{_SECRET_WORD}[\w.-]*\"?'?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&\"']+)"),
        rf"\1{MASK}",
    ),
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}\b"), MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"), MASK),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|glpat-[\w-]{20,}|xox[abprs]-[\w-]{10,})"), MASK),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"), MASK),
)
_LONG_HEX = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{32,}(?![0-9A-Za-z])")
_LONG_B64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{40,}={0,2}(?![A-Za-z0-9+/=_-])")


def _hex(match: re.Match[str]) -> str:
    before = match.string[max(0, match.start() - 8) : match.start()]
    return match.group(0) if _HEX_DIGEST.search(before) else MASK


def _b64(match: re.Match[str]) -> str:
    """A random key has digits and about as many upper- as lower-case letters; an id, a path or a word has not."""
    run = match.group(0)
    letters = [c for c in run if c.isalpha()]
    upper = sum(c.isupper() for c in letters) / len(letters) if letters else 0.0
    random_like = 0.25 <= upper <= 0.75 and any(c.isdigit() for c in run)
    return MASK if random_like and run.count("/") <= 2 else run


class Redactor:
    """Removes secrets from text and from nested request data (see the module docstring)."""

    def __init__(self, patterns: Iterable[str] = (), secrets: Iterable[str] = ()) -> None:
        self.patterns = [re.compile(p) for p in patterns]
        self.secrets: set[str] = {s for s in secrets if len(s) >= 4}

    def text(self, value: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            value = value.replace(secret, MASK)
        for pattern, replacement in DEFAULT_PATTERNS:
            value = pattern.sub(replacement, value)
        value = _LONG_HEX.sub(_hex, value)
        value = _LONG_B64.sub(_b64, value)
        for pattern in self.patterns:
            value = pattern.sub(MASK, value)
        return value

    def tree(self, value: Any) -> Any:
        """A copy of `value` with secret-named fields masked and every string redacted."""
        self._remember(value)
        return self._masked(value)

    def _remember(self, value: Any, secret: bool = False) -> None:
        """Collect the values of secret-named fields first: they are scrubbed from every other string."""
        if isinstance(value, dict):
            for k, v in value.items():
                self._remember(v, secret or bool(SECRET_KEY.match(str(k))))
        elif isinstance(value, list | tuple):
            for v in value:
                self._remember(v, secret)
        elif secret and isinstance(value, str | int | float) and not isinstance(value, bool):
            text = str(value)
            if len(text) >= 4:
                self.secrets.add(text)

    def _masked(self, value: Any, secret: bool = False) -> Any:
        if isinstance(value, dict):
            return {str(k): self._masked(v, secret or bool(SECRET_KEY.match(str(k)))) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._masked(v, secret) for v in value]
        if secret and value is not None and not isinstance(value, bool):
            return MASK
        if isinstance(value, str):
            return self.text(value)
        return value
