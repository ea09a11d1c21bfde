#!/usr/bin/env bash
# The main job, end to end, on the local lab (no Redis needed; state under ./state):
# lab up -> deploy -> observe (no drift) -> stop a container -> observe twice -> one pending
# playbook -> approve it with mv -> execute -> observe: drift gone; then a Compose service whose
# config changed in the inventory -> one pending action naming the changed key -> approve -> only
# that service is recreated.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
export STEWARD_INVENTORY="${STEWARD_INVENTORY:-$PWD/lab/inventory/hosts.yml}"
export STEWARD_STATE_DIR="${STEWARD_STATE_DIR:-$PWD/state}"
VICTIM_HOST=${VICTIM_HOST:-piha}
VICTIM=${VICTIM:-mqtt}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

if [ -d "$STEWARD_STATE_DIR" ] && [ -n "$(ls -A "$STEWARD_STATE_DIR")" ]; then
  old="$STEWARD_STATE_DIR.old-$(date +%Y%m%dT%H%M%S)"
  step "Keeping the previous state folder as $old (Steward never deletes state)"
  mv "$STEWARD_STATE_DIR" "$old"
fi

step "1. Bring the lab up: network namespaces with sshd + one dockerd per host"
run lab/up.sh
step "2. Apply the desired state (lab/inventory/hosts.yml) with community.docker"
run ansible-playbook -i "$STEWARD_INVENTORY" playbooks/deploy.yml
step "3. Observe: every host's world state, then a plan cycle (expect no drift)"
run steward observe
step "4. Break something: stop container $VICTIM on $VICTIM_HOST"
run lab/docker.sh "$VICTIM_HOST" stop -t 1 "$VICTIM"
step "5. Observe once: the drift is seen, but one observation is not enough to act"
run steward observe
step "6. Observe again: confirmed in 2 consecutive observations -> one pending playbook"
run steward observe
run steward list
id=$(steward list --json | python3 -c 'import json,sys; a=json.load(sys.stdin); print(a[0]["id"] if len(a)==1 else "")')
if [ -z "$id" ]; then echo "demo: expected exactly one pending action" >&2; exit 1; fi
step "7. The pending playbook, as the operator reads it"
run cat "$STEWARD_STATE_DIR/actions/pending/$id.yml"
step "8. Approve it by moving the file"
run mv "$STEWARD_STATE_DIR/actions/pending/$id.yml" "$STEWARD_STATE_DIR/actions/approved/"
step "9. Execute: HMAC check, claim, stale-plan check, ansible-runner, re-observe and verify"
run steward execute --once
run cat "$STEWARD_STATE_DIR/actions/done/$id.result.json"
step "10. Observe again: the drift is gone"
run steward observe
run lab/docker.sh "$VICTIM_HOST" ps --filter "name=$VICTIM" --format '{{.Names}} {{.Status}}'
step "11. A Compose service: change one env value of saturn's project (lab/inventory/services/homeauto)"
compose=lab/inventory/services/homeauto/compose.yml
keep=$(mktemp)
cp "$compose" "$keep"
trap 'cp "$keep" "$compose"; rm -f "$keep"' EXIT   # the repository's file is put back whatever happens
run sed -i 's/TZ: Europe\/Berlin/TZ: UTC/' "$compose"
dash_before=$(lab/docker.sh saturn inspect -f '{{.Id}}' homeauto-dash-1)
step "12. Observe twice: one pending action for that one service, its header names the key"
run steward observe
run steward observe
id=$(steward list --json | python3 -c 'import json,sys; a=[x for x in json.load(sys.stdin) if "/compose/" in x["key"]]; print(a[0]["id"] if len(a)==1 else "")')
if [ -z "$id" ]; then echo "demo: expected exactly one pending compose action" >&2; exit 1; fi
run head -12 "$STEWARD_STATE_DIR/actions/pending/$id.yml"
step "13. Approve with the CLI (same code path as mv) and execute: only broker is recreated"
run steward approve "$id"
run steward execute --once
dash_after=$(lab/docker.sh saturn inspect -f '{{.Id}}' homeauto-dash-1)
run lab/docker.sh saturn exec homeauto-broker-1 sh -c 'echo "TZ=$TZ"'
if [ "$dash_before" != "$dash_after" ]; then echo "demo: the project's other service was recreated" >&2; exit 1; fi
echo "homeauto-dash-1 kept its container ($dash_after)"
run steward observe

step "The journal: every transition"
python3 - "$STEWARD_STATE_DIR/journal.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    what = e.get("action") or e.get("key") or e.get("cycle") or ""
    print(f"{e['at']}  {e['type']:<18} {what}")
PY
step "Done. The lab is still up: play with it, then tear it down with lab/down.sh"
echo "(the compose file is back as the repository has it: the next observe sees homeauto.broker drift back to it)"
