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
  that pauses between two halves of a write is caught unless it pauses longer than that;
* an inventory without a Steward host (no host carries a ``steward_*`` variable) raises
  `NoStewardHost`: an empty or truncated file parses as an empty inventory, never as "all fine".
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steward.areas import AREAS
from steward.areas.disk import DiskRule
from steward.areas.docker.containers import Service
from steward.areas.mqtt import Broker
from steward.areas.tailscale import TailscaleWant
from steward.core.inert import terminal
from steward.core.model import DesiredStateError, Problem
from steward.desired.policy import POLICY_VAR, WINDOWS_VAR, Policy, Window, parse_policy, parse_windows

HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
__all__ = [
    "DesiredState",
    "DesiredStateError",
    "HostDesired",
    "InventoryChanged",
    "InventoryUnreadable",
    "NoHostMatched",
    "NoStewardHost",
    "Service",
    "hosts_matching",
    "load_desired",
    "load_desired_cached",
]
log = logging.getLogger(__name__)


class InventoryUnreadable(DesiredStateError):
    """An inventory source, or a group_vars/host_vars file, that Ansible could not parse."""

    def __init__(self, file: str, message: str, line: int | None = None, column: int | None = None) -> None:
        self.file, self.line, self.column, self.detail = file, line, column, message
        where = file + (f" (line {line}, column {column})" if line is not None else "")
        self.text = terminal(f"cannot parse {where}: {message}")
        self.problems = [("*", "inventory", self.text)]
        ValueError.__init__(self, self.text)


class InventoryChanged(DesiredStateError):
    """The inventory's files changed while Ansible read them: what was read may be half a write."""

    def __init__(self, files: list[str], how: str = "changed while it was read") -> None:
        self.files = files
        shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
        self.text = terminal(
            f"the inventory {how} ({shown}): nothing is planned from a half-read desired state; "
            "the next cycle reads it again"
        )
        self.problems = [("*", "inventory", self.text)]
        ValueError.__init__(self, self.text)


class NoStewardHost(DesiredStateError):
    """The inventory parsed, but no host in it carries a steward_* variable: nothing would be watched."""

    def __init__(self, inventory: Path, hosts: int) -> None:
        self.file = str(inventory)
        empty = inventory.is_file() and inventory.stat().st_size == 0
        why = "the file is empty" if empty else f"{hosts} host(s), none with a steward_* variable"
        self.text = terminal(f"no Steward host in {inventory} ({why}): nothing would be observed or planned")
        self.problems = [("*", "inventory", self.text)]
        ValueError.__init__(self, self.text)


class NoHostMatched(DesiredStateError):
    """A --limit that selects no host of the inventory."""

    def __init__(self, pattern: str, inventory: Path, why: str = "") -> None:
        self.text = terminal(
            f"--limit {pattern!r} matches no host of {inventory}{': ' + why if why else ''}; nothing observed"
        )
        self.problems = [("*", "--limit", self.text)]
        ValueError.__init__(self, self.text)


def error_fields(exc: DesiredStateError) -> dict[str, Any]:
    """Journal fields for a cycle skipped on this error: the reason, and the file/line/column when known."""
    fields: dict[str, Any] = {"reason": f"desired state unusable: {exc}"}
    for name in ("file", "line", "column", "files"):
        if getattr(exc, name, None) is not None:
            fields[name] = getattr(exc, name)
    return fields


@dataclass(frozen=True)
class HostDesired:
    host: str
    services: tuple[Service, ...] = ()
    disk: tuple[DiskRule, ...] = ()
    tailscale: TailscaleWant | None = None
    mqtt: tuple[Broker, ...] = ()
    windows: tuple[Window, ...] = ()
    hostvars: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)


@dataclass(frozen=True)
class DesiredState:
    hosts: dict[str, HostDesired]
    globals: dict[str, Any] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)


