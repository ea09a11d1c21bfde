"""Desired state: the inventory's steward_* vars, read through Ansible's own inventory machinery.

Any inventory source Ansible understands works. Every variable is validated; a malformed
one raises DesiredStateError naming the host and the variable, and nothing acts on it.

The inventory is trusted (it is the operator's intent) but fragile, so a load is all or nothing:

* a source Ansible cannot parse fails the load instead of leaving an implicit-localhost
  inventory: Ansible's own switches ``[inventory] unparsed_is_failed`` and
  ``any_unparsed_is_failed`` are on for every in-process load, whatever ansible.cfg is active;
  a group_vars/host_vars file that does not parse fails it too. Both raise
  `InventoryUnreadable`, naming the file and Ansible's message with line and column;
* a read that raced a writer (an editor's save, a `git pull`) raises `InventoryChanged`: the
  signature (content and mtime) of every file that feeds the inventory is taken before and after
  Ansible read them, and every byte Ansible parsed must be the file's content at both moments;
  a file written less than SETTLE_SECONDS ago is first given that long to settle, so a writer
  that pauses between two halves of a write is caught unless it pauses longer than that
  (desired/signature.py);
* an inventory without a Steward host (no host carries a ``steward_*`` variable) raises
  `NoStewardHost`: an empty or truncated file parses as an empty inventory, never as "all fine".

Each area parses its own var (`steward.areas`); a var read under a deprecated name works and is
reported once per read of the inventory (a log warning and `DesiredState.deprecations`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steward.areas import AREAS, Area
from steward.areas.base import ParseContext, SourceChanged
from steward.core.inert import terminal
from steward.core.model import DesiredStateError, Problem
from steward.desired.errors import InventoryChanged, InventoryUnreadable, NoHostMatched, NoStewardHost, error_fields
from steward.desired.host import DesiredState, HostDesired
from steward.desired.plain import plain
from steward.desired.policy import POLICY_VAR, WINDOWS_VAR, Policy, parse_policy, parse_windows
from steward.desired.signature import Signature, check_whole, settled_signature

HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DIAGNOSIS_VAR = "steward_diagnosis"  # kept in globals for steward.diagnose.config (a group var of all:)
# What loading gives and raises, importable from the loader (callers need no other desired/ module).
__all__ = [
    "DesiredState",
    "DesiredStateError",
    "HostDesired",
    "InventoryChanged",
    "InventoryUnreadable",
    "NoHostMatched",
    "NoStewardHost",
    "error_fields",
    "hosts_matching",
    "load_checked",
    "load_desired",
]
log = logging.getLogger(__name__)
_plugin_loader_ready = False


def _init_ansible() -> None:
    """Set Ansible up the way its CLIs do: collection loader first, so lookups like
    ansible.builtin.env resolve when inventory vars are templated."""
    global _plugin_loader_ready
    if not _plugin_loader_ready:
        from ansible.utils.collection_loader import AnsibleCollectionConfig

        # inside ansible-playbook (the homelab.steward.plan action) the loader is already set up
        if not AnsibleCollectionConfig.collection_finder:
            from ansible.plugins.loader import init_plugin_loader

            init_plugin_loader()
        _plugin_loader_ready = True


@contextlib.contextmanager
def _strict_inventory() -> Iterator[None]:
    """Ansible's own switches for this load, whatever ansible.cfg says: a source no plugin can parse
    fails it. Ansible's warnings are kept off the terminal (the error says it in one line) and
    logged one line each; host_group_vars' process-wide file lists are forgotten so a vars file
    added or removed since the last load is seen (long-running processes)."""
    from ansible import constants as C
    from ansible.plugins.vars import host_group_vars

    for cache in (host_group_vars.FOUND, host_group_vars.NAK, host_group_vars.CANONICAL_PATHS):
        cache.clear()
    saved = (C.INVENTORY_UNPARSED_IS_FAILED, C.INVENTORY_ANY_UNPARSED_IS_FAILED)
    C.INVENTORY_UNPARSED_IS_FAILED = C.INVENTORY_ANY_UNPARSED_IS_FAILED = True
    try:
        from ansible._internal._display_utils import DeferredWarningContext
    except ImportError:  # a later ansible-core: its warnings go to the terminal as they would
        capture: Any = contextlib.nullcontext()
    else:
        capture = DeferredWarningContext(variables={})
    try:
        with capture as ctx:
            yield
        for warning in ctx.get_warnings() if ctx is not None else ():
            log.warning("ansible: %s", terminal(warning.event.msg))
    finally:
        C.INVENTORY_UNPARSED_IS_FAILED, C.INVENTORY_ANY_UNPARSED_IS_FAILED = saved


def _ansible_parts(failures: list[tuple[str, str, BaseException]]) -> tuple[Any, Any]:
    """A DataLoader that records the digest of every file Ansible reads, and an InventoryManager
    that records why each inventory plugin refused a source (the exceptions themselves)."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    class RecordingLoader(DataLoader):
        def __init__(self) -> None:
            super().__init__()
            self.reads: list[tuple[str, int, int]] = []
            self.attempt: str | None = None

        def _get_file_contents(self, file_name: str) -> tuple[bytes, bool]:
            self.attempt = os.path.realpath(self.path_dwim(file_name))  # named if reading it fails (vault)
            data, plaintext = super()._get_file_contents(file_name)
            if plaintext:  # a vault file's bytes are decrypted here: only the signature covers it
                raw = bytes(data)
                self.reads.append((os.path.realpath(self.path_dwim(file_name)), len(raw), zlib.crc32(raw)))
            return data, plaintext

    class Plugin:
        def __init__(self, plugin: Any) -> None:
            self._plugin = plugin

        def __getattr__(self, name: str) -> Any:
            return getattr(self._plugin, name)

        def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> Any:
            try:
                parsed = self._plugin.parse(inventory, loader, path, cache=cache)
            except Exception as exc:  # Ansible templating errors come in many types
                failures.append((path, str(getattr(self._plugin, "_load_name", "")), exc))
                raise
            failures[:] = [f for f in failures if f[0] != path]  # a later plugin took it: not a failure
            return parsed

    class RecordingManager(InventoryManager):
        def _fetch_inventory_plugins(self) -> list[Any]:
            return [Plugin(p) for p in super()._fetch_inventory_plugins()]

    return RecordingLoader, RecordingManager


