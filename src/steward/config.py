"""Where things are: project (collection) root, inventory, state folder, and policy knobs."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from steward.paths import StatePaths
from steward.state_folder import ConfigError

__all__ = ["ConfigError", "Settings", "find_project_dir", "resolve_settings"]


def _is_project(d: Path) -> bool:
    return (d / "observe.yml").is_file() and (d / "galaxy.yml").is_file()


def find_project_dir() -> Path:
    """The collection Steward runs: $STEWARD_PROJECT_DIR, else the checkout this package is installed from.

    Never found by walking up from the current directory: a planted observe.yml + galaxy.yml +
    ansible.cfg in some parent folder must not choose which plays, plugins and config run."""
    env = os.environ.get("STEWARD_PROJECT_DIR")
    if env:
        project = Path(env).expanduser()
        if not project.is_absolute() or not _is_project(project):
            raise ConfigError(
                f"STEWARD_PROJECT_DIR={env!r} must be the absolute path of a Steward checkout "
                "(observe.yml + galaxy.yml)"
            )
        return project.resolve()
    ours = Path(__file__).resolve().parents[2]
    if _is_project(ours):
        return ours
    raise ConfigError(f"the steward package at {ours} is not inside a Steward checkout; set STEWARD_PROJECT_DIR")


@dataclass(frozen=True)
class Settings:
    project_dir: Path
    inventory: Path
    state_dir: Path

    @property
    def paths(self) -> StatePaths:
        return StatePaths(self.state_dir)

    @property
    def ansible_env(self) -> dict[str, str]:
        """Environment for every ansible run Steward starts (observe, remediation)."""
        venv_bin = str(Path(sys.executable).parent)
        path = os.environ.get("PATH", "")
        if venv_bin not in path.split(os.pathsep):
            path = venv_bin + os.pathsep + path
        return {
            "ANSIBLE_CONFIG": str(self.project_dir / "ansible.cfg"),
            "STEWARD_STATE_DIR": str(self.state_dir),
            "PATH": path,
        }


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
    from steward.desired import load_desired_cached

    value = load_desired_cached(inventory).globals.get("steward_state_dir")
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(f"steward_state_dir in {inventory} must be a path, got {value!r}")
    return value
