"""Why a desired state cannot be used: each error names the file (line, column), the host and var,
or the files that changed, in one line; `error_fields` gives the journal's fields for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from steward.core.inert import terminal
from steward.core.model import DesiredStateError


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
