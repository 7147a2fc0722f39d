#!/usr/bin/env bash
# The suite's wall time as docs/design.md and the notes quote it: the whole suite, then the fast subset, each
# with the 25 slowest tests. Run from the repo root of a fresh clone, machine otherwise idle:
#   bash bench/suite_time.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for selection in "" "not slow"; do
    echo "== ${selection:-whole suite}"
    start=$(date +%s)
    .venv/bin/python -m pytest -q -n auto --dist worksteal -p no:cacheprovider --durations=25 \
        ${selection:+-m "$selection"} | grep -E "^[0-9.]+s (call|setup)|passed|failed"
    echo "wall $(( $(date +%s) - start )) s"
done
