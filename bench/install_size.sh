#!/usr/bin/env bash
# Install size and time per extra, and cold prediction from the plain install.
#
#     bash bench/install_size.sh [CLIP]
#
# Builds the wheel, then for the plain install and each extra (train, app, dask, all) makes a fresh venv and
# times `pip install` of the wheel from a warm pip cache (versions as requirements.txt pins them), and
# reports the venv's size and its package count. In the plain venv, times three cold runs of
# `ser-keras predict CLIP` (wall time and peak memory; CLIP defaults to the shipped conformance kit's voice_angry.wav).
# Targets: plain install <= 400 MB and <= 60 s; cold predict <= 0.6 s and <= 150 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
.venv/bin/pip wheel -q --no-deps -w "$work/dist" .
wheel=("$work"/dist/ser_keras-*.whl)
printf '%-8s %10s %8s %9s\n' extra "install s" MB packages
for extra in plain train app dask all; do
    spec="${wheel[0]}"; [ "$extra" = plain ] || spec="${wheel[0]}[$extra]"
    python3 -m venv "$work/$extra"
    start=$(date +%s.%N)
    "$work/$extra/bin/pip" install -q -c "$repo/requirements.txt" "$spec" 2>/dev/null
    seconds=$(echo "$(date +%s.%N) - $start" | bc)
    size=$(du -sm "$work/$extra" | cut -f1)
    packages=$("$work/$extra/bin/pip" list --format=freeze 2>/dev/null | wc -l)
    printf '%-8s %10.1f %8d %9d\n' "$extra" "$seconds" "$size" "$packages"
    [ "$extra" = plain ] || rm -rf "$work/$extra"
done
# default: a clip of the conformance kit the wheel carries
clip="${1:-$("$work/plain/bin/python" -c "from ser_keras.layout import PRETRAINED_RUN as r; print(r / 'conformance' / 'voice_angry.wav')")}"
cd "$work"
echo "cold ser-keras predict $(basename "$clip") (plain install):"
for _ in 1 2 3; do
    /usr/bin/time -f "  %e s, %M KB peak" "$work/plain/bin/ser-keras" predict "$clip" >/dev/null
done
