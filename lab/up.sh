#!/usr/bin/env bash
# Bring up the Steward local lab: one network namespace + sshd + dockerd per host.
#
#   lab/up.sh [HOST...]          default hosts: saturn piha
#
# Hosts get 198.18.0.11, .12, ... in argument order. Everything lives under
# LAB_DIR (${STEWARD_LAB_DIR:-/tmp/steward-lab}). Idempotent: on a lab that is up it
# only verifies health (quick); a half-up lab is repaired. Tear down with lab/down.sh.
#
# Environment:
#   STEWARD_LAB_DIR          lab folder (keep it short: unix socket paths < 108 chars)
#   STEWARD_LAB_TIMEOUT      seconds to wait for the dockerds to answer (default 120)
#   STEWARD_LAB_BUSYBOX      static busybox binary for the image (default /bin/busybox)
set -euo pipefail

LAB_DIR="${STEWARD_LAB_DIR:-/tmp/steward-lab}"
TIMEOUT="${STEWARD_LAB_TIMEOUT:-120}"
BUSYBOX="${STEWARD_LAB_BUSYBOX:-/bin/busybox}"
BRIDGE=stw0
NET=198.18.0            # RFC 2544 benchmarking range; never anything else here
BRIDGE_IP="$NET.1"
IMAGE=steward-lab/busybox:1
MARKER=.steward-lab

log() { printf 'lab: %s\n' "$*" >&2; }
die() { printf 'lab: ERROR: %s\n' "$*" >&2; exit 1; }
now_us() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }
T0=$(now_us)

# ---------------------------------------------------------------- preflight
[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces, dockerd)"
for cmd in ip dockerd docker ssh-keygen tar setsid; do
  command -v "$cmd" >/dev/null || die "'$cmd' not found (apt-get install docker.io openssh-server iproute2 busybox-static)"
