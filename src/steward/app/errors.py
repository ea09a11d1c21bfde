"""The errors a use case raises, in one place: what an interface (CLI, web page, bot) must tell apart.

- `InventoryChanged`: the inventory changed while it was read; nothing is wrong, try again.
- `DesiredStateError` (and `NoHostMatched`): the inventory cannot be used, or a limit names no
  host of it; the message is one line naming the file (line, column) or the host and variable.
- `BadActionId`, `QueueError`, `ConfigError`, `SilenceError`, `NothingToClear`, `NoStorm`:
  the request cannot be done as asked (no such action, not pending any more, no reason given...).
- `UnsafeStateDir` and `OSError`: the state folder cannot be trusted or used; nothing was done.

The CLI maps these to its exit codes (interfaces/cli/main.py); the web page will map them to
its answers. A `QueueError` already says the action's real state ("is in approved/").
"""

from __future__ import annotations

from steward.desired.inventory import DesiredStateError, InventoryChanged, NoHostMatched
from steward.state.actions import ActionNotFound, BadActionId, QueueError
from steward.state.folder import ConfigError, UnsafeStateDir
from steward.state.silences import SilenceError


class NothingToClear(ValueError):
    """`clear KEY` for a drift key with no failed remediations: there is no escalation to lift."""


class NoStorm(ValueError):
    """`ack-storm` while the storm breaker holds nothing back."""


__all__ = [
    "ActionNotFound",
    "BadActionId",
    "ConfigError",
    "DesiredStateError",
    "InventoryChanged",
    "NoHostMatched",
    "NoStorm",
    "NothingToClear",
    "QueueError",
    "SilenceError",
    "UnsafeStateDir",
]
