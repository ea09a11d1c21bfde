"""What one plan cycle did, for its callers (the CLI, the `homelab.steward.plan` action, observe.yml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from steward.desired.policy import Policy


@dataclass
class CycleReport:
    skipped: bool = False
    reason: str | None = None
    cycle: int = 0
    new_actions: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    drifts: list[dict[str, Any]] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)  # key -> why no action was written
    storm: bool = False
    # drifts seen but not yet confirmed (fewer observations than confirm_after, no open action):
    # one more look at their host may turn them into actions
    confirming: list[str] = field(default_factory=list)
    confirm_after: int = Policy.confirm_after
    confirm_interval: int = Policy.confirm_interval  # seconds between event-triggered looks

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def world_unusable(errors: dict[str, str]) -> str:
    """One line naming every unusable world file and why (a skipped cycle's, or the executor's, reason)."""
    return "world state unusable: " + "; ".join(f"{name}: {why}" for name, why in sorted(errors.items()))
