#!/usr/bin/env bash
# Rebuild the model shipped in ser_keras/pretrained/ravdess/ from the RAVDESS speech corpus (actors 01-16 as in
# ../shared/data/ravdess, or any RAVDESS folder): the default recipe's speaker cv fits the temperature and the
# "uncertain" threshold on speakers each fold held out; the model is then trained on 15 actors (one held out as
# a smoke test; --select last, so the validation actors train too), calibrated from that cv, exported, and its
# audio-in LiteRT file, run.json, test report and a conformance subset are copied into the package.
# From the repo root:  bash bench/pretrained.sh   (about 15 min on 2 cores; RAVDESS=DIR to point elsewhere; CV=DIR to
# reuse a finished seed-0 cv of the same recipe and corpus; RUN=DIR to export a run this script trained again, with
# `export --rebuild`: the graph form of the version installed, the weights unchanged)
# MODEL_CARD.md and LICENSE beside the weights are written by hand from the cv figures this prints.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${RAVDESS:-../shared/data/ravdess}
out=${OUT:-models/pretrained}
cache=${CACHE:-features}
target=ser_keras/pretrained/ravdess
run=${RUN:-}  # RUN=DIR: a run of this very command, exported again (its features' definition unchanged)
if [ -n "$run" ]; then
    .venv/bin/ser-keras export --quiet --rebuild "$run"
else
    cv_dir=${CV:-}  # CV=DIR: a finished cv of this very command (--seed 0), reused instead of run again
    if [ -z "$cv_dir" ]; then
        cv_dir=$(.venv/bin/ser-keras cv --quiet --corpus "ravdess=$corpus" --folds 4 --recipe default --seed 0 \
            --cache-dir "$cache" --out "$out" | tail -n 1)
    fi
    echo "cv: $cv_dir"
    run=$(.venv/bin/ser-keras train --quiet --recipe default --corpus "ravdess=$corpus" --test-fraction 0.0625 \
        --val-fraction 0.125 --calibrate-from "$cv_dir" --cache-dir "$cache" --out "$out" | tail -n 1)
    echo "run: $run"
    .venv/bin/ser-keras export --quiet "$run"
fi
.venv/bin/python - "$run" "$target" <<'EOF'
import json, shutil, sys
from pathlib import Path

run, target = Path(sys.argv[1]), Path(sys.argv[2])
# voiced speech of two emotions, the breathy, high-pitched and quiet voices, and the shortest clip it takes
SHIPPED_CLIPS = ("short.wav", "voice_angry.wav", "voice_sad.wav", "voice_breathy.wav", "voice_high.wav", "voice_quiet.wav")
(target / "conformance").mkdir(parents=True, exist_ok=True)
for name in ("waveform.tflite", "report.json"):
    shutil.copy(run / name, target / name)
sidecar = json.loads((run / "run.json").read_text())
# paths of the machine that trained it mean nothing where the package is installed
sidecar.update(feature_set="(not shipped)", feature_set_relative="(not shipped)")
sidecar["corpora"] = [f"{corpus.split('=', 1)[0]}=(not shipped)" for corpus in sidecar["corpora"]]
sidecar["calibration"]["from_cv"]["cv"] = Path(sidecar["calibration"]["from_cv"]["cv"]).name
(target / "run.json").write_text(json.dumps(sidecar, indent=2) + "\n")
kit = json.loads((run / "conformance" / "expected.json").read_text())
kit["clips"] = [clip for clip in kit["clips"] if clip["file"] in SHIPPED_CLIPS]
for clip in kit["clips"]:
    shutil.copy(run / "conformance" / clip["file"], target / "conformance" / clip["file"])
(target / "conformance" / "expected.json").write_text(json.dumps(kit, indent=2) + "\n")
print(target)
EOF
