#!/usr/bin/env bash
# Benchmark: does observing a host cost about as little as pinging it?
#
#   bench/observe_cost/run.sh [--variants] [N ...]        default N: 1 4 16; as root
#
# In one run, on the same namespace lab hosts (lab/up.sh h01 ... hMAX, one sshd and one dockerd
# each, 3 containers per host), for every N: `ansible -m ping`, `ansible -m setup` and
# `ansible-playbook observe.yml` with all four checks (docker: the host's own dockerd; disk: "/";
# mqtt: a mosquitto this script starts on the lab bridge; tailscale: tests/fake_tailscaled.py),
# each REPS times (default 3, median), after one warm-up round so every ssh ControlPersist master
# is up. --variants also times the rejected designs in bench/observe_cost/variants/.
# Prints a table and writes bench/observe_cost/results/latest.json. Tears everything down.
#
# Environment: BENCH_REPS (3), BENCH_PYTHON (/usr/bin/python3, the hosts' interpreter),
# BENCH_KEEP_WORK=1 keeps the temp folder (logs, inventories).
set -euo pipefail
# measured as installed: Python writes and reuses bytecode caches. This machine's environment sets
# PYTHONDONTWRITEBYTECODE=1, which makes every Python start (Ansible's as well as steward's) compile its modules.
unset PYTHONDONTWRITEBYTECODE

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/bench/observe_cost
export PATH=$ROOT/.venv/bin:$PATH
REPS=${BENCH_REPS:-3}
PY=${BENCH_PYTHON:-/usr/bin/python3}

VARIANTS=()
if [[ ${1:-} == --variants ]]; then VARIANTS=(--variants); shift; fi
SIZES=("$@")
((${#SIZES[@]})) || SIZES=(1 4 16)
MAX=0
for n in "${SIZES[@]}"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench: bad N '$n'" >&2; exit 2; }
  ((n > MAX)) && MAX=$n
done

[[ $(id -u) -eq 0 ]] || { echo "bench: must run as root (the lab needs namespaces and dockerd)" >&2; exit 1; }
command -v mosquitto >/dev/null || { echo "bench: mosquitto not found (apt-get install mosquitto)" >&2; exit 1; }
# lab/down.sh removes every stw-* namespace and the stw0 bridge: never run next to another lab.
if ip link show dev stw0 >/dev/null 2>&1; then
  echo "bench: a lab is already up (bridge stw0); tear it down first (lab/down.sh)" >&2
  exit 1
fi

WORK=$(mktemp -d /tmp/stwb.XXXXXX)
export STEWARD_LAB_DIR=$WORK/lab       # short: unix socket paths must stay < 108 bytes
MQTT_PID=""
TS_PIDFILE=$WORK/tailscaled.pid

cleanup() {
  local rc=$?
  set +e
  [[ -n $MQTT_PID ]] && kill "$MQTT_PID" 2>/dev/null && wait "$MQTT_PID" 2>/dev/null
  if [[ -s $TS_PIDFILE ]]; then kill "$(<"$TS_PIDFILE")" 2>/dev/null; fi
  "$ROOT/lab/down.sh" >&2
  if [[ ${BENCH_KEEP_WORK:-0} == 1 ]]; then echo "bench: work folder kept: $WORK" >&2; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT

HOSTS=()
for ((i = 1; i <= MAX; i++)); do HOSTS+=("$(printf 'h%02d' "$i")"); done
"$ROOT/lab/up.sh" "${HOSTS[@]}" >&2

# Three containers per host: a Compose project "app" (web, running with a passing health check;
# worker, running) in the host's compose folder, as Steward deploys one, and a single container
# that exited. The project folder is the inventory's (services/app/ beside the bench inventories).
IMAGE=steward-lab/busybox:1
mkdir -p "$WORK/services/app"
cat >"$WORK/services/app/compose.yml" <<EOF
services:
  web:
    image: $IMAGE
    network_mode: none
    command: ["sleep", "100000"]
    healthcheck: {test: ["CMD", "true"], interval: 5s}
  worker:
    image: $IMAGE
    network_mode: none
    command: ["sleep", "100000"]
EOF
pids=()
for h in "${HOSTS[@]}"; do
  (
    d() { docker -H "unix://$STEWARD_LAB_DIR/hosts/$h/docker.sock" "$@" >/dev/null; }
    dir=$STEWARD_LAB_DIR/hosts/$h/compose/app
    mkdir -p "$dir" && cp "$WORK/services/app/compose.yml" "$dir/"
    env -i PATH="$PATH" HOME="$HOME" docker -H "unix://$STEWARD_LAB_DIR/hosts/$h/docker.sock" compose \
      --project-directory "$dir" -p app up -d >/dev/null 2>&1
    d run --name oneshot --network none "$IMAGE" true
  ) &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done

# Mosquitto on the lab bridge, so every namespace host reaches it at 198.18.0.1.
MQTT_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("198.18.0.1", 0)); print(s.getsockname()[1])')
cat >"$WORK/mosquitto.conf" <<EOF
listener $MQTT_PORT 198.18.0.1
allow_anonymous true
persistence false
log_dest stderr
EOF
mosquitto -c "$WORK/mosquitto.conf" 2>"$WORK/mosquitto.log" &
MQTT_PID=$!
for _ in $(seq 50); do
  timeout 1 bash -c "exec 3<>/dev/tcp/198.18.0.1/$MQTT_PORT" 2>/dev/null && break
  sleep 0.1
done

# Tailscale cannot run here: one fake tailscaled (a real unix-socket HTTP server) for all hosts;
# the namespaces share the filesystem, so every host sees the socket.
TS_SOCKET=$WORK/tailscaled.sock
TS_EXPECTED=ok
if [[ -f $ROOT/tests/fake_tailscaled.py ]]; then
  python3 "$ROOT/tests/fake_tailscaled.py" --socket "$TS_SOCKET" --scenario running \
    --daemon --pidfile "$TS_PIDFILE" --log "$WORK/tailscaled.log"
else
  TS_SOCKET=$WORK/no-tailscaled.sock   # the check then reports status "absent"
  TS_EXPECTED=absent
fi

python3 "$HERE/bench.py" "${VARIANTS[@]}" --lab-dir "$STEWARD_LAB_DIR" --work "$WORK" \
  --mqtt-port "$MQTT_PORT" --tailscale-socket "$TS_SOCKET" --tailscale-expected "$TS_EXPECTED" \
  --python "$PY" --reps "$REPS" --out "$HERE/results/latest.json" "${SIZES[@]}"