def plain(value: Any) -> Any:
    """Ansible 2.19 returns tagged str/dict/list subclasses; keep only plain Python data."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


Signature = tuple[tuple[str, int, int, int], ...]  # (real path, size, crc32, mtime_ns) per file
SETTLE_SECONDS = 0.25  # a file written more recently than this may be half written: wait, then read
_cache: dict[Path, tuple[Signature, DesiredState]] = {}


def _digest(path: str) -> tuple[int, int]:
    """(size, crc32) of the file's content now; (-1, 0) when it cannot be read (gone mid-rename)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return -1, 0
    return len(data), zlib.crc32(data)


def _mtime_ns(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


def _feeds(path: Path, vars_file: bool) -> bool:
    """Whether Ansible reads this file (editor swap and backup files do not count: no false "changed")."""
    from ansible import constants as C

    name = path.name
    if name.startswith(".") or any(name.endswith(ext) for ext in C.INVENTORY_IGNORE_EXTS):
        return False
    return not vars_file or path.suffix in (*C.YAML_FILENAME_EXTENSIONS, "")


def _signature(inventory: Path) -> Signature:
    """Every file that can feed a static inventory: the source and group_vars/host_vars beside it.

    (real path, size, crc32 of the content, mtime): an edit within the same clock tick is still seen
    (content), and so is one that wrote the same bytes again (mtime)."""
    root = inventory if inventory.is_dir() else inventory.parent
    files = [inventory] if inventory.is_file() else []
    for sub in ("group_vars", "host_vars"):
        if (root / sub).is_dir():
            files += sorted(p for p in (root / sub).rglob("*") if p.is_file() and _feeds(p, vars_file=True))
    if inventory.is_dir():
        files += sorted(p for p in inventory.rglob("*") if p.is_file() and _feeds(p, vars_file=False))
    out = {os.path.realpath(f): (*_digest(str(f)), _mtime_ns(str(f))) for f in files}
    return tuple((path, *digest) for path, digest in sorted(out.items()))


def _young(sig: Signature) -> list[str]:
    """Files written less than SETTLE_SECONDS ago (a writer may be between two halves)."""
    now = time.time_ns()
    return [path for path, _s, _c, mtime in sig if abs(now - mtime) < SETTLE_SECONDS * 1e9]


def _settled_signature(inventory: Path) -> Signature:
    """The signature once no file was written for SETTLE_SECONDS (waited for once), else InventoryChanged."""
    sig = _signature(inventory)
    if _young(sig):
        time.sleep(SETTLE_SECONDS)
        sig = _signature(inventory)
        if young := _young(sig):
            raise InventoryChanged(young, "is being written")
    return sig


def load_desired_cached(inventory: Path) -> DesiredState:
    """load_desired, reused while no inventory file changed (long-running processes, benchmarks).

    Only for inventories made of files: an executable or plugin source is re-read every time."""
    static = inventory.is_dir() or inventory.suffix in (".yml", ".yaml", ".ini", ".json", "")
    if not static or not os.access(inventory, os.R_OK) or (inventory.is_file() and os.access(inventory, os.X_OK)):
        return load_desired(inventory)
    hit = _cache.get(inventory)
    if hit and hit[0] == _signature(inventory):
        return hit[1]  # byte for byte the files of a load that was checked whole
    sig, desired = _load_checked(inventory)
    _cache[inventory] = (sig, desired)
    return desired


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
            except Exception as exc:
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


def _check_whole(inventory: Path, before: Signature, reads: list[tuple[str, int, int]]) -> None:
    """InventoryChanged unless the files are as they were, and each read Ansible did got exactly that content."""
    after = _signature(inventory)
    moved = {p for p, *_ in set(before) ^ set(after)}
    now = {p: (size, crc) for p, size, crc, _mtime in after}
    for path, size, crc in reads:
        if now.get(path, _digest(path)) != (size, crc):
            moved.add(path)
    if moved:
        raise InventoryChanged(sorted(moved))


def _load_checked(inventory: Path) -> tuple[Signature, DesiredState]:
    """load_desired, and the signature the files had during the whole of it."""
    _init_ansible()
    if not inventory.exists():
        raise DesiredStateError([("*", "inventory", f"{inventory} does not exist")])
    before = _settled_signature(inventory)
    failures: list[tuple[str, str, BaseException]] = []
    loader_class, manager_class = _ansible_parts(failures)
    loader = loader_class()
    try:
        with _strict_inventory():
            read = _read(manager_class(loader=loader, sources=[str(inventory)]), loader)
    except Exception as exc:
        _check_whole(inventory, before, loader.reads)  # a parse that raced a writer: changed, not broken
        from ansible.errors import AnsibleError

        if isinstance(exc, AnsibleError):
            raise _unreadable(exc, inventory, failures, loader.attempt) from None
        raise
    _check_whole(inventory, before, loader.reads)
    hosts, globals_, policies, problems, steward_hosts = read
    policy = Policy()
    if len(policies) > 1:
        names = ", ".join(sorted(h for h, _ in policies.values()))
        problems.append(("all", POLICY_VAR, f"differs between hosts ({names}): set it once, in group all"))
    elif policies:
        policy, policy_problems = parse_policy(next(iter(policies.values()))[1])
        problems.extend(policy_problems)
    if problems:
        raise DesiredStateError(problems)
    if not steward_hosts:
        raise NoStewardHost(inventory, len(hosts))
    return before, DesiredState(hosts=hosts, globals=globals_, policy=policy)


def load_desired(inventory: Path) -> DesiredState:
    """Read desired state for every host of `inventory` (file, folder or any Ansible source)."""
    return _load_checked(inventory)[1]


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


def _read(
    manager: Any, loader: Any
) -> tuple[dict[str, HostDesired], dict[str, Any], dict[str, tuple[str, Any]], list[Problem], list[str]]:
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    variables = VariableManager(loader=loader, inventory=manager)
    hosts: dict[str, HostDesired] = {}
    problems: list[Problem] = []
    globals_: dict[str, Any] = {}
    policies: dict[str, tuple[str, Any]] = {}
    steward_hosts: list[str] = []
    for host in manager.get_hosts():
        name = str(host.get_name())
        if not HOST_RE.fullmatch(name):
            problems.append((name, "inventory_hostname", "must be a plain host name"))
            continue
        hv = variables.get_vars(host=host, include_hostvars=False)
        if any(str(k).startswith("steward_") for k in hv):
            steward_hosts.append(name)
        templar = Templar(loader=loader, variables=hv)
        parsed: dict[str, Any] = {}
        for area in AREAS.values():
            try:
                raw = plain(templar.template(hv.get(area.VAR)))
            except Exception as exc:  # Ansible's templating errors have no common public base
                problems.append((name, area.VAR, f"cannot be templated: {exc}"))
                continue
            value, area_problems = area.parse(name, raw)
            problems.extend(area_problems)
            parsed[area.FIELD] = value
        try:
            windows, window_problems = parse_windows(name, plain(templar.template(hv.get(WINDOWS_VAR))))
            problems.extend(window_problems)
            parsed["windows"] = windows
            policy_raw = plain(templar.template(hv.get(POLICY_VAR)))
        except Exception as exc:  # noqa: BLE001 - Ansible templating errors
            problems.append((name, f"{WINDOWS_VAR} / {POLICY_VAR}", f"cannot be templated: {exc}"))
            continue
        if policy_raw is not None:
            policies.setdefault(repr(policy_raw), (name, policy_raw))
        keep = {k: hv[k] for k in ("steward_state_dir", "steward_docker_host", "ansible_host") if k in hv}
        for k, v in list(keep.items()):
            try:
                keep[k] = plain(templar.template(v))
            except Exception:  # noqa: BLE001 - informational vars only
                keep.pop(k)
        hosts[name] = HostDesired(host=name, hostvars=keep, **parsed)
        if "steward_state_dir" in keep:
            globals_.setdefault("steward_state_dir", keep["steward_state_dir"])
    return hosts, globals_, policies, problems, steward_hosts
