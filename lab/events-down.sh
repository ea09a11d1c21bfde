#!/usr/bin/env bash
# Stop the lab's event path (lab/events-up.sh): the rulebook, the node agents, then Redis. Each by
# the PID it recorded, its command line checked first. Idempotent: succeeds when nothing runs.
#
#   lab/events-down.sh           keeps $STEWARD_LAB_DIR/events (Redis's data, logs, passwords)
#   lab/events-down.sh --purge   and removes that folder
set -euo pipefail
LAB_DIR="${STEWARD_LAB_DIR:-/tmp/steward-lab}"
EV="$LAB_DIR/events"
log() { printf 'events: %s\n' "$*" >&2; }
pid_of() { # pidfile needle
  local pid
  [[ -s $1 ]] || return 1
  pid=$(<"$1")
  [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" && echo "$pid"
}
stop() { # name signal seconds pid: the signal, then SIGKILL once the seconds are up
  local name=$1 sig=$2 secs=$3 pid=$4
  log "stopping $name (pid $pid, SIG$sig)"
  kill -s "$sig" "$pid" 2>/dev/null || return 0
  for _ in $(seq $((secs * 10))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  log "$name did not stop within $secs s: SIGKILL"
  kill -s KILL "$pid" 2>/dev/null || true
}

# 1. the rulebook (SIGINT: ansible-rulebook's own clean shutdown); its whole session
if pid=$(pid_of "$EV/rulebook.pid" ansible-rulebook); then
  stop rulebook INT 20 "$pid"
  pkill -KILL -s "$pid" 2>/dev/null || true  # playbooks it still ran (setsid: its session id is its pid)
fi
rm -f "$EV/rulebook.pid"

# 2. the node agents (each host's supervisor; it stops its worker)
for pidfile in "$LAB_DIR"/hosts/*/agent/agent.pid; do
  [[ -e $pidfile ]] || continue
  if pid=$(pid_of "$pidfile" steward_node_agent.py); then
    stop "agent $(basename "$(dirname "$(dirname "$pidfile")")")" TERM 10 "$pid"
  fi
  rm -f "$pidfile"
done

# 3. Redis (SIGTERM: it fsyncs its append-only file and exits)
if pid=$(pid_of "$EV/redis.pid" redis-server); then
  stop redis TERM 20 "$pid"
fi

if [[ ${1:-} == --purge ]]; then
  [[ $EV == */events && -d $EV ]] && rm -rf -- "$EV" && log "removed $EV"
fi
log "down"
