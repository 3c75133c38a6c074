#!/usr/bin/env bash
# The per-interpreter GIL benchmark (bench/gil.py) inside a matrix root:
#
#   bash bench/gil.sh debian13 [--seconds N] [--runs N]
#
# Uses the module tests/matrix built for that root (target/matrix-DIST;
# run `bash tests/matrix DIST tests/test_interp_gil.py` once first), with
# the checkout, /proc and /dev mounted in a private mount namespace as
# tests/matrix does. Needs root.
set -euo pipefail
DIST="${1:?usage: bash bench/gil.sh DIST [--seconds N] [--runs N]}"
shift
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
ROOT="$(bash "$REPO/tests/matrix" "$DIST" --print-root)"
SO="$REPO/target/matrix-${DIST/:/-}/release/libmod_wsgi_rs.so"
[ -f "$SO" ] || { echo "bench/gil.sh: no $SO: run bash tests/matrix $DIST first" >&2; exit 1; }
exec unshare -m --propagation private -- bash -c '
    set -e
    r="$1" repo="$2" so="$3"; shift 3
    mount -t proc proc "$r/proc"
    mount --rbind /dev "$r/dev"
    mkdir -p "$r$repo"
    mount --bind "$repo" "$r$repo"
    exec chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        MWRS_MODULE_PATH="$so" PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 "$repo/bench/gil.py" "$@"
' gil "$ROOT" "$REPO" "$SO" "$@"
