"""Where things are: the project (collection) root Steward runs, the inventory and the state folder."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from steward.state.folder import ConfigError
from steward.state.paths import StatePaths

__all__ = ["ConfigError", "Settings", "find_project_dir"]


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
    ours = Path(__file__).resolve().parents[3]
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
