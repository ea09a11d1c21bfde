#!/usr/bin/env bash
# Run the docker CLI against one lab host's own dockerd:
#   lab/docker.sh HOST ARGS...      e.g. lab/docker.sh piha stop -t 1 mqtt
set -euo pipefail
LAB_DIR="${STEWARD_LAB_DIR:-/tmp/steward-lab}"
if (($# < 1)); then
  echo "usage: ${0##*/} HOST [DOCKER ARGS...]" >&2
  exit 2
fi
host=$1; shift
sock="$LAB_DIR/hosts/$host/docker.sock"
if [[ ! -S $sock ]]; then
  echo "${0##*/}: no docker socket for lab host '$host' ($sock); is the lab up? (lab/up.sh)" >&2
  exit 1
fi
exec docker -H "unix://$sock" "$@"
