"""The diagnosis tests' fixtures live in diagnose_lab.py (importable by name, unlike a conftest)."""

from __future__ import annotations

from diagnose_lab import config, lab, server

__all__ = ["config", "lab", "server"]
