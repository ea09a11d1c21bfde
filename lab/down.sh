#!/usr/bin/env bash
# Tear the Steward local lab down completely (see lab/up.sh). Idempotent: succeeds when
# nothing is up. Only processes the lab started are stopped, by the PIDs it recorded.
set -euo pipefail

LAB_DIR="${STEWARD_LAB_DIR:-/tmp/steward-lab}"
BRIDGE=stw0
MARKER=.steward-lab

log() { printf 'lab: %s\n' "$*" >&2; }
now_us() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }
T0=$(now_us)

if [[ $(id -u) -ne 0 ]]; then
  log "must run as root"; exit 1
fi
[[ $LAB_DIR == /* && $LAB_DIR != / ]] || { log "bad STEWARD_LAB_DIR: $LAB_DIR"; exit 1; }

# The event path first (lab/events-up.sh): its rulebook, agents and Redis, by their pidfiles.
if [[ -d $LAB_DIR/events ]]; then
  STEWARD_LAB_DIR=$LAB_DIR "$(dirname "$0")/events-down.sh"
fi

# PID from a pid file, if alive and its command line contains every needle.
pid_of() { # pidfile needle...
  local pidfile=$1 pid cmdline n; shift
  [[ -s $pidfile ]] || return 1
  pid=$(<"$pidfile"); [[ $pid =~ ^[0-9]+$ ]] || return 1
  cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  for n in "$@"; do [[ $cmdline == *"$n"* ]] || return 1; done
  echo "$pid"
}

wait_gone() { # seconds pid...
  local secs=$1 p left; shift
  local deadline=$(( $(now_us) + secs * 1000000 ))
  while :; do
    left=()
    for p in "$@"; do kill -0 "$p" 2>/dev/null && left+=("$p"); done
    ((${#left[@]})) || return 0
    (( $(now_us) < deadline )) || { echo "${left[*]}"; return 1; }
    set -- "${left[@]}"
    sleep 0.1
  done
}

# 1. Ansible's ssh ControlPersist masters (they keep sessions inside the namespaces).
if [[ -d $LAB_DIR/cp ]]; then
  for s in "$LAB_DIR"/cp/*; do
    [[ -S $s ]] || continue
    timeout 5 ssh -o ControlPath="$s" -O exit steward-lab >/dev/null 2>&1 || true
    rm -f "$s"
  done
fi

# 1b. Steward node agents the node_agent role started in a host (lab inventory: the agent's
#     folder is hosts/<host>/agent); TERM lets the supervisor stop its worker too.
AGENT_PIDS=()
for pf in "$LAB_DIR"/hosts/*/agent/agent.pid; do
  [[ -e $pf ]] || continue
  if pid=$(pid_of "$pf" steward_node_agent.py "$LAB_DIR"); then
    kill "$pid" 2>/dev/null || true
    AGENT_PIDS+=("$pid")
  fi
done
if ((${#AGENT_PIDS[@]})); then
  if left=$(wait_gone 10 "${AGENT_PIDS[@]}"); then :; else kill -9 $left 2>/dev/null || true; fi
fi

# 2. sshd per namespace.
SSHD_PIDS=()
for pf in "$LAB_DIR"/hosts/*/sshd.pid; do
  [[ -e $pf ]] || continue
  if pid=$(pid_of "$pf" sshd "$LAB_DIR"); then
    kill "$pid" 2>/dev/null || true
    SSHD_PIDS+=("$pid")
  fi
done
if ((${#SSHD_PIDS[@]})); then
  if left=$(wait_gone 5 "${SSHD_PIDS[@]}"); then :; else
    log "sshd did not stop in 5s, killing: $left"; kill -9 $left 2>/dev/null || true
  fi
fi

# 3. dockerd per host (it stops its containers and its containerd on SIGTERM).
DOCKERD_PIDS=()
for pf in "$LAB_DIR"/hosts/*/docker.pid; do
  [[ -e $pf ]] || continue
  sock="$(dirname "$pf")/docker.sock"
  if pid=$(pid_of "$pf" dockerd "$sock"); then
    kill "$pid" 2>/dev/null || true
    DOCKERD_PIDS+=("$pid")
  fi
done
if ((${#DOCKERD_PIDS[@]})); then
  if left=$(wait_gone 40 "${DOCKERD_PIDS[@]}"); then :; else
    log "dockerd did not stop in 40s, killing: $left"; kill -9 $left 2>/dev/null || true
    wait_gone 5 $left >/dev/null || true
  fi
fi

# 3b. Leftovers of a dockerd that was killed hard (SIGKILL, crash): its containers keep
# running under orphaned containerd shims. Their init PIDs are in containerd's state
# below this lab's exec-root; a PID counts only if its cgroup names that container.
if [[ -d $LAB_DIR/hosts ]]; then
  INITS=(); STRAY=()
  for pidf in "$LAB_DIR"/hosts/*/x/containerd/daemon/io.containerd.runtime.v2.task/*/*/init.pid; do
    [[ -s $pidf ]] || continue
    id=$(basename "$(dirname "$pidf")"); pid=$(<"$pidf")
    [[ $pid =~ ^[0-9]+$ ]] || continue
    if grep -qs "$id" "/proc/$pid/cgroup"; then INITS+=("$pid"); fi
  done
  if ((${#INITS[@]})); then
    log "killing containers left by a dead dockerd: ${INITS[*]}"
    kill -9 "${INITS[@]}" 2>/dev/null || true
    wait_gone 5 "${INITS[@]}" >/dev/null || true
  fi
  for hd in "$LAB_DIR"/hosts/*/; do
    x="${hd}x"
    [[ -d $x ]] || continue
    if pid=$(pid_of "$x/containerd/containerd.pid" containerd "$x/"); then STRAY+=("$pid"); fi
  done
  for p in /proc/[0-9]*; do
    mapfile -d '' -t argv 2>/dev/null <"$p/cmdline" || continue
    [[ ${argv[0]:-} == *containerd-shim* ]] || continue
    if [[ " ${argv[*]} " == *" $LAB_DIR/hosts/"* ]]; then STRAY+=("${p#/proc/}"); fi
  done
  if ((${#STRAY[@]})); then
    log "stopping leftover containerd/shim processes: ${STRAY[*]}"
    kill "${STRAY[@]}" 2>/dev/null || true
    if left=$(wait_gone 5 "${STRAY[@]}"); then :; else kill -9 $left 2>/dev/null || true; fi
  fi
fi

# 4. Anything still running inside the lab's namespaces was started through the lab's
# sshd (ssh sessions, module runs): stop it by PID so the namespaces can go away.
for nsf in /run/netns/stw-*; do
  [[ -e $nsf ]] || continue
  ns=${nsf##*/}
  mapfile -t NSP < <(ip netns pids "$ns" 2>/dev/null || true)
  if ((${#NSP[@]})); then
    log "stopping processes left in $ns: ${NSP[*]}"
    kill "${NSP[@]}" 2>/dev/null || true
    if left=$(wait_gone 5 "${NSP[@]}"); then :; else kill -9 $left 2>/dev/null || true; fi
  fi
done

# 5. Network: veths, namespaces, bridge.
while read -r link; do
  if [[ -n $link ]]; then ip link del dev "$link" 2>/dev/null || true; fi
done < <(ip -o link show type veth 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^stwv[0-9]+$' || true)
for nsf in /run/netns/stw-*; do
  [[ -e $nsf ]] || continue
  ip netns del "${nsf##*/}" 2>/dev/null || log "could not delete netns ${nsf##*/}"
done
if ip link show dev "$BRIDGE" >/dev/null 2>&1; then
  ip link del dev "$BRIDGE" || log "could not delete bridge $BRIDGE"
fi

# 6. The lab folder: unmount whatever is left below it (deepest first), then remove it.
if [[ -d $LAB_DIR ]]; then
  mapfile -t MNTS < <(awk -v d="$LAB_DIR/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r)
  for m in "${MNTS[@]+"${MNTS[@]}"}"; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
  done
  if [[ -e $LAB_DIR/$MARKER ]]; then
    rm -rf "$LAB_DIR"
  else
    log "$LAB_DIR has no $MARKER marker: not removing it"
  fi
fi

el=$(( $(now_us) - T0 ))
printf 'lab down in %d.%02ds\n' $((el / 1000000)) $((el % 1000000 / 10000))
