"""Where things are: project (collection) root, inventory, state folder, and policy knobs."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from steward.paths import StatePaths


class ConfigError(ValueError):
    pass


def find_project_dir(start: Path | None = None) -> Path:
    """The checkout holding observe.yml and galaxy.yml: $STEWARD_PROJECT_DIR, cwd upwards, or ours."""
    env = os.environ.get("STEWARD_PROJECT_DIR")
    if env:
        return Path(env).resolve()
    candidates = [start or Path.cwd(), Path(__file__).resolve().parents[2]]
    for base in candidates:
        for d in (base, *base.parents):
            if (d / "observe.yml").is_file() and (d / "galaxy.yml").is_file():
                return d
    raise ConfigError("cannot find the Steward checkout (observe.yml + galaxy.yml); set STEWARD_PROJECT_DIR")


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
    state = Path(state_value)
    if not state.is_absolute():
        state = project / state
    return Settings(project_dir=project, inventory=inv.resolve(), state_dir=state.resolve())


def _state_dir_from_inventory(inventory: Path) -> str | None:
    from steward.desired import DesiredStateError, load_desired

    try:
        return load_desired(inventory).globals.get("steward_state_dir")
    except DesiredStateError:
        return None
