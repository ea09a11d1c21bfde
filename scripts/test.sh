#!/usr/bin/env bash
# Run every test: unit, integration (real ansible-runner plays) and end-to-end on the namespace lab.
# Extra arguments go to pytest, e.g. scripts/test.sh tests/unit -x
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
start=$(date +%s)
set +e
.venv/bin/python -m pytest "${@:-tests}"
rc=$?
set -e
echo "tests: exit $rc after $(( $(date +%s) - start )) s"
exit $rc
