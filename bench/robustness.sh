#!/usr/bin/env bash
# The robustness table of docs/results.md: 4-fold speaker cross-validation of a recipe on RAVDESS, then its folds scored
# clean and through every recording shift (ser-keras evaluate CV_DIR --shift all). From the repo root:
#   bash bench/robustness.sh linear                      # the recipe as shipped
#   bash bench/robustness.sh linear --augment speed,channel   # with the channel augmentations
#   bash bench/robustness.sh linear --normalize corpus        # standardised by the scored batch (transductive)
# Extra arguments go to `ser-keras cv`. Prints the cv folder's clean figures and the robustness table.
set -euo pipefail
cd "$(dirname "$0")/.."
recipe=${1:?usage: bash bench/robustness.sh RECIPE [cv options]}; shift
corpus=${RAVDESS:-../shared/data/ravdess}
out=${OUT:-models/robustness}
start=$(date +%s)
cv_dir=$(.venv/bin/ser-keras cv --quiet --corpus "ravdess=$corpus" --folds 4 --recipe "$recipe" --out "$out" "$@" | tail -1)
echo "cv: $cv_dir ($(( $(date +%s) - start )) s)"
start=$(date +%s)
.venv/bin/ser-keras evaluate "$cv_dir" --shift all
echo "robustness: $(( $(date +%s) - start )) s"
