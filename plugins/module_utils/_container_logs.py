# Copyright: Steward maintainers
# MIT License (see galaxy.yml)
"""One container's exit state and its last log lines, read-only, for a diagnosis.

Private to homelab.steward. Runs on the node, so it uses the standard library only (through
:mod:`._docker_api`, the collection's read-only Engine API client on a unix socket): one
``GET /containers/<name>/json`` and one ``GET /containers/<id>/logs?tail=N``, nothing else.

The values of the container's environment (``Config.Env``) are scrubbed from the log lines
here, on the node, before anything leaves it: a value echoed by the program becomes
``[env:NAME]``. Only the names of the variables are returned. Values too short or too plain to
be secrets (under 4 characters, digits only, true/false/yes/no...) and a few standard variables
(PATH, HOME, HOSTNAME...) are left alone, so the lines stay readable.

:func:`collect` never raises for what it observes: an engine that cannot be asked or a
container that does not exist is reported in ``status``; a log driver that cannot be read
(``none``, some remote drivers) in ``logs_error`` with ``lines: null``. Only options the look
cannot use raise, as :class:`InvalidLogOptions` (a ``ValueError``).

Result::

    {"status": "ok" | "not_found" | "engine_unreachable" | "permission_denied" | "api_error",
     "error": None | str, "docker_host": str, "name": str,
     "state": str | None, "exit_code": int | None, "oom_killed": bool | None,
     "engine_error": str | None, "restart_count": int | None, "started_at": str | None,
     "finished_at": str | None, "image": str | None, "health": str | None,
     "env_names": [str] | None, "env_values_scrubbed": int,
     "lines": [{"at": str | None, "stream": "stdout" | "stderr", "text": str}] | None,
     "logs_error": None | str, "truncated": bool}
"""

from __future__ import annotations

import re
from urllib.parse import quote

from ansible_collections.homelab.steward.plugins.module_utils._docker_api import (
    DEFAULT_DOCKER_HOST,
    DEFAULT_TIMEOUT,
    ApiError,
    DockerClient,
    DockerError,
    InvalidDockerHost,
    _translate_os_error,
    socket_path_from_host,
)

DEFAULT_LINES = 50
MAX_LINES = 500
DEFAULT_LINE_LENGTH = 500
MAX_LOG_BYTES = 4 * 1024 * 1024  # a tail of chatty lines is read up to this much, then cut (truncated: true)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ZERO_TIME = "0001-01-01T00:00:00Z"
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$")
# standard variables whose values are paths or names, never secrets: scrubbing them would only garble lines
_PLAIN_ENV = {"PATH", "HOME", "HOSTNAME", "TERM", "LANG", "LANGUAGE", "PWD", "SHLVL", "TZ", "USER", "SHELL"}
_PLAIN_VALUES = {"true", "false", "yes", "no", "on", "off", "null", "none", "nil"}

OPTIONS_SPEC = dict(
    name=dict(type="str", required=True),
    docker_host=dict(type="str", default=DEFAULT_DOCKER_HOST),
    timeout=dict(type="int", default=DEFAULT_TIMEOUT),
    lines=dict(type="int", default=DEFAULT_LINES),
    max_line_length=dict(type="int", default=DEFAULT_LINE_LENGTH),
)


class InvalidLogOptions(ValueError):
    """Options the look cannot use (not something observed on the node)."""


def validate(name: str, docker_host: str, timeout: float, lines: int, max_line_length: int) -> None:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidLogOptions(f"name must be a container name, got {name!r}")
    try:
        socket_path_from_host(docker_host)
    except InvalidDockerHost as exc:
        raise InvalidLogOptions(str(exc)) from exc
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise InvalidLogOptions(f"timeout must be a positive number of seconds, got {timeout!r}")
    if isinstance(lines, bool) or not isinstance(lines, int) or not 1 <= lines <= MAX_LINES:
        raise InvalidLogOptions(f"lines must be a whole number from 1 to {MAX_LINES}, got {lines!r}")
    if isinstance(max_line_length, bool) or not isinstance(max_line_length, int) or max_line_length < 20:
        raise InvalidLogOptions(f"max_line_length must be a whole number of at least 20, got {max_line_length!r}")


class _LogsClient(DockerClient):
    """The collection's client plus one raw GET: a log stream is bytes, not JSON."""

    def get_bytes(self, path: str, limit: int) -> tuple[int, str, bytes, bool]:
        """(http_status, content type, at most `limit` bytes of the body, whether it was cut)."""
        try:
            self._conn.request("GET", path)
            response = self._conn.getresponse()
            body = response.read(limit + 1)
        except OSError as exc:
            raise _translate_os_error(exc, self.socket_path) from exc
        finally:
            self._conn.close()  # a cut body leaves the connection unusable: never reuse it
        return response.status, response.getheader("Content-Type") or "", body[:limit], len(body) > limit


def _scrubber(env: object) -> tuple[list[str], list[tuple[str, str]]]:
    """The env names, and (value, replacement) pairs, longest value first."""
    names: list[str] = []
    pairs: list[tuple[str, str]] = []
    for item in env if isinstance(env, list) else []:
        if not isinstance(item, str):
            continue
        name, _, value = item.partition("=")
        names.append(name)
        plain = len(value) < 4 or value.isdigit() or value.lower() in _PLAIN_VALUES
        if not plain and name not in _PLAIN_ENV and not name.startswith("LC_"):
            pairs.append((value, f"[env:{name}]"))
    pairs.sort(key=lambda p: len(p[0]), reverse=True)
    return names, pairs


