"""One module per observed area: how its desired-state var is parsed, how drift is found in its
world-state check, and which remediation (if any) a drift of that area gets."""

from steward.areas import disk, mqtt, tailscale
from steward.areas.docker import containers as docker

AREAS = {"docker": docker, "disk": disk, "tailscale": tailscale, "mqtt": mqtt}

__all__ = ["AREAS"]