def _located(exc: BaseException) -> tuple[str | None, int | None, int | None, str]:
    """Walk the exception chain: the first file/line/column Ansible attached, and the messages up to it."""
    messages: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(getattr(current, "_original_message", None) or current).strip().splitlines()
        if text and (not messages or text[0] != messages[-1]):
            messages.append(text[0])
        origin = getattr(current, "obj", None)
        path, line = getattr(origin, "path", None), getattr(origin, "line_num", None)
        if path and line is not None:
            return str(path), int(line), getattr(origin, "col_num", None), "; caused by: ".join(messages)
        current = current.__cause__ or current.__context__
    first_path = None
    current = exc
    while current is not None and first_path is None:
        first_path = getattr(getattr(current, "obj", None), "path", None)
        current = current.__cause__ or current.__context__
    return first_path, None, None, "; caused by: ".join(messages)


def _unreadable(
    exc: BaseException, inventory: Path, failures: list[tuple[str, str, BaseException]], attempt: str | None = None
) -> Exception:
    """The error to report: the plugin that owns the file's format first, then any with a line number."""
    owner = {".yml": "yaml", ".yaml": "yaml", ".json": "yaml", ".toml": "toml"}
    ranked = []
    for source, plugin, failure in failures:
        path, line, column, message = _located(failure)
        own = plugin == owner.get(Path(source).suffix, "ini")
        ranked.append((not own, line is None, path or source, line, column, message))
    if ranked:
        _own, _unlocated, path, line, column, message = min(ranked, key=lambda r: (r[0], r[1]))
        return InventoryUnreadable(path, message, line, column)
    path, line, column, message = _located(exc)
    # no origin on the error (e.g. a vault file without a password): the file Ansible was reading
    return InventoryUnreadable(path or attempt or str(inventory), message, line, column)


