#!/usr/bin/env bash
# The per-interpreter GIL benchmark (bench/gil.py) inside a matrix root:
#
#   bash bench/gil.sh DIST[:PYTHON] [--seconds N] [--runs N]
#   QUICK=1 bash bench/gil.sh debian13          # --seconds 3 --runs 3 (a sanity run)
#
# Runs `bash tests/matrix DIST --run bench/gil.sh …` (so the same as that command):
# tests/matrix builds the module against the root's Python into target/matrix-DIST,
# mounts the checkout in a private mount namespace and runs this script again inside
# the root (MWRS_MATRIX set), where bench/gil.py runs with the root's Python and its
# output is also kept in bench/results/<date>-<root>-gil.txt, which bench/report.py
# shows in that root's section of bench/RESULTS.md. Needs root.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"

if [ -z "${MWRS_MATRIX:-}" ]; then
    DIST="${1:?usage: bash bench/gil.sh DIST[:PYTHON] [--seconds N] [--runs N]}"
    shift
    exec bash "$REPO/tests/matrix" "$DIST" --run bench/gil.sh "$@"
fi

# Inside the root (tests/matrix --run set MWRS_MATRIX, MWRS_MODULE_PATH, PYO3_PYTHON).
args=("$@")
[ "${QUICK:-0}" = 1 ] && args=(--seconds 3 --runs 3 "$@")  # later options win
out="$REPO/bench/results/$(date -u +%Y%m%d-%H%M%S)-$MWRS_MATRIX-gil.txt"
mkdir -p "$REPO/bench/results"
{
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), root $MWRS_MATRIX, bench/gil.py ${args[*]}${QUICK:+ (QUICK=$QUICK)}"
    PYTHONDONTWRITEBYTECODE=1 "${PYO3_PYTHON:-/usr/bin/python3}" "$REPO/bench/gil.py" "${args[@]}"
} | tee "$out.tmp"
mv "$out.tmp" "$out"
echo "== wrote $out"
