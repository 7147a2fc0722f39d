#!/usr/bin/env bash
# numba's cache race (numba issue 10128) and what `ser_keras.extraction.jit_cache.first_use` does about it.
#
#   bash bench/numba_cache_race.sh raw|locked [ROUNDS]
#
# Each round starts four processes, 0.7 s apart, on an empty numba cache (a fresh NUMBA_CACHE_DIR),
# each featurising a two-second tone (functionals: yin, localmax, ...); then one more process loads
# what they cached.  raw calls `compute` directly; locked first runs an extract worker's warm-up
# (`extract_chunk` on no items), as every extract and predict process does.  A round prints the exit
# codes; 139 is a segmentation fault, and one after the racers means the cache they left is corrupt.
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:?raw or locked}; rounds=${2:-4}
python=${PYTHON:-.venv/bin/python}
code='
import sys, numpy as np
from ser_keras.signal.augment import AugmentConfig
from ser_keras.extraction.chunks import extract_chunk
from ser_keras.features.registry import FeatureConfig, compute
config = FeatureConfig(kind="functionals")
t = np.arange(2 * config.sr) / config.sr
y = (0.3 * np.sin(2 * np.pi * 150 * t) + 0.01 * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32)
if sys.argv[1] == "locked":
    extract_chunk([], features=config, augment=AugmentConfig(recipes=()), seed=0)
compute([y], config=config)
'
for round in $(seq "$rounds"); do
    NUMBA_CACHE_DIR=$(mktemp -d); export NUMBA_CACHE_DIR
    pids=()
    for _ in 1 2 3 4; do "$python" -c "$code" "$mode" 2>/dev/null & pids+=($!); sleep 0.7; done
    codes=""; for pid in "${pids[@]}"; do wait "$pid"; codes="$codes $?"; done
    "$python" -c "$code" raw 2>/dev/null; after=$?
    echo "round $round ($mode): racers$codes; a later process: $after"
    rm -r "$NUMBA_CACHE_DIR"
done
