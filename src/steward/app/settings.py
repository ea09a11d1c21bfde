"""Resolve the settings one run uses: flags, then the environment, then the inventory's `steward_state_dir`.

`recheck()` before a run (each CLI start): the state folder is checked anew (owner, modes,
marker) on its first use, not once per process."""

from __future__ import annotations

import os
from pathlib import Path

from steward.desired.cached import load_desired_cached
from steward.state.folder import ConfigError
from steward.state.paths import recheck
from steward.state.settings import Settings, find_project_dir

__all__ = ["ConfigError", "Settings", "find_project_dir", "recheck", "resolve_settings"]


def resolve_settings(
    inventory: str | None = None, state_dir: str | None = None, project_dir: Path | None = None
) -> Settings:
    """Flags win, then STEWARD_INVENTORY / STEWARD_STATE_DIR, then the inventory var, then ./state."""
    project = project_dir or find_project_dir()
    inv_value = inventory or os.environ.get("STEWARD_INVENTORY") or "inventory/hosts.yml"
    inv = Path(inv_value)
    if not inv.is_absolute():
        inv = (Path.cwd() / inv) if (Path.cwd() / inv).exists() else (project / inv)
    state_value = state_dir or os.environ.get("STEWARD_STATE_DIR")
    if not state_value:
        state_value = _state_dir_from_inventory(inv) or "state"
    state = Path(state_value).expanduser()
    if not state.is_absolute():
        state = project / state
    return Settings(project_dir=project, inventory=inv.resolve(), state_dir=state.resolve())


def _state_dir_from_inventory(inventory: Path) -> str | None:
    """`steward_state_dir` from the inventory; an inventory that cannot be read is an error, never ./state.

    Falling back to the default would let approve, silence or ack-storm act on another folder
    with another key (DesiredStateError propagates: exit 2 with the reason)."""
    value = load_desired_cached(inventory).globals.get("steward_state_dir")
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(f"steward_state_dir in {inventory} must be a path, got {value!r}")
    return value