def load_checked(inventory: Path) -> tuple[Signature, DesiredState]:
    """load_desired, and the signature the files had during the whole of it."""
    _init_ansible()
    if not inventory.exists():
        raise DesiredStateError([("*", "inventory", f"{inventory} does not exist")])
    before = settled_signature(inventory)
    failures: list[tuple[str, str, BaseException]] = []
    loader_class, manager_class = _ansible_parts(failures)
    loader = loader_class()
    try:
        with _strict_inventory():
            root = (inventory if inventory.is_dir() else inventory.parent).resolve()
            read = _read(manager_class(loader=loader, sources=[str(inventory)]), loader, root)
    except Exception as exc:
        check_whole(inventory, before, loader.reads)  # a parse that raced a writer: changed, not broken
        from ansible.errors import AnsibleError

        if isinstance(exc, AnsibleError):
            raise _unreadable(exc, inventory, failures, loader.attempt) from None
        raise
    check_whole(inventory, before, loader.reads)
    policy, problems = Policy(), read.problems
    if len(read.policies) > 1:
        names = ", ".join(sorted(h for h, _ in read.policies.values()))
        problems.append(("all", POLICY_VAR, f"differs between hosts ({names}): set it once, in group all"))
    elif read.policies:
        policy, policy_problems = parse_policy(next(iter(read.policies.values()))[1])
        problems.extend(policy_problems)
    if problems:
        raise DesiredStateError(problems)
    if not read.steward_hosts:
        raise NoStewardHost(inventory, len(read.hosts))
    deprecations = _deprecations(read.deprecated)
    for line in deprecations:  # once per read of the inventory, whatever the number of hosts
        log.warning("desired state: %s", line)
    sources = tuple(
        sorted(
            {path for h in read.hosts.values() for name, area in AREAS.items() for path in area.sources(h.want(name))}
        )
    )
    return before, DesiredState(
        hosts=read.hosts, globals=read.globals, policy=policy, deprecations=deprecations, sources=sources
    )


def load_desired(inventory: Path) -> DesiredState:
    """Read desired state for every host of `inventory` (file, folder or any Ansible source)."""
    return load_checked(inventory)[1]


def hosts_matching(inventory: Path, pattern: str) -> list[str]:
    """The hosts of `inventory` that Ansible's own pattern code selects for `pattern` (a --limit)."""
    _init_ansible()
    from ansible.errors import AnsibleError

    failures: list[tuple[str, str, BaseException]] = []
    loader_class, manager_class = _ansible_parts(failures)
    with _strict_inventory():
        try:
            manager = manager_class(loader=loader_class(), sources=[str(inventory)])
        except AnsibleError as exc:
            raise _unreadable(exc, inventory, failures) from None
        try:
            manager.subset(pattern)
            return sorted(str(h.get_name()) for h in manager.get_hosts())
        except AnsibleError as exc:
            raise NoHostMatched(pattern, inventory, str(exc)) from None


@dataclass
class _Read:
    """What one pass over the inventory's hosts found (validated per host, judged as a whole after)."""

    hosts: dict[str, HostDesired] = field(default_factory=dict)
    globals: dict[str, Any] = field(default_factory=dict)
    policies: dict[str, tuple[str, Any]] = field(default_factory=dict)  # repr(value) -> (a host, value)
    problems: list[Problem] = field(default_factory=list)
    steward_hosts: list[str] = field(default_factory=list)
    deprecated: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (old, new) -> hosts
    memo: dict[Any, Any] = field(default_factory=dict)  # ParseContext.memo: shared by this read's parses


def _deprecations(deprecated: dict[tuple[str, str], list[str]]) -> tuple[str, ...]:
    lines = []
    for (old, new), hosts in sorted(deprecated.items()):
        shown = ", ".join(hosts[:5]) + (f" and {len(hosts) - 5} more" if len(hosts) > 5 else "")
        lines.append(f"{old} is the deprecated name of {new} (used for {shown}): it still works; rename it to {new}")
    return tuple(lines)


def _area_value(area: Area[Any], host: str, hv: Any, templar: Any, read: _Read, root: Path | None) -> tuple[bool, Any]:
    """(True, the area's desired value) from the area's var or a deprecated name of it; (False, None)
    with the problem recorded when it cannot be had."""
    names = [var for var in (area.var, *area.deprecated_vars) if var in hv]
    if len(names) > 1:
        old = ", ".join(names[1:])
        read.problems.append(
            (host, " / ".join(names), f"set twice: keep {area.var}, remove {old} (its deprecated name)")
        )
        return False, None
    var = names[0] if names else area.var
    if var != area.var:
        read.deprecated.setdefault((var, area.var), []).append(host)
    values: dict[str, Any] = {}
    for name in (var, *area.context_vars):  # the var, and the other host vars the area reads
        try:
            values[name] = plain(templar.template(hv.get(name)))
        except Exception as exc:  # Ansible's templating errors have no common public base
            read.problems.append((host, name, f"cannot be templated: {exc}"))
            return False, None
    raw, context_vars = values.pop(var), values
    try:
        value, problems = area.parse(host, raw, var, ParseContext(root, context_vars, read.memo))
    except SourceChanged as exc:
        raise InventoryChanged(exc.paths, exc.why) from None
    read.problems.extend(problems)
    return True, _shared(area.name, value, read.memo)


