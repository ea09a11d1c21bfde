"""Steward controller: world store, drift engine, action queue, executor, CLI."""

__version__ = "0.1.0"
