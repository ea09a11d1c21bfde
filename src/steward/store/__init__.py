"""State files: atomic writes and resilient world-state loading."""

from steward.store.atomic import atomic_move, atomic_write_bytes, atomic_write_json, atomic_write_text
from steward.store.world import LastKnownGood, WorldFileError, WorldSnapshot, load_world, load_world_file

__all__ = [
    "LastKnownGood",
    "WorldFileError",
    "WorldSnapshot",
    "atomic_move",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "load_world",
    "load_world_file",
]
