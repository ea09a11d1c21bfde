"""Docker: single containers (containers.py); Docker Compose projects will sit beside them (compose.py)."""