done
[[ -x /usr/sbin/sshd ]] || die "/usr/sbin/sshd not found (apt-get install openssh-server)"
[[ -x $BUSYBOX ]] || die "$BUSYBOX not found (apt-get install busybox-static)"
[[ $LAB_DIR == /* ]] || die "STEWARD_LAB_DIR must be an absolute path: $LAB_DIR"

if (($# == 0)); then set -- saturn piha; fi
HOSTS=("$@")
(( ${#HOSTS[@]} <= 240 )) || die "at most 240 hosts (198.18.0.11-.250)"
declare -A SEEN=()
for h in "${HOSTS[@]}"; do
  [[ $h =~ ^[a-z0-9][a-z0-9_-]{0,30}$ ]] || die "bad host name '$h' (lowercase letters, digits, - and _, at most 31 chars)"
  [[ -z ${SEEN[$h]:-} ]] || die "host '$h' given twice"
  SEEN[$h]=1
done

host_ip()   { echo "$NET.$((10 + $1))"; }        # index is 1-based
host_dir()  { echo "$LAB_DIR/hosts/$1"; }
veth_name() { echo "stwv$((10 + $1))"; }          # root-side veth, named after the octet
ns_name()   { echo "stw-$1"; }

# Is PID alive and is its command line ours (guards against PID reuse)?
pid_is() { # pidfile needle...
  local pidfile=$1 pid cmdline; shift
  [[ -s $pidfile ]] || return 1
  pid=$(<"$pidfile"); [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  local n; for n in "$@"; do [[ $cmdline == *"$n"* ]] || return 1; done
  return 0
}

# ---------------------------------------------------------------- lab folder + keys
if [[ -d $LAB_DIR && ! -e $LAB_DIR/$MARKER ]] && [[ -n $(ls -A "$LAB_DIR" 2>/dev/null) ]]; then
  die "$LAB_DIR exists, is not empty and is not a Steward lab (no $MARKER): refusing to use it"
fi
# The lab folder holds its ssh keys and docker sockets: it must be ours. A folder someone else
# made (a pre-created /tmp/steward-lab owned by another user, or writable by others) is refused,
# as Steward refuses such a state folder; so is a symlink (it could lead anywhere).
[[ ! -L $LAB_DIR ]] || die "$LAB_DIR is a symlink: refusing to use it"
if [[ -e $LAB_DIR ]]; then
  [[ -d $LAB_DIR ]] || die "$LAB_DIR exists and is not a folder"
  owner=$(stat -c %u "$LAB_DIR")
  [[ $owner == "$(id -u)" ]] || die "$LAB_DIR is owned by uid $owner, not by us (uid $(id -u)): refusing to use a lab folder we did not create"
  perms=$(stat -c %a "$LAB_DIR")
  (( (8#$perms & 8#022) == 0 )) || die "$LAB_DIR is writable by group or others (mode $perms): refusing to use it"
else
  mkdir -m 755 "$LAB_DIR"
fi
mkdir -p "$LAB_DIR/ssh" "$LAB_DIR/hosts" "$LAB_DIR/cp" "$LAB_DIR/image" /run/sshd
[[ -e $LAB_DIR/$MARKER ]] || touch "$LAB_DIR/$MARKER"
chmod 700 "$LAB_DIR/ssh" "$LAB_DIR/cp"

SSH_DIR=$LAB_DIR/ssh
if [[ ! -s $SSH_DIR/id_ed25519 || ! -s $SSH_DIR/id_ed25519.pub ]]; then
  rm -f "$SSH_DIR/id_ed25519" "$SSH_DIR/id_ed25519.pub"
  ssh-keygen -q -t ed25519 -N '' -C steward-lab -f "$SSH_DIR/id_ed25519"
fi
if [[ ! -s $SSH_DIR/ssh_host_ed25519_key ]]; then
  rm -f "$SSH_DIR/ssh_host_ed25519_key" "$SSH_DIR/ssh_host_ed25519_key.pub"
  ssh-keygen -q -t ed25519 -N '' -C steward-lab-host -f "$SSH_DIR/ssh_host_ed25519_key"
fi
chmod 600 "$SSH_DIR/id_ed25519" "$SSH_DIR/ssh_host_ed25519_key"
if ! cmp -s "$SSH_DIR/id_ed25519.pub" "$SSH_DIR/authorized_keys" 2>/dev/null; then
  cp "$SSH_DIR/id_ed25519.pub" "$SSH_DIR/authorized_keys"
fi
chmod 600 "$SSH_DIR/authorized_keys"

# ---------------------------------------------------------------- bridge
if ! ip link show dev "$BRIDGE" >/dev/null 2>&1; then
  ip link add name "$BRIDGE" type bridge
fi
if ! ip -4 -o addr show dev "$BRIDGE" | grep -qw "$BRIDGE_IP/24"; then
  ip addr add "$BRIDGE_IP/24" dev "$BRIDGE"
fi
ip link set dev "$BRIDGE" up

# ---------------------------------------------------------------- namespaces + sshd
net_ok() { # i host
  local ns veth ip
  ns=$(ns_name "$2"); veth=$(veth_name "$1"); ip=$(host_ip "$1")
  [[ -e /run/netns/$ns ]] || return 1
  ip -o link show dev "$veth" 2>/dev/null | grep -q "master $BRIDGE .*state UP" || return 1
  ip -n "$ns" -4 -o addr show dev eth0 2>/dev/null | grep -qw "$ip/24" || return 1
  ip -n "$ns" -o link show dev lo 2>/dev/null | grep -q ',UP' || return 1
}

sshd_ok() { # i host
  local ip; ip=$(host_ip "$1")
  pid_is "$(host_dir "$2")/sshd.pid" sshd "ListenAddress=$ip:22" || return 1
  timeout 3 bash -c "exec 3<>/dev/tcp/$ip/22" 2>/dev/null || return 1
}

stop_sshd() { # host
  local pf; pf="$(host_dir "$1")/sshd.pid"
  if pid_is "$pf" sshd "$LAB_DIR"; then
    local pid; pid=$(<"$pf"); kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$pf"
}

setup_net() { # i host
  local i=$1 h=$2 ns veth ip
  ns=$(ns_name "$h"); veth=$(veth_name "$i"); ip=$(host_ip "$i")
  ip link del dev "$veth" 2>/dev/null || true
  [[ -e /run/netns/$ns ]] || ip netns add "$ns"
  ip -n "$ns" link del dev eth0 2>/dev/null || true
  ip link add name "$veth" type veth peer name eth0 netns "$ns"
  ip link set dev "$veth" master "$BRIDGE" up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set dev eth0 up
  ip -n "$ns" link set dev lo up
}

start_sshd() { # i host
  local i=$1 h=$2 ns ip dir
  ns=$(ns_name "$h"); ip=$(host_ip "$i"); dir=$(host_dir "$h")
  mkdir -p "$dir"
  ip netns exec "$ns" /usr/sbin/sshd -f /dev/null \
    -h "$SSH_DIR/ssh_host_ed25519_key" \
    -E "$dir/sshd.log" \
    -o "ListenAddress=$ip:22" \
    -o "AuthorizedKeysFile=$SSH_DIR/authorized_keys" \
    -o PermitRootLogin=prohibit-password \
    -o StrictModes=no -o UsePAM=no -o PasswordAuthentication=no \
    -o KbdInteractiveAuthentication=no \
    -o "Subsystem=sftp internal-sftp" \
    -o MaxStartups=100:30:200 -o MaxSessions=100 \
    -o "PidFile=$dir/sshd.pid" </dev/null
  local _
  for _ in $(seq 50); do
    timeout 1 bash -c "exec 3<>/dev/tcp/$ip/22" 2>/dev/null && return 0
    sleep 0.1
  done
  tail -n 20 "$dir/sshd.log" >&2 || true
  die "sshd for $h did not come up on $ip:22 (log: $dir/sshd.log)"
}

declare -A STATUS=()
for idx in "${!HOSTS[@]}"; do
  i=$((idx + 1)); h=${HOSTS[$idx]}
  mkdir -p "$(host_dir "$h")"
  echo "$(host_ip "$i")" >"$(host_dir "$h")/ip"
  if net_ok "$i" "$h" && sshd_ok "$i" "$h"; then
    STATUS[$h]=ok
    continue
  fi
  STATUS[$h]=started
  stop_sshd "$h"
  net_ok "$i" "$h" || setup_net "$i" "$h"
  start_sshd "$i" "$h"
done

# ---------------------------------------------------------------- dockerd per host
dsock()    { echo "$(host_dir "$1")/docker.sock"; }
dpidfile() { echo "$(host_dir "$1")/docker.pid"; }
dlog()     { echo "$(host_dir "$1")/dockerd.log"; }
dockerc()  { local h=$1; shift; docker -H "unix://$(dsock "$h")" "$@"; }
docker_answers() { dockerc "$1" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start_dockerd() { # host
  local h=$1 dir sock; dir=$(host_dir "$h"); sock=$(dsock "$h")
  # Socket paths are limited to 107 bytes; containerd's own sockets live below exec-root.
  (( ${#sock} < 100 )) || die "docker socket path too long (${#sock} chars): $sock — use a shorter STEWARD_LAB_DIR"
  (( ${#dir} + 40 < 100 )) || die "exec-root path too long: $dir/x — use a shorter STEWARD_LAB_DIR"
  mkdir -p "$dir/data" "$dir/x"
  [[ -s $dir/daemon.json ]] || echo '{}' >"$dir/daemon.json"   # ignore /etc/docker/daemon.json
  # No dockerd serves this host (checked by the caller): whatever pid file is left is
  # stale, and dockerd refuses to start while its PID number exists again.
  rm -f "$sock" "$(dpidfile "$h")"
  # Root network namespace on purpose: `ip netns exec` remounts /sys and dockerd then
  # dies with "Devices cgroup isn't mounted". setsid: survive the caller's process group.
  setsid dockerd \
    --host "unix://$sock" \
    --config-file "$dir/daemon.json" \
    --data-root "$dir/data" \
    --exec-root "$dir/x" \
    --pidfile "$(dpidfile "$h")" \
    --bridge none --iptables=false --ip6tables=false --ip-masq=false \
    --userland-proxy=false --shutdown-timeout 5 \
    </dev/null >>"$(dlog "$h")" 2>&1 &
  echo $! >"$dir/dockerd.launch"
}

# PID of this host's dockerd if one is running: from its pid file, else from the PID we
# launched, else any dockerd serving this host's socket (e.g. one still shutting down
# after its pid file went away). Never start a second dockerd on the same data-root.
dockerd_pid() { # host
  local h=$1 sock pf p cmdline
  sock=$(dsock "$h")
  for pf in "$(dpidfile "$h")" "$(host_dir "$h")/dockerd.launch"; do
    if pid_is "$pf" dockerd "unix://$sock"; then cat "$pf"; return 0; fi
  done
  local -a argv
  for p in /proc/[0-9]*; do                       # builtins only: no fork per process
    mapfile -d '' -t argv 2>/dev/null <"$p/cmdline" || continue
    [[ ${argv[0]:-} == dockerd || ${argv[0]:-} == */dockerd ]] || continue
    [[ " ${argv[*]} " == *" unix://$sock "* ]] && { echo "${p#/proc/}"; return 0; }
  done
  return 1
}

