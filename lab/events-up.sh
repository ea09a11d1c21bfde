#!/usr/bin/env bash
# Bring up the event path on the local lab, the way docs/operations.md sets it up on a controller:
# a dedicated Redis (its own config, folder, ACL users with generated passwords, its own port),
# the node agent on every lab host, and ansible-rulebook with rulebooks/steward.yml.
#
#   lab/up.sh                      first: the lab hosts themselves
#   lab/events-up.sh               idempotent: starts what is not running, checks what is
#   source /tmp/steward-lab/events/env && steward status      the event path's health
#   lab/events-down.sh [--purge]   stops the rulebook, the agents and Redis (--purge: its data too)
#
# Everything lives in $STEWARD_LAB_DIR/events (default /tmp/steward-lab/events):
#   redis.conf, users.acl (0600), data/ (append-only file), redis.pid, redis.log,
#   env (0600: STEWARD_REDIS_URL and the rest, for `source`), rulebook.pid, rulebook.log
#
# Environment:
#   STEWARD_LAB_DIR          the lab folder (as lab/up.sh)
#   STEWARD_LAB_REDIS_PORT   the lab Redis's port (default 6390: not 6379, which a Debian redis-server may hold)
#   STEWARD_STATE_DIR        the state folder the rulebook plans into (default ./state; made absolute)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
LAB_DIR="${STEWARD_LAB_DIR:-/tmp/steward-lab}"
EV="$LAB_DIR/events"
PORT="${STEWARD_LAB_REDIS_PORT:-6390}"
STATE="${STEWARD_STATE_DIR:-$REPO/state}"
[[ $STATE == /* ]] || STATE="$REPO/$STATE"  # absolute: the rulebook runs its playbooks from a copy
INVENTORY="$REPO/lab/inventory"             # the folder: group_vars/ and services/ travel along
BRIDGE_IP=198.18.0.1
HOSTS=(saturn piha)                         # the hosts of lab/inventory/hosts.yml
[[ -x $REPO/.venv/bin/ansible-rulebook ]] && export PATH="$REPO/.venv/bin:$PATH"

log() { printf 'events: %s\n' "$*" >&2; }
die() { printf 'events: ERROR: %s\n' "$*" >&2; exit 1; }
alive() { # pidfile needle: the PID in the file runs a command line holding needle
  local pid
  [[ -s $1 ]] || return 1
  pid=$(<"$1")
  [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"
}

for cmd in redis-server redis-cli openssl ansible-playbook ansible-rulebook; do
  command -v "$cmd" >/dev/null || die "'$cmd' not found (scripts/bootstrap.sh installs it)"
done
[[ -d $LAB_DIR/hosts/saturn && -d $LAB_DIR/hosts/piha ]] || die "the lab is not up: run lab/up.sh first"

# ---------------------------------------------------------------- 1. Redis, dedicated
install -d -m 700 "$EV" "$EV/data"
if [[ ! -s $EV/users.acl ]]; then
  log "generating passwords and ACL users in $EV/users.acl"
  umask 077
  {
    echo "user default off resetpass ~* &* +@all"
    echo "user steward on >$(openssl rand -hex 24) ~steward:* resetchannels -@all +@stream +ping +hello +client|setname"
    for h in "${HOSTS[@]}"; do
      echo "user node-$h on >$(openssl rand -hex 24) ~steward:events resetchannels -@all +xadd"
    done
  } >"$EV/users.acl"
  umask 022
fi
cat >"$EV/redis.conf" <<EOF
# Steward's own Redis (lab): loopback for the controller, the lab bridge for the node agents
bind 127.0.0.1 $BRIDGE_IP
port $PORT
protected-mode no
aclfile $EV/users.acl
dir $EV/data
appendonly yes
appendfsync always
save ""
daemonize yes
pidfile $EV/redis.pid
logfile $EV/redis.log
EOF
chmod 600 "$EV/redis.conf"
password() { awk -v u="$1" '$1 == "user" && $2 == u { for (i = 3; i <= NF; i++) if ($i ~ /^>/) print substr($i, 2) }' "$EV/users.acl"; }
CONTROLLER_PASSWORD=$(password steward)
# the password through the environment, never on a command line other users can read in ps
rcli() { REDISCLI_AUTH="$CONTROLLER_PASSWORD" redis-cli -p "$PORT" --user steward --no-auth-warning "$@"; }
if alive "$EV/redis.pid" redis-server; then
  log "redis already runs (pid $(<"$EV/redis.pid"), port $PORT)"
else
  log "starting redis-server $EV/redis.conf (port $PORT)"
  redis-server "$EV/redis.conf"
fi
for _ in $(seq 100); do
  [[ $(rcli ping 2>/dev/null) == PONG ]] && break
  sleep 0.1
done
[[ $(rcli ping 2>/dev/null) == PONG ]] || die "redis does not answer the controller's login on port $PORT; see $EV/redis.log"

# ---------------------------------------------------------------- 2. the environment, for `source`
umask 077
{
  echo "export STEWARD_REDIS_URL=redis://steward:$CONTROLLER_PASSWORD@127.0.0.1:$PORT/0"
  echo "export STEWARD_STATE_DIR=$STATE"
  echo "export STEWARD_INVENTORY=$INVENTORY/hosts.yml"
  echo "export STEWARD_LAB_DIR=$LAB_DIR"
  echo "export STEWARD_LAB_REDIS_PORT=$PORT"
  for h in "${HOSTS[@]}"; do echo "export STEWARD_LAB_REDIS_PASSWORD_${h^^}=$(password "node-$h")"; done
  echo "export ANSIBLE_CONFIG=$REPO/ansible.cfg"
  echo "export ANSIBLE_COLLECTIONS_PATH=$REPO/collections"
  echo "export ANSIBLE_CALLBACKS_ENABLED=homelab.steward.events"
} >"$EV/env"
umask 022
# shellcheck disable=SC1091
source "$EV/env"
mkdir -p "$STATE"

# ---------------------------------------------------------------- 3. the node agents
log "deploying the node agent to ${HOSTS[*]} (playbooks/node_agent.yml)"
ansible-playbook -i "$INVENTORY/hosts.yml" playbooks/node_agent.yml >"$EV/agents.log" 2>&1 \
  || { tail -n 30 "$EV/agents.log" >&2; die "the node agents could not be deployed (whole output: $EV/agents.log)"; }

# ---------------------------------------------------------------- 4. the rulebook
if alive "$EV/rulebook.pid" ansible-rulebook; then
  log "the rulebook already runs (pid $(<"$EV/rulebook.pid"))"
else
  log "starting ansible-rulebook -r rulebooks/steward.yml -i $INVENTORY (log $EV/rulebook.log)"
  setsid nohup ansible-rulebook -r rulebooks/steward.yml -i "$INVENTORY" -E STEWARD_REDIS_URL \
    </dev/null >>"$EV/rulebook.log" 2>&1 &
  echo $! >"$EV/rulebook.pid"
  # ready once its source is a consumer of the group (a new group starts at the stream's end); a line
  # that is exactly "name": the NOGROUP error before the group exists also holds the word ("key name")
  for _ in $(seq 600); do
    alive "$EV/rulebook.pid" ansible-rulebook || { tail -n 20 "$EV/rulebook.log" >&2; die "the rulebook stopped"; }
    rcli XINFO CONSUMERS steward:events steward-eda 2>/dev/null | grep -qx name && break
    sleep 0.1
  done
  rcli XINFO CONSUMERS steward:events steward-eda 2>/dev/null | grep -qx name || die "the rulebook's source did not start reading within 60 s; see $EV/rulebook.log"
fi
log "up: source $EV/env, then steward status (or steward events tail --follow); lab/events-down.sh to stop"
