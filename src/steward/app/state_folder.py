"""Use case: make a folder a new Steward state folder, on purpose (`steward init`).

Every other use case refuses a remembered state folder that moved or lost its marker; this is
the one that starts one anew (e.g. after it moved).
"""

from __future__ import annotations

from steward.state.folder import init as mark_state_folder
from steward.state.settings import Settings

__all__ = ["init"]


def init(settings: Settings) -> str:
    """Mark the folder and lay out its sub-folders; the marker's id."""
    marker = mark_state_folder(settings.state_dir)
    settings.paths.ensure()
    return marker