def _frames(body: bytes) -> list[tuple[str, bytes]]:
    """Docker's multiplexed stream: 8-byte headers (stream, 0, 0, 0, big-endian size), then the payload."""
    out: list[tuple[str, bytes]] = []
    pos = 0
    while pos + 8 <= len(body):
        stream, size = body[pos], int.from_bytes(body[pos + 4 : pos + 8], "big")
        payload = body[pos + 8 : pos + 8 + size]
        if len(payload) < size:
            break  # cut by the byte limit: the last frame is incomplete
        out.append(("stderr" if stream == 2 else "stdout", payload))
        pos += 8 + size
    return out


def _split_lines(chunks: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
    """(stream, line) in order; a line split over frames is joined per stream."""
    pending: dict[str, str] = {}
    lines: list[tuple[str, str]] = []
    for stream, payload in chunks:
        text = pending.pop(stream, "") + payload.decode("utf-8", errors="replace")
        *complete, rest = text.split("\n")
        lines.extend((stream, line.rstrip("\r")) for line in complete)
        if rest:
            pending[stream] = rest
    lines.extend((stream, rest) for stream, rest in pending.items())
    return lines


def _scrub(text: str, pairs: list[tuple[str, str]], max_len: int) -> tuple[str, int]:
    """`text` with every env value replaced by its [env:NAME], then cut to `max_len` characters."""
    scrubbed = 0
    for value, replacement in pairs:
        if value in text:
            scrubbed += text.count(value)
            text = text.replace(value, replacement)
    if len(text) > max_len:
        text = text[: max_len - 1] + "\u2026"
    return text, scrubbed


def _line(stream: str, raw: str, pairs: list[tuple[str, str]], max_len: int) -> tuple[dict, int]:
    at, sep, text = raw.partition(" ")
    if not (sep and _TIMESTAMP.match(at)):
        at, text = None, raw
    text, scrubbed = _scrub(text, pairs, max_len)
    return {"at": at, "stream": stream, "text": text}, scrubbed


def _state(inspect: dict) -> dict:
    state = inspect.get("State") or {}
    health = state.get("Health")
    times = {k: state.get(k) or None for k in ("StartedAt", "FinishedAt")}
    return {
        "state": state.get("Status"),
        "exit_code": state.get("ExitCode"),
        "oom_killed": state.get("OOMKilled"),
        "engine_error": state.get("Error") or None,
        "restart_count": inspect.get("RestartCount"),
        "started_at": None if times["StartedAt"] == _ZERO_TIME else times["StartedAt"],
        "finished_at": None if times["FinishedAt"] == _ZERO_TIME else times["FinishedAt"],
        "image": (inspect.get("Config") or {}).get("Image"),
        "health": health.get("Status") if isinstance(health, dict) else None,
    }


def _empty(name: str, docker_host: str, status: str, error: str | None) -> dict:
    keys = ("state", "exit_code", "oom_killed", "engine_error", "restart_count", "started_at", "finished_at")
    return {
        "status": status,
        "error": error,
        "docker_host": docker_host,
        "name": name,
        **dict.fromkeys(keys),
        "image": None,
        "health": None,
        "env_names": None,
        "env_values_scrubbed": 0,
        "lines": None,
        "logs_error": None,
        "truncated": False,
    }


def collect(
    name: str,
    docker_host: str = DEFAULT_DOCKER_HOST,
    timeout: float = DEFAULT_TIMEOUT,
    lines: int = DEFAULT_LINES,
    max_line_length: int = DEFAULT_LINE_LENGTH,
) -> dict:
    """Inspect container `name` and read its last `lines` log lines (see the module docstring)."""
    validate(name, docker_host, timeout, lines, max_line_length)
    try:
        with _LogsClient(docker_host, timeout) as client:
            path = f"/containers/{quote(name, safe='')}/json"
            status, inspect = client.get_json(path)
            if status == 404:
                return _empty(name, docker_host, "not_found", f"no container named {name} on this engine")
            if not 200 <= status < 300 or not isinstance(inspect, dict):
                raise ApiError(f"Docker engine answered GET {path} with HTTP {status}", http_status=status)
            result = {**_empty(name, docker_host, "ok", None), **_state(inspect)}
            config = inspect.get("Config") or {}
            names, pairs = _scrubber(config.get("Env"))
            result["env_names"] = names
            if result["engine_error"]:
                result["engine_error"] = _scrub(str(result["engine_error"]), pairs, max_line_length)[0]
            logs = f"/containers/{quote(str(inspect.get('Id') or name), safe='')}/logs"
            query = f"?stdout=1&stderr=1&timestamps=1&tail={lines}"
            http_status, content_type, body, cut = client.get_bytes(logs + query, MAX_LOG_BYTES)
    except DockerError as exc:
        return _empty(name, docker_host, exc.status, str(exc))
    if not 200 <= http_status < 300:
        detail = body[:300].decode("utf-8", errors="replace").strip()
        result["logs_error"] = f"the engine could not give the logs (HTTP {http_status}): {detail}"
        return result
    # a TTY container's log is one raw stream; any other is multiplexed (API 1.42+ also says so in Content-Type)
    raw_stream = bool(config.get("Tty")) or "raw-stream" in content_type
    chunks = [("stdout", body)] if raw_stream else _frames(body)
    found = _split_lines(chunks)[-lines:]
    result["lines"] = []
    for stream, raw in found:
        entry, scrubbed = _line(stream, raw, pairs, max_line_length)
        result["lines"].append(entry)
        result["env_values_scrubbed"] += scrubbed
    result["truncated"] = cut
    return result