declare -A STARTED=()
PENDING=()
for h in "${HOSTS[@]}"; do
  if ! dockerd_pid "$h" >/dev/null; then
    STATUS[$h]=started
    start_dockerd "$h"
    STARTED[$h]=1
  fi
  PENDING+=("$h")                         # must answer (maybe still starting)
done

fail_dockerd() { # host reason
  local h=$1
  printf 'lab: ERROR: dockerd for %s %s. Last lines of %s:\n' "$h" "$2" "$(dlog "$h")" >&2
  tail -n 25 "$(dlog "$h")" 2>/dev/null | sed 's/^/    /' >&2 || true
  exit 1
}

deadline=$(( $(now_us) + TIMEOUT * 1000000 ))
while ((${#PENDING[@]})); do
  still=()
  for h in "${PENDING[@]}"; do
    if docker_answers "$h"; then continue; fi
    if ! dockerd_pid "$h" >/dev/null; then
      # Gone. One we found running (e.g. shutting down) gets started once; one we
      # started ourselves has failed.
      [[ -n ${STARTED[$h]:-} ]] && fail_dockerd "$h" "exited during startup"
      STATUS[$h]=started
      start_dockerd "$h"
      STARTED[$h]=1
    fi
    still+=("$h")
  done
  PENDING=("${still[@]+"${still[@]}"}")
  ((${#PENDING[@]})) || break
  (( $(now_us) < deadline )) || fail_dockerd "${PENDING[0]}" "did not answer within ${TIMEOUT}s (still waiting: ${PENDING[*]})"
  sleep 0.3
done

# ---------------------------------------------------------------- image
build_image_tar() {
  local img=$LAB_DIR/image rootfs tar
  rootfs=$img/rootfs; tar=$img/busybox.tar
  [[ -s $tar ]] && return 0
  rm -rf "$rootfs"
  mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,proc,sys,dev,var/www}
  cp "$BUSYBOX" "$rootfs/bin/busybox"
  # Equivalent of `busybox --install -s /bin`, with relative links that resolve inside
  # the image (on merged-/usr Debian, --install would point them at /usr/bin/busybox).
  local a
  for a in $("$BUSYBOX" --list); do
    [[ $a == busybox ]] || ln -sf busybox "$rootfs/bin/$a"
  done
  [[ -e $rootfs/bin/sh ]] || die "$BUSYBOX has no 'sh' applet"
  chmod 1777 "$rootfs/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  echo 'steward lab' >"$rootfs/var/www/index.html"
  tar --numeric-owner -C "$rootfs" -cf "$tar.tmp" .
  mv "$tar.tmp" "$tar"
}

IMPORT_PIDS=()
IMPORT_HOSTS=()
for h in "${HOSTS[@]}"; do
  if dockerc "$h" image inspect "$IMAGE" >/dev/null 2>&1; then continue; fi
  build_image_tar
  dockerc "$h" import --change 'CMD ["/bin/sh"]' "$LAB_DIR/image/busybox.tar" "$IMAGE" \
    >"$(host_dir "$h")/import.log" 2>&1 &
  IMPORT_PIDS+=($!); IMPORT_HOSTS+=("$h")
done
for k in "${!IMPORT_PIDS[@]}"; do
  if ! wait "${IMPORT_PIDS[$k]}"; then
    h=${IMPORT_HOSTS[$k]}
    cat "$(host_dir "$h")/import.log" >&2 || true
    die "docker import of $IMAGE into $h failed"
  fi
  [[ ${STATUS[${IMPORT_HOSTS[$k]}]} == ok ]] && STATUS[${IMPORT_HOSTS[$k]}]=started
done

# ---------------------------------------------------------------- summary
for idx in "${!HOSTS[@]}"; do
  i=$((idx + 1)); h=${HOSTS[$idx]}
  printf '%-12s %-15s unix://%s  [%s]\n' "$h" "$(host_ip "$i")" "$(dsock "$h")" "${STATUS[$h]}"
done
el=$(( $(now_us) - T0 ))
printf 'lab up: %d host(s) in %d.%02ds (LAB_DIR=%s)\n' "${#HOSTS[@]}" $((el / 1000000)) $((el % 1000000 / 10000)) "$LAB_DIR"
