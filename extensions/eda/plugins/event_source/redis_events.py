"""homelab.steward.redis_events: Steward's events from a Redis stream, through a consumer group.

The stream is a trust boundary: anyone holding a credential that may XADD to it (every node
agent, a compromised node) can write any entry. So nothing leaves this source that was not
checked: only the documented fields of the documented types, bounded, without control
characters or template markers; the host one inventory hostname (it becomes ``--limit``); the
meta built here, never taken from the entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import json
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

DOCUMENTATION = r"""
---
short_description: Read Steward events from a Redis stream through a consumer group, validated
description:
  - Reads the Redis stream Steward writes its events to (C(steward:events) by default) as one
    member of a consumer group, and puts each valid event on the ansible-rulebook queue.
  - Each stream entry carries a field C(event) holding the JSON event
    C({id, type, at, host, key, action, ...}). The stream is untrusted input (every node agent
    may write to it), so an event is accepted only when it is a JSON object of at most 16 KiB whose
    fields are the documented ones below, of the documented type and length, no string holds a
    template marker (C({{), C({%), C({#), C(}})), and no string but the free texts C(summary),
    C(reason) and C(msg) holds a control character (C0, DEL, C1, U+2028/2029); in those three they
    are escaped (C(\n), C(\x1b)).
    Fields not documented are left out. An entry that fails is acknowledged, logged (escaped) and
    dropped; it is also journaled (C(event_rejected), at most 10 a minute) when a journal is known.
  - Accepted fields and their types. C(id) string, 1-64 of C([A-Za-z0-9_.:-]), required.
    C(type) string C(^[a-z][a-z0-9_]{0,63}$), required. C(at) string, an ISO-8601 UTC time, at most
    40 characters. C(host) an inventory host name (below) or null. C(key) string (a drift key
    C(host/area/target[/kind])), at most 512. C(action) string, at most 160; for every C(action_*)
    type it must be an action id (C(^[A-Za-z0-9][A-Za-z0-9_.-]{0,150}$), no C(..)). C(cycle) string,
    at most 64. C(summary), C(reason), C(msg) strings, at most 2000. C(container) a Docker container
    name (C(^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,254}$)). C(container_id) 1-128 hex digits. C(image) string,
    at most 512. C(source), C(status), C(via), C(src), C(dst) strings, at most 64. C(playbook),
    C(play), C(task), C(file) strings, at most 512. C(exit_code), C(pid), C(time_nano), C(queued),
    C(dropped) integers. Every one of them may also be null.
  - The event's C(meta) is never taken from the entry (a forged C(meta.hosts) would choose the
    hosts a playbook runs on); the source sets C(meta.redis_id) (the entry id), C(meta.stream) and,
    when the event names a host, C(meta.hosts) so that C(run_playbook) limits the play to that host.
  - A host is accepted only when it is exactly one host name of O(inventory) (read with Ansible's
    own inventory manager, again whenever one of its files changes) that is not also a group name,
    and looks like a plain host name (C(^[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}$), so no commas, patterns,
    C(@), C(!), C(&), C(:), ranges, leading or trailing separators). Events of the types
    C(container_*), C(action_*) and C(agent_*) must name a host. Anything else is dropped and logged.
  - The group is created on first use at C($) (C(XGROUP CREATE ... $ MKSTREAM)) - a brand-new group
    starts with the events added from then on, it does not replay what the stream already holds
    (the number of entries skipped is logged and journaled as C(stream_gap)). When the group is lost
    while the source runs (C(XGROUP DESTROY), Redis restarted without its data) it is created again
    at the last entry this source handed over, so nothing newer is skipped and nothing older is
    replayed; only after a restart of the source, with no entry handed over yet, is that C($)
    (journaled). It never recreates a group at C(0).
  - An entry is acknowledged (C(XACK)) only after it was put on the queue; on start and after every
    reconnect the source first re-delivers its own pending (unacknowledged) entries, then reads new
    ones. Delivery is at least once, nothing is lost while the source is down - unless the stream
    was trimmed past entries the group had not read - on every connect and every 10 s the source
    compares the group's last delivered entry with the oldest entry left and counts the unread ones
    that are gone (C(XINFO STREAM) C(entries-added), C(length), C(first-entry); C(XINFO GROUPS)
    C(entries-read)); it logs a WARNING and journals C(stream_gap) (C(cause) C(trimmed)) with that
    number. Every producer trims with the same C(MAXLEN ~ 100000) (docs/operations.md, "Stream length").
  - An entry handed over whose acknowledgement was cut off by a lost connection is acknowledged
    after the reconnect, not handed over again; only a source stopped between the two (a killed
    ansible-rulebook) hands that one entry over twice after its restart.
  - For nothing to be lost when Redis itself crashes, run it with the append-only file on
    (C(appendonly yes), C(appendfsync always)); without persistence a restarted Redis is empty.
  - Redis must authenticate its clients. The source refuses a URL without a password, and a server
    that answers a client that did not authenticate, unless O(allow_unauthenticated) is true and
    the URL names a loopback address or a unix socket (development only). Passwords are never
    logged (C(***)).
  - At start it checks itself and stops the rulebook with the reason, before it reads or acknowledges
    anything, when the state folder (O(state_dir)) is not an absolute path of an existing folder,
    the inventory cannot be read or has no hosts, or Redis cannot be reached or refuses the login.
  - Once running, when Redis is unreachable the source retries with exponential backoff
    (C(retry_delay) doubling up to C(retry_max_delay)); it never exits on its own.
  - C(agent_heartbeat) entries (node agents, every 30 s) are validated and acknowledged, never handed
    to the rules; C(steward status) reads them from the stream.
  - One connection per source (and one short unauthenticated probe per connect).
options:
  url:
    description:
      - Redis URL (C(redis://), C(rediss://) or C(unix://)) with the controller's credentials,
        e.g. C(redis://steward:PASSWORD@127.0.0.1:6379/0). Mutually exclusive with O(host)/O(port).
      - Default C(redis://127.0.0.1:6379/0) when neither O(url) nor O(host) is given (accepted only with
        O(allow_unauthenticated)).
    type: str
  host:
    description: Redis host name or address (no credentials, so only with O(allow_unauthenticated)).
    type: str
  port:
    description: Redis port (1-65535), used with O(host).
    type: int
    default: 6379
  stream:
    description: Stream key to read.
    type: str
    default: steward:events
  group:
    description: Consumer group name.
    type: str
    default: steward-eda
  consumer:
    description:
      - Consumer name within the group. Keep it stable across restarts, so a restarted source
        finds its own unacknowledged entries.
    type: str
    default: the host name
  inventory:
    description:
      - The inventory (one file or folder, absolute path) whose host names an event's C(host) must be
        one of. Default the environment variable C(STEWARD_INVENTORY); required.
    type: path
  journal:
    description:
      - C(journal.jsonl) to record C(stream_gap) and C(event_rejected) in (absolute path). Default
        C($STEWARD_STATE_DIR/journal.jsonl) when C(STEWARD_STATE_DIR) is set; else only logged.
    type: path
  state_dir:
    description:
      - Steward's state folder, absolute path; the playbooks the rulebook runs plan and notify there.
        Default the environment variable C(STEWARD_STATE_DIR); required (checked at start).
    type: path
  allow_unauthenticated:
    description:
      - Accept a Redis without authentication. Only for development on one machine; refused unless
        the URL's host is a loopback address or the URL is C(unix://). Default the environment
        variable C(STEWARD_REDIS_ALLOW_UNAUTHENTICATED) (C(1), C(true), C(yes)), else false.
    type: bool
  batch:
    description: Most entries read per call (C(COUNT)), 1-10000.
    type: int
    default: 100
  block_ms:
    description: How long one read waits for new entries (C(BLOCK)), 1-600000 ms.
    type: int
    default: 1000
  claim_idle_ms:
    description:
      - On start and after every reconnect, first take over (C(XAUTOCLAIM)) the entries other
        consumers of the group left pending for at least this long, e.g. a consumer that was
        renamed or is gone for good, then re-deliver them. C(0) switches this off. An entry that
        is merely slow on a live consumer may be delivered twice, so keep this well above the time
        a rule's action needs to take an event.
    type: int
    default: 0
  retry_delay:
    description: First wait in seconds after a connection failure (> 0).
    type: float
    default: 0.25
  retry_max_delay:
    description:
      - Longest wait in seconds between reconnection attempts (>= O(retry_delay)).
      - Low on purpose, so events added while Redis was down are handled within seconds of its return.
    type: float
    default: 0.5"""

EXAMPLES = r"""
- name: React to Steward's events
  hosts: all
  sources:
    - homelab.steward.redis_events:
        url: redis://steward:PASSWORD@127.0.0.1:6379/0
        stream: steward:events
        group: steward-eda
        inventory: /srv/steward/inventory/hosts.yml
  rules:
    - name: Show every event
      condition: event.type is defined
      action:
        debug:
"""

log = logging.getLogger(__name__)

_KNOWN = {
    "url",
    "host",
    "port",
    "stream",
    "group",
    "consumer",
    "inventory",
    "journal",
    "state_dir",
    "allow_unauthenticated",
    "batch",
    "block_ms",
    "claim_idle_ms",
    "retry_delay",
    "retry_max_delay",
}
_SCHEMES = ("redis://", "rediss://", "unix://")
_TRUE = ("1", "true", "yes", "on")

# --- rendering untrusted text and secrets -------------------------------------------------------
# The collection cannot import the `steward` package (steward.core.inert is the same rule): every
# control character becomes a visible escape, every password `***`.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u0085\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def inert(value: object, limit: int = 200) -> str:
    """`value` as one printable line of at most `limit` characters (an excerpt, for logs)."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        text = text[:limit] + f"...(+{len(text) - limit} chars)"

    def esc(m: re.Match[str]) -> str:
        ch = m.group(0)
        return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) <= 0xFF else f"\\u{ord(ch):04x}")

    return _CONTROL.sub(esc, text)


def redact_url(url: str) -> str:
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


def url_password(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.password:
        return unquote(parts.password)
    found = re.search(r"(?i)(?:^|&)password=([^&#]*)", parts.query)
    return unquote(found.group(1)) if found and found.group(1) else None


def redact(text: str, url: str) -> str:
    """An exception text with the URL's password (plain and URL-encoded) replaced by `***`."""
    for secret in {url_password(url), urlsplit(url).password} - {None, ""}:
        text = text.replace(str(secret), "***")
    return text


def is_local(url: str) -> bool:
    """A unix socket or a loopback address: the only places an unauthenticated Redis is accepted."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- options ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    url: str
    stream: str
    group: str
    consumer: str
    inventory: str
    journal: str | None
    state_dir: str | None
    allow_unauthenticated: bool
    batch: int
    block_ms: int
    claim_idle_ms: int
    retry_delay: float
    retry_max_delay: float

    @property
    def shown_url(self) -> str:
        return redact_url(self.url)


def _string(args: dict[str, Any], name: str, default: str) -> str:
    value = args.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"redis_events: '{name}' must be a non-empty string, got {value!r}")
    return value


def _int(args: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = args.get(name, default)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"redis_events: '{name}' must be an integer from {low} to {high}, got {value!r}")
    return value


def _number(args: dict[str, Any], name: str, default: float) -> float:
    value = args.get(name, default)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"redis_events: '{name}' must be a number of seconds > 0, got {value!r}")
    return float(value)


def _bool(args: dict[str, Any], name: str, env: str) -> bool:
    value = args.get(name, os.environ.get(env, ""))
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in (*_TRUE, "0", "false", "no", "off", ""):
        return value.strip().lower() in _TRUE
    raise ValueError(f"redis_events: '{name}' must be true or false, got {value!r}")


def _path(args: dict[str, Any], name: str, default: str | None) -> str | None:
    value = args.get(name, default)
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not os.path.isabs(value):
        raise ValueError(f"redis_events: '{name}' must be an absolute path, got {value!r}")
    return value


def parse_args(args: dict[str, Any] | None) -> Options:
    """Validate the source's arguments; ValueError with a clear message on the first bad one."""
    args = dict(args or {})
    unknown = sorted(set(args) - _KNOWN)
    if unknown:
        raise ValueError(f"redis_events: unknown argument(s) {', '.join(unknown)}; known: {', '.join(sorted(_KNOWN))}")
    if "url" in args and ("host" in args or "port" in args):
        raise ValueError("redis_events: give either 'url' or 'host'/'port', not both")
    if "url" in args:
        url = _string(args, "url", "")
        if not url.startswith(_SCHEMES):
            shown = redact_url(url)
            raise ValueError(f"redis_events: 'url' must start with one of {', '.join(_SCHEMES)}, got {shown!r}")
    elif "host" in args or "port" in args:
        host = _string(args, "host", "127.0.0.1")
        port = _int(args, "port", 6379, 1, 65535)
        url = f"redis://[{host}]:{port}/0" if ":" in host else f"redis://{host}:{port}/0"
    else:
        url = "redis://127.0.0.1:6379/0"
    allow = _bool(args, "allow_unauthenticated", "STEWARD_REDIS_ALLOW_UNAUTHENTICATED")
    if allow and not is_local(url):
        raise ValueError(
            f"redis_events: 'allow_unauthenticated' is only accepted for a loopback or unix:// Redis, "
            f"not {redact_url(url)!r}"
        )
    if not allow and url_password(url) is None:
        raise ValueError(
            f"redis_events: {redact_url(url)!r} has no password: Redis must authenticate its clients "
            "(an ACL user, see docs/operations.md); 'allow_unauthenticated: true' only for a loopback "
            "development Redis"
        )
    inventory = _path(args, "inventory", os.environ.get("STEWARD_INVENTORY"))
    if inventory is None:
        raise ValueError(
            "redis_events: 'inventory' (or the environment variable STEWARD_INVENTORY) must name the "
            "inventory, as an absolute path: an event's host is checked against it"
        )
    state = args.get("state_dir", os.environ.get("STEWARD_STATE_DIR")) or None
    if state is not None and (not isinstance(state, str) or not os.path.isabs(state)):
        raise ValueError(
            f"redis_events: the state folder ('state_dir', else STEWARD_STATE_DIR) must be an absolute path, "
            f"got {state!r}: ansible-rulebook runs its playbooks from a temporary copy, where a relative "
            "path names another folder"
        )
    journal = _path(args, "journal", os.path.join(state, "journal.jsonl") if state else None)
    retry_delay = _number(args, "retry_delay", 0.25)
    retry_max_delay = _number(args, "retry_max_delay", 0.5)
    if retry_max_delay < retry_delay:
        raise ValueError(
            f"redis_events: 'retry_max_delay' ({retry_max_delay}) must be >= 'retry_delay' ({retry_delay})"
        )
    return Options(
        url=url,
        stream=_string(args, "stream", "steward:events"),
        group=_string(args, "group", "steward-eda"),
        consumer=_string(args, "consumer", socket.gethostname() or "steward-eda"),
        inventory=inventory,
        journal=journal,
        state_dir=state,
        allow_unauthenticated=allow,
        batch=_int(args, "batch", 100, 1, 10000),
        block_ms=_int(args, "block_ms", 1000, 1, 600000),
        claim_idle_ms=_int(args, "claim_idle_ms", 0, 0, 2**31 - 1),
        retry_delay=retry_delay,
        retry_max_delay=retry_max_delay,
    )


# --- the event schema ---------------------------------------------------------------------------

MAX_EVENT_BYTES = 16 * 1024
ACTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,150}$")
HOST_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}$")
CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,254}$")  # Docker's own name pattern
_TEMPLATE = re.compile(r"\{\{|\{%|\{#|\}\}|%\}|#\}")


class Rejected(ValueError):
    """The entry is not a valid event; the message names the field (escaped)."""


def _text(limit: int, pattern: re.Pattern[str] | None = None, free: bool = False) -> Callable[[str, Any], Any]:
    """A string field; `free` text (summary, reason, msg) has its control characters escaped, any
    other field with one is refused."""

    def check(name: str, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise Rejected(f"field {name!r} must be a string, got {type(value).__name__}")
        if len(value) > limit:
            raise Rejected(f"field {name!r} is {len(value)} characters long, at most {limit}")
        if _CONTROL.search(value):
            if not free:
                raise Rejected(f"field {name!r} holds a control character: {inert(value, 80)}")
            value = inert(value, limit)
        if _TEMPLATE.search(value):
            raise Rejected(f"field {name!r} holds a template marker: {inert(value, 80)}")
        if pattern is not None and not pattern.fullmatch(value):
            raise Rejected(f"field {name!r} is not of the form {pattern.pattern}: {inert(value, 80)}")
        return value

    return check


def _integer(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2**63:
        raise Rejected(f"field {name!r} must be an integer, got {inert(value, 40)}")
    return value


FIELDS: dict[str, Callable[[str, Any], Any]] = {
    "id": _text(64, re.compile(r"^[A-Za-z0-9_.:-]+$")),
    "type": _text(64, re.compile(r"^[a-z][a-z0-9_]{0,63}$")),
    "at": _text(40, re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+)?$")),
    "host": _text(253),  # and an inventory host: checked in Validator.event
    "key": _text(512),
    "action": _text(160),
    "cycle": _text(64),
    "summary": _text(2000, free=True),
    "reason": _text(2000, free=True),
    "msg": _text(2000, free=True),
    "container": _text(255, CONTAINER_NAME),
    "container_id": _text(128, re.compile(r"^[0-9a-f]+$")),
    "image": _text(512),
    "source": _text(64),
    "status": _text(64),
    "via": _text(64),
    "src": _text(64),
    "dst": _text(64),
    "playbook": _text(512),
    "play": _text(512),
    "task": _text(512),
    "file": _text(512),
    "exit_code": _integer,
    "pid": _integer,
    "time_nano": _integer,
    "queued": _integer,  # agent_heartbeat: events waiting in the agent for Redis
    "dropped": _integer,  # agent_heartbeat: events Redis refused as malformed since the agent started
}
NEEDS_HOST = ("container_", "action_", "agent_")
HEARTBEAT = "agent_heartbeat"  # validated, acknowledged, never handed to the rules


class Inventory:
    """The host names of one inventory (file or folder), read with Ansible's InventoryManager,
    read again when one of its files changed. Host names that are also group names are left out:
    as ``--limit`` they would name the whole group."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.hosts: frozenset[str] = frozenset()
        self.groups: frozenset[str] = frozenset()
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._checked = 0.0

    def signature(self) -> tuple[tuple[str, int, int], ...]:
        files = []
        if os.path.isdir(self.source):
            for folder, dirs, names in os.walk(self.source):
                dirs.sort()
                for n in sorted(names):
                    files.append(os.path.join(folder, n))
        else:
            files.append(self.source)
        out = []
        for f in files:
            try:
                st = os.stat(f)
            except OSError:
                continue
            out.append((f, st.st_mtime_ns, st.st_size))
        return tuple(out)

    def load(self) -> None:
        """Read the inventory; ValueError when it cannot be read (the old host names are kept)."""
        from ansible.errors import AnsibleError
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader

        signature = self.signature()
        if not signature:
            raise ValueError(f"redis_events: inventory {self.source} does not exist")
        try:
            manager = InventoryManager(loader=DataLoader(), sources=[self.source])
        except AnsibleError as exc:
            raise ValueError(f"redis_events: inventory {self.source} cannot be read: {inert(str(exc))}") from exc
        groups = frozenset(manager.groups)
        hosts = frozenset(h for h in manager.hosts if h not in groups)
        if not hosts:
            raise ValueError(f"redis_events: inventory {self.source} has no hosts")
        self.hosts, self.groups, self._signature = hosts, groups, signature
        log.info("redis_events: %d inventory hosts from %s", len(hosts), self.source)

    def refresh(self, every: float = 1.0) -> None:
        """Read it again when a file changed (looked at most once per `every` seconds)."""
        now = time.monotonic()
        if now - self._checked < every:
            return
        self._checked = now
        if self.signature() != self._signature:
            try:
                self.load()
            except ValueError as exc:
                log.warning("%s; keeping the %d host names read before", exc, len(self.hosts))

    def check(self, host: str) -> None:
        if not HOST_NAME.fullmatch(host) or host.endswith((".", "-")):
            raise Rejected(f"host {inert(host, 80)} is not one plain host name (no patterns, lists or @file)")
        if host not in self.hosts:
            raise Rejected(f"host {inert(host, 80)} is not a host of the inventory {self.source}")


def validate(event: Any, inventory: Inventory) -> dict[str, Any]:
    """The accepted event (documented fields only), or Rejected naming what is wrong."""
    if not isinstance(event, dict):
        raise Rejected("not a JSON object")
    out: dict[str, Any] = {}
    for name, value in event.items():
        check = FIELDS.get(name)
        if check is not None:
            out[name] = check(name, value)
    for required in ("id", "type"):
        if not out.get(required):
            raise Rejected(f"field {required!r} is missing")
    etype = out["type"]
    host = out.get("host")
    if host is not None:
        inventory.check(host)
    elif etype.startswith(NEEDS_HOST):
        raise Rejected(f"a {etype} event must name its host")
    if etype.startswith("action_") and out.get("action") is not None:
        action = out["action"]
        if not ACTION_ID.fullmatch(action) or ".." in action:
            raise Rejected(f"field 'action' of a {etype} event is not an action id: {inert(action, 80)}")
    if etype == "action_pending" and not out.get("action"):
        raise Rejected("an action_pending event must name its action")
    return out


class Rejections:
    """Log every rejected entry (escaped); journal at most `per_minute` of them a minute."""

    def __init__(self, journal: str | None, per_minute: int = 10) -> None:
        self.journal, self.per_minute = journal, per_minute
        self.window, self.count, self.suppressed = 0.0, 0, 0

    def __call__(self, entry_id: str, stream: str, why: str) -> None:
        log.warning("redis_events: entry %s of %s rejected (%s); acknowledged and dropped", entry_id, stream, why)
        now = time.monotonic()
        if now - self.window >= 60:
            self.window, self.count = now, 0
        if self.count >= self.per_minute:
            self.suppressed += 1
            return
        self.count += 1
        fields: dict[str, Any] = {"redis_id": entry_id, "stream": stream, "reason": why}
        if self.suppressed:
            fields["suppressed"], self.suppressed = self.suppressed, 0
        journal(self.journal, "event_rejected", **fields)


def journal(path: str | None, type_: str, **fields: Any) -> None:
    """Append one event to journal.jsonl (one write, O_APPEND, never through a symlink)."""
    if not path:
        return
    event = {
        "id": f"{time.time_ns():016x}-{secrets.token_hex(6)}",
        "type": type_,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": None,
        "source": "redis_events",
        **fields,
    }
    line = (json.dumps(event, sort_keys=True, default=str) + "\n").encode()
    try:
        for _ in range(100):
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            try:
                # steward's journal rotation protocol (steward/core/segmented.py): append under a shared
                # flock, and only to the file still named journal.jsonl (else it was just made a segment)
                fcntl.flock(fd, fcntl.LOCK_SH)
                now, mine = os.stat(path, follow_symlinks=False), os.fstat(fd)
                if (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino):
                    continue
                os.write(fd, line)
                os.fsync(fd)
                return
            except FileNotFoundError:
                continue  # renamed into a segment between our open and our stat
            finally:
                os.close(fd)
        log.warning("redis_events: cannot journal %s to %s: it kept being rotated under us", type_, path)
    except OSError as exc:
        log.warning("redis_events: cannot journal %s to %s: %s", type_, path, exc)


def _decode(
    entry_id: str,
    fields: dict[str, str] | None,
    stream: str,
    inventory: Inventory,
    reject: Callable[..., None],
    ledger_dir: str | None = None,
) -> dict[str, Any] | None:
    raw = (fields or {}).get("event")
    if raw is None:
        reject(entry_id, stream, "no 'event' field")
        return None
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_EVENT_BYTES:
        reject(entry_id, stream, f"event is {len(raw)} characters long, at most {MAX_EVENT_BYTES} bytes")
        return None
    try:
        event = validate(json.loads(raw), inventory)
    except Rejected as exc:
        reject(entry_id, stream, str(exc))
        return None
    except ValueError as exc:
        reject(entry_id, stream, f"not JSON ({inert(str(exc), 80)})")
        return None
    if (
        ledger_dir is not None
        and event.get("type") == "action_pending"
        and not os.path.isfile(os.path.join(ledger_dir, f"{event.get('action')}.json"))
    ):  # anyone who may XADD can claim a pending action: only the engine's own are announced
        reject(entry_id, stream, "action_pending for an action the engine did not write (no ledger entry)")
        return None
    meta: dict[str, Any] = {"redis_id": entry_id, "stream": stream}
    if event.get("host"):
        meta["hosts"] = event["host"]
    event["meta"] = meta
    return event


# --- Redis --------------------------------------------------------------------------------------


class Refused(RuntimeError):
    """Redis accepts clients that did not authenticate (and that was not allowed)."""


async def probe_open(url: str, timeout: float = 5.0) -> bool:
    """True when the server answers PING from a client that did not authenticate."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(parts.path), timeout)
    else:
        ssl = parts.scheme == "rediss" or None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or 6379, ssl=ssl), timeout
        )
    try:
        writer.write(b"PING\r\n")
        await writer.drain()
        reply = await asyncio.wait_for(reader.readline(), timeout)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return reply.startswith(b"+PONG")


@dataclass
class Position:
    """What this source knows of its place in the stream (in memory, across reconnects)."""

    last_id: str | None = None  # the newest entry handed over
    reported_lost: int = 0  # trimmed unread entries already reported
    checked: float = 0.0


def _id(value: Any) -> tuple[int, int]:
    text = str(value or "0-0")
    ms, _, seq = text.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return 0, 0


async def _ensure_group(client: Any, opts: Options, pos: Position) -> None:
    from redis.exceptions import ResponseError

    try:
        before = await client.xinfo_stream(opts.stream)
    except ResponseError:  # no such stream yet
        before = {}
    start, entries_read = pos.last_id, None
    if start is None:
        # "$", taken from the same answer as the count, so the group knows how many entries it
        # skipped (ENTRIESREAD): what lets _check_trimmed count entries trimmed before it read them
        start = before.get("last-generated-id") or "$"
        entries_read = int(before.get("entries-added") or 0)
    try:
        await client.xgroup_create(opts.stream, opts.group, id=start, mkstream=True, entries_read=entries_read)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
        return
    info = await client.xinfo_stream(opts.stream)
    if pos.last_id is None:
        length = int(info.get("length") or 0)
        log.warning(
            "redis_events: created group %s on %s at $ (new events only); %d older entries not delivered",
            opts.group,
            opts.stream,
            length,
        )
        if length:
            journal(
                opts.journal,
                "stream_gap",
                stream=opts.stream,
                reason=f"consumer group {opts.group} created at $: {length} older entries not delivered",
                skipped=length,
                cause="created",
            )
    else:
        log.warning(
            "redis_events: group %s on %s was gone; created again after the last entry handed over (%s)",
            opts.group,
            opts.stream,
            pos.last_id,
        )
        journal(
            opts.journal,
            "stream_gap",
            stream=opts.stream,
            reason=f"consumer group {opts.group} was gone; recreated after {pos.last_id}, nothing replayed",
            skipped=0,
            cause="recreated",
        )


async def _check_trimmed(client: Any, opts: Options, pos: Position, every: float = 10.0) -> None:
    """Warn (log + journal) when the stream lost entries the group had not read.

    Redis 7.0 does not count trimmed entries anywhere (``max-deleted-entry-id`` moves on XDEL
    only), so this counts: the entries added after the group's last delivered one are
    ``entries-added - entries-read``; when the oldest entry left is newer than the last delivered
    one, all ``length`` entries are among them, and the rest were trimmed unread."""
    now = time.monotonic()
    if now - pos.checked < every:
        return
    pos.checked = now
    info = await client.xinfo_stream(opts.stream)
    group = next((g for g in await client.xinfo_groups(opts.stream) if g.get("name") == opts.group), None)
    if group is None:
        return
    first = info.get("first-entry")
    delivered = group.get("last-delivered-id") or "0-0"
    added, read, length = info.get("entries-added"), group.get("entries-read"), int(info.get("length") or 0)
    if read is None and _id(delivered) == (0, 0):
        read = 0  # a group that has read nothing
    if read is None and delivered == info.get("last-generated-id") and isinstance(added, int):
        # caught up, count unknown (a group created without ENTRIESREAD, or recreated by id): record
        # it now; Redis keeps counting from here. Only this source reads between XINFO and SETID.
        await client.xgroup_setid(opts.stream, opts.group, delivered, entries_read=added)
        return
    if not first or _id(first[0]) <= _id(delivered):
        return  # the oldest entry left was delivered already: nothing unread is gone
    if not isinstance(added, int) or not isinstance(read, int):
        log.debug("redis_events: cannot count trimmed entries of %s (entries-read unknown)", opts.stream)
        return
    lost = added - read - length
    if lost <= pos.reported_lost:
        return
    new = lost - pos.reported_lost
    pos.reported_lost = lost
    log.warning(
        "redis_events: the stream %s was trimmed past %d entries group %s had not read (oldest left %s, "
        "last delivered %s); every producer must trim with the same MAXLEN",
        opts.stream,
        new,
        opts.group,
        first[0],
        delivered,
    )
    journal(
        opts.journal,
        "stream_gap",
        stream=opts.stream,
        reason=f"{new} entries of {opts.stream} after {delivered} were trimmed before group {opts.group} read them",
        skipped=new,
        cause="trimmed",
    )


async def _consume(
    client: Any,
    queue: Any,
    opts: Options,
    handed_over: set[str],
    pos: Position,
    inventory: Inventory,
    reject: Callable[..., None],
) -> None:
    """Pending entries of this consumer first (cursor from 0), then new ones (>); forever.

    `handed_over` holds the entries put on the queue whose XACK did not get through (Redis went
    away in between); when they come back as pending after the reconnect they are acknowledged,
    not put on the queue a second time.
    """
    await _ensure_group(client, opts, pos)
    pos.checked = 0.0
    if opts.claim_idle_ms:
        start = "0-0"
        while True:
            reply = await client.xautoclaim(
                opts.stream,
                opts.group,
                opts.consumer,
                opts.claim_idle_ms,
                start_id=start,
                count=opts.batch,
                justid=True,
            )
            if reply and reply[1]:
                log.info("redis_events: took over %d idle entries of other consumers", len(reply[1]))
            start = reply[0] if reply else "0-0"
            if start in ("0-0", b"0-0"):
                break
    cursor = "0"
    while True:
        await _check_trimmed(client, opts, pos)
        inventory.refresh()
        replies = await client.xreadgroup(
            opts.group,
            opts.consumer,
            {opts.stream: cursor},
            count=opts.batch,
            block=None if cursor != ">" else opts.block_ms,
        )
        entries = replies[0][1] if replies else []
        if cursor != ">" and not entries:
            log.debug("redis_events: no pending entries left for %s, reading new ones", opts.consumer)
            cursor = ">"
            continue
        for entry_id, fields in entries:
            if entry_id not in handed_over:
                try:
                    ledger = os.path.join(os.path.dirname(opts.journal), "engine", "ledger") if opts.journal else None
                    event = _decode(entry_id, fields, opts.stream, inventory, reject, ledger)
                except Exception as exc:  # one bad entry never stops the source
                    log.warning("redis_events: entry %s could not be read (%s); dropped", entry_id, type(exc).__name__)
                    event = None
                if event is not None and event["type"] != HEARTBEAT:
                    await queue.put(event)  # heartbeats are for `steward status` (it reads the stream), not rules
                handed_over.add(entry_id)
                if _id(entry_id) > _id(pos.last_id):
                    pos.last_id = entry_id
            # only now: an entry that was not handed over stays pending and comes back
            await client.xack(opts.stream, opts.group, entry_id)
            handed_over.discard(entry_id)
            if cursor != ">":
                cursor = entry_id


def check_state_dir(opts: Options) -> None:
    """The rulebook's playbooks plan into the state folder: without it every reaction would fail."""
    if opts.state_dir is None:
        raise ValueError(
            "redis_events: STEWARD_STATE_DIR (or the source's 'state_dir') must name the state folder, as an "
            "absolute path: the playbooks the rulebook runs (observe and plan, notify) write there"
        )
    if not os.path.isdir(opts.state_dir):
        raise ValueError(f"redis_events: the state folder {opts.state_dir} does not exist (steward init, or mkdir)")


async def check_redis(client: Any, opts: Options) -> None:
    """Once at start: the server refuses clients that did not log in, and takes our login and a PING.
    Refused (the rulebook stops with the reason) instead of retrying for ever with a wrong password."""
    from redis.exceptions import AuthenticationError, ResponseError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    try:
        if not opts.allow_unauthenticated and await probe_open(opts.url):
            raise Refused(
                f"redis_events: Redis at {opts.shown_url} answers clients that did not authenticate; "
                "refusing it (turn the default user off, see docs/operations.md)"
            )
        await client.ping()
    except (AuthenticationError, ResponseError) as exc:
        raise Refused(
            f"redis_events: Redis at {opts.shown_url} refused the login: {redact(str(exc), opts.url)} "
            "(the ACL user and password in the URL, docs/operations.md)"
        ) from None
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise Refused(
            f"redis_events: cannot reach Redis at {opts.shown_url} at start: {redact(str(exc), opts.url)}"
        ) from None
    log.info("redis_events: logged in to %s", opts.shown_url)


def _honour_cancel() -> None:
    task = asyncio.current_task()
    if task is not None and getattr(task, "cancelling", lambda: 0)():
        raise asyncio.CancelledError


async def main(queue: Any, args: dict[str, Any]) -> None:
    """ansible-rulebook entry point."""
    opts = parse_args(args)
    check_state_dir(opts)
    inventory = Inventory(opts.inventory)
    inventory.load()
    from redis import asyncio as aioredis
    from redis.exceptions import AuthenticationError, ResponseError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    client = aioredis.Redis.from_url(
        opts.url,
        decode_responses=True,
        # bytes that are not UTF-8 (any node credential can XADD them) must not kill the source:
        # they arrive escaped, fail validation, and the entry is acknowledged and dropped
        encoding_errors="backslashreplace",
        single_connection_client=True,
        socket_connect_timeout=5,
        socket_timeout=opts.block_ms / 1000 + 10,
    )
    delay = opts.retry_delay
    handed_over: set[str] = set()
    pos = Position()
    reject = Rejections(opts.journal)
    try:
        await check_redis(client, opts)  # at start: a clear refusal, before anything is read or acknowledged
        while True:
            try:
                if not opts.allow_unauthenticated and await probe_open(opts.url):
                    raise Refused(
                        f"redis_events: Redis at {opts.shown_url} answers clients that did not authenticate; "
                        "refusing it (turn the default user off, see docs/operations.md)"
                    )
                await _consume(client, queue, opts, handed_over, pos, inventory, reject)
            except (RedisConnectionError, RedisTimeoutError, AuthenticationError, OSError) as exc:
                _honour_cancel()  # a client library may turn a cancellation into a connection error
                log.warning(
                    "redis_events: Redis at %s unavailable (%s); retrying in %.1f s",
                    opts.shown_url,
                    redact(str(exc), opts.url),
                    delay,
                )
            except ResponseError as exc:
                text = redact(str(exc), opts.url)
                # NOGROUP: the group was destroyed; UNBLOCKED: the stream key itself was deleted
                # (FLUSHALL, DEL, eviction) while we waited - both mean "group gone"
                if "NOGROUP" not in text and "UNBLOCKED" not in text:
                    raise ResponseError(text) from None
                # Redis restarted empty or the group was deleted: create it again (never at 0)
                log.warning("redis_events: group %s is gone (%s); recreating it", opts.group, text)
                handed_over.clear()  # its pending entries went with it
                continue
            else:  # pragma: no cover - _consume never returns
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, opts.retry_max_delay)
            try:
                await client.ping()
            except (RedisConnectionError, RedisTimeoutError, AuthenticationError, OSError):
                continue
            log.info("redis_events: reconnected to %s", opts.shown_url)
            delay = opts.retry_delay
    finally:
        # cancelled in the middle of a command, redis-py can wait on that command's connection lock
        # for ever: never let the rulebook's shutdown hang on it
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(client.aclose(), 2)


if __name__ == "__main__":  # pragma: no cover - manual try-out
    import sys

    class _Print:
        async def put(self, event: dict[str, Any]) -> None:
            print(json.dumps(event))

    asyncio.run(main(_Print(), {"url": sys.argv[1]} if len(sys.argv) > 1 else {}))
