"""Whether and how to ask for a diagnosis: the `steward_diagnosis` group var, or the environment.

    steward_diagnosis:            # group var (all:); the mapping itself switches it on
      url: http://127.0.0.1:11434 # the Ollama server (http or https)
      model: llama3.2             # required when on
      timeout: 30                 # seconds for the whole answer (1..600)
      enabled: true               # default true when the mapping is given; false switches it off
      log_lines: 50               # a container's last log lines sent (1..500)
      redact: ['customer-\\d+']   # extra regular expressions removed before sending

`STEWARD_OLLAMA_URL` / `STEWARD_OLLAMA_MODEL` win over the group var (as `STEWARD_STATE_DIR`
wins over `steward_state_dir`); a URL from the environment switches diagnosis on unless the
group var says `enabled: false`. Nothing configured: off. A malformed value is a ConfigError
naming the variable (exit 2), never a silently ignored setting.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from steward.desired.cached import PersistedDesired, load_desired_cached
from steward.state.folder import ConfigError
from steward.state.settings import Settings

VAR = "steward_diagnosis"
ENV_URL = "STEWARD_OLLAMA_URL"
ENV_MODEL = "STEWARD_OLLAMA_MODEL"
DEFAULT_URL = "http://127.0.0.1:11434"
DEFAULT_TIMEOUT = 30.0
MAX_TIMEOUT = 600.0
DEFAULT_LOG_LINES = 50
MAX_LOG_LINES = 500
KEYS = {"url", "model", "timeout", "enabled", "log_lines", "redact"}
MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$")


class DiagnosisConfigError(ConfigError):
    """steward_diagnosis or STEWARD_OLLAMA_* holds a value Steward cannot use; the message names it."""


@dataclass(frozen=True)
class DiagnosisConfig:
    enabled: bool = False
    url: str = DEFAULT_URL
    model: str = ""
    timeout: float = DEFAULT_TIMEOUT
    log_lines: int = DEFAULT_LOG_LINES
    redact: tuple[str, ...] = ()


def _url(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DiagnosisConfigError(f"{where} must be the Ollama server's URL (http://host:11434), got {value!r}")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise DiagnosisConfigError(f"{where} must be an http:// or https:// URL without query, got {value!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise DiagnosisConfigError(f"{where} has a port that is not a number: {value!r}") from None
    return value.strip().rstrip("/")


def _model(value: Any, where: str) -> str:
    if not isinstance(value, str) or not MODEL_RE.fullmatch(value):
        raise DiagnosisConfigError(f"{where} must be an Ollama model name such as llama3.2:3b, got {value!r}")
    return value


def _number(value: Any, where: str, low: float, high: float, whole: bool = False) -> float:
    number = isinstance(value, int | float) and not isinstance(value, bool) and (isinstance(value, int) or not whole)
    if not number or not low <= value <= high:
        what = "a whole number" if whole else "a number of seconds"
        raise DiagnosisConfigError(f"{where} must be {what} from {low:g} to {high:g}, got {value!r}")
    return float(value)


def _patterns(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise DiagnosisConfigError(f"{VAR}.redact must be a list of regular expressions, got {value!r}")
    for i, pattern in enumerate(value):
        if not isinstance(pattern, str) or not pattern:
            raise DiagnosisConfigError(f"{VAR}.redact[{i}] must be a non-empty string, got {pattern!r}")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise DiagnosisConfigError(f"{VAR}.redact[{i}] is not a regular expression ({exc}): {pattern!r}") from None
    return tuple(value)


def parse_config(value: Any, environ: Mapping[str, str]) -> DiagnosisConfig:
    """The configuration from the group var's value (None when unset) and the environment."""
    if value is not None and not isinstance(value, dict):
        raise DiagnosisConfigError(f"{VAR} must be a mapping {{url, model, timeout, enabled}}, got {value!r}")
    var: dict[str, Any] = value or {}
    unknown = sorted(set(map(str, var)) - KEYS)
    if unknown:
        raise DiagnosisConfigError(f"{VAR} has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(KEYS))}")
    enabled = var.get("enabled", value is not None)
    if not isinstance(enabled, bool):
        raise DiagnosisConfigError(f"{VAR}.enabled must be true or false, got {enabled!r}")
    env_url, env_model = environ.get(ENV_URL, "").strip(), environ.get(ENV_MODEL, "").strip()
    if env_url and var.get("enabled") is not False:
        enabled = True
    url = _url(env_url, ENV_URL) if env_url else _url(var.get("url", DEFAULT_URL), f"{VAR}.url")
    model = env_model or var.get("model")
    if model is not None or enabled:
        where = ENV_MODEL if env_model else f"{VAR}.model"
        if model is None:
            raise DiagnosisConfigError(f"diagnosis is on but no model is named: set {VAR}.model or {ENV_MODEL}")
        model = _model(model, where)
    timeout = float(_number(var.get("timeout", DEFAULT_TIMEOUT), f"{VAR}.timeout", 1, MAX_TIMEOUT))
    lines = int(_number(var.get("log_lines", DEFAULT_LOG_LINES), f"{VAR}.log_lines", 1, MAX_LOG_LINES, whole=True))
    redact = _patterns(var.get("redact", []))
    return DiagnosisConfig(enabled, url, model or "", timeout, lines, redact)


def load_config(settings: Settings, environ: Mapping[str, str] | None = None) -> DiagnosisConfig:
    """The configuration for this state folder's inventory (DesiredStateError when it cannot be read)."""
    globals_ = load_desired_cached(settings.inventory, PersistedDesired(settings.paths)).globals
    if globals_.get(VAR + "!error"):
        raise DiagnosisConfigError(f"{VAR} {globals_[VAR + '!error']}")
    value = globals_.get(VAR)
    return parse_config(value, os.environ if environ is None else environ)
