"""Drift keys are `host/area/target/kind`; the plan cycle often needs one part of one."""

from __future__ import annotations


def area_of(key: str) -> str:
    return key.split("/")[1]


def target_of(key: str) -> str:
    """host/area/target of a drift key host/area/target/kind: what "one action at a time" is counted by."""
    return key.rsplit("/", 1)[0]
