#!/usr/bin/env bash
# The main job, end to end, on the local lab (no Redis needed; state under ./state):
# lab up -> deploy -> observe (no drift) -> stop a container -> observe twice -> one pending
# playbook -> approve it with mv -> execute -> observe: drift gone.
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
step "The journal: every transition"
python3 - "$STEWARD_STATE_DIR/journal.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    what = e.get("action") or e.get("key") or e.get("cycle") or ""
    print(f"{e['at']}  {e['type']:<18} {what}")
PY
step "Done. The lab is still up: play with it, then tear it down with lab/down.sh"
