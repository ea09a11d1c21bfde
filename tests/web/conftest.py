"""The desk tests' fixtures live in desk_lab.py (importable by name, unlike a conftest)."""

from __future__ import annotations

from desk_lab import desk

__all__ = ["desk"]
