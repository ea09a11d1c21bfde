"""Values out of Ansible as plain Python data (what the areas parse)."""

from __future__ import annotations

from typing import Any


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