def _shared(area: str, value: Any, memo: dict[Any, Any]) -> Any:
    """One object for every host whose value for the area is the same (a fleet's services in group
    vars): 10 000 hosts then hold 20 container objects, not 200 000, and the persisted cache pickles
    them once. Only immutable (hashable) values are shared, keyed on their repr, which shows every
    field (equality would merge two containers that differ only in the var they came from)."""
    try:
        hash(value)
    except TypeError:
        return value
    return memo.setdefault(("shared", area, type(value), repr(value)), value)


def _read(manager: Any, loader: Any, root: Path | None = None) -> _Read:
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    variables = VariableManager(loader=loader, inventory=manager)
    read = _Read()
    for host in manager.get_hosts():
        name = str(host.get_name())
        if not HOST_RE.fullmatch(name):
            read.problems.append((name, "inventory_hostname", "must be a plain host name"))
            continue
        hv = variables.get_vars(host=host, include_hostvars=False)
        if any(str(k).startswith("steward_") for k in hv):
            read.steward_hosts.append(name)
        templar = Templar(loader=loader, variables=hv)
        wants: dict[str, Any] = {}
        for area in AREAS.values():
            ok, value = _area_value(area, name, hv, templar, read, root)
            if ok:
                wants[area.name] = value
        try:
            windows, window_problems = parse_windows(name, plain(templar.template(hv.get(WINDOWS_VAR))))
            read.problems.extend(window_problems)
            policy_raw = plain(templar.template(hv.get(POLICY_VAR)))
        except Exception as exc:
            read.problems.append((name, f"{WINDOWS_VAR} / {POLICY_VAR}", f"cannot be templated: {exc}"))
            continue
        if policy_raw is not None:
            read.policies.setdefault(repr(policy_raw), (name, policy_raw))
        keep = {k: hv[k] for k in KEPT_HOSTVARS if k in hv}
        for k, v in list(keep.items()):
            try:
                keep[k] = plain(templar.template(v))
            except Exception:  # informational vars only: never fatal
                keep.pop(k)
        read.hosts[name] = HostDesired(host=name, areas=wants, windows=windows, hostvars=keep)
        if "steward_state_dir" in keep:
            read.globals.setdefault("steward_state_dir", keep["steward_state_dir"])
        if DIAGNOSIS_VAR in hv and DIAGNOSIS_VAR not in read.globals:
            _keep_diagnosis(read, hv[DIAGNOSIS_VAR], templar)
        for var in TELEGRAM_VARS:  # the bot's allow-lists (group vars for all:)
            if var in hv and var not in read.globals:
                with contextlib.suppress(Exception):  # never fatal: the bot then says the allow-list is missing
                    read.globals[var] = plain(templar.template(hv[var]))
    return read


TELEGRAM_VARS = ("steward_telegram_chats", "steward_telegram_users")
# informational host vars kept as read (templated): where things are, and the node agent's (steward status)
KEPT_HOSTVARS: tuple[str, ...] = ("steward_state_dir", "steward_docker_host", "ansible_host")
KEPT_HOSTVARS += ("node_agent_enabled", "node_agent_heartbeat_seconds")


def _keep_diagnosis(read: _Read, value: Any, templar: Any) -> None:
    """`steward_diagnosis` (a group var for all:) into globals, templated; a value that cannot be
    templated is kept as its error (`steward_diagnosis!error`), so the diagnosis config reports it
    instead of silently switching diagnosis off - and the inventory stays usable for everything else."""
    try:
        read.globals[DIAGNOSIS_VAR] = plain(templar.template(value))
    except Exception as exc:  # Ansible's templating errors have no common public base
        read.globals[DIAGNOSIS_VAR] = None
        read.globals[DIAGNOSIS_VAR + "!error"] = f"cannot be templated: {exc}"
