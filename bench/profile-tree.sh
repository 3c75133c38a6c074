#!/usr/bin/env bash
# Where one route's instructions go, per process and function, inclusive
# and exclusive (for finding what to make cheaper; bench/profile.sh gives
# the comparison with mod_wsgi):
#
#   bash bench/profile-tree.sh hello|upload|big|chunks [embedded|daemon]
#       (PROFILE_REQUESTS=N, default 1000 hello / 50 upload / 300 big and chunks;
#        PROFILE_DIR=DIR instead of /dev/shm/mwrs-tree)
#
# apache2 -X (event MPM, 4 threads) runs twice under valgrind --tool=callgrind
# (following forks, so daemon processes are profiled too): 100 requests,
# then 100 + N; the per-function difference / N is the cost of one request.
# (callgrind_control -z would need one session only, but vgdb cannot reach
# a process whose threads all sit in blocking syscalls.) Writes
# $PROFILE_DIR/<route>-<mode>-<apache|daemon>.{incl,excl}.txt and
# prints each process's Ir per request.
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$BENCH")"
ROUTE=${1:-hello}; MODE=${2:-embedded}
case $ROUTE in hello) N=${PROFILE_REQUESTS:-1000};; upload) N=${PROFILE_REQUESTS:-50};; *) N=${PROFILE_REQUESTS:-300};; esac
D=${PROFILE_DIR:-/dev/shm/mwrs-tree}
RS_SO=${MWRS_MODULE_PATH:-$REPO/target/release/libmod_wsgi_rs.so}
M=/usr/lib/apache2/modules
R="$D/$MODE"
rm -rf "$R"; mkdir -p "$D/apps" "$R/run" "$R/cg"; chmod 755 "$D" "$D/apps" "$R"; chmod 1777 "$R/run" "$R/cg"
cp "$BENCH/apps/profile_app.py" "$D/apps/profile_app.py"; chmod 644 "$D/apps/profile_app.py"
[ -f "$D/body.bin" ] || head -c 1048576 /dev/zero | tr '\0' x > "$D/body.bin"
port=$(/usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
daemon=""
# The daemon accepts requests from Apache's User only: name the user
# everything runs as.
[ "$MODE" = daemon ] && daemon="User www-data
Group www-data
WSGIDaemonProcess prof processes=1 threads=4 python-path=$D/apps
WSGIProcessGroup prof"
group=%{GLOBAL}; [ "$MODE" = daemon ] && group=prof
# shellcheck source=bench/profile-conf.sh
. "$BENCH/profile-conf.sh"
profile_conf "$R" "$port" "$RS_SO" "$D/apps" "WSGISocketPrefix $R/run/wsgi
$daemon" "$group" > "$R/httpd.conf"
asuser=(); [ "$(id -u)" = 0 ] && asuser=(setpriv --reuid=www-data --regid=www-data --init-groups)
req() {  # n
    case $ROUTE in
    hello) ab -q -k -c 1 -n "$1" "http://127.0.0.1:$port/hello" ;;
    upload) ab -q -k -c 1 -n "$1" -p "$D/body.bin" -T application/octet-stream "http://127.0.0.1:$port/upload" ;;
    *) ab -q -k -c 1 -n "$1" "http://127.0.0.1:$port/$ROUTE" ;;
    esac > "$R/ab.txt"
    grep -q "^Failed requests: *0" "$R/ab.txt" || { echo "failed requests" >&2; cat "$R/ab.txt" >&2; }
}
session() {  # tag requests; leaves $R/cg/<tag>.apache and <tag>.daemon (largest other process)
    rm -rf "$R/cg/$1"; mkdir -p "$R/cg/$1"; chmod 1777 "$R/cg/$1"
    "${asuser[@]}" valgrind --tool=callgrind --dump-instr=no --separate-threads=no --trace-children=yes \
        --callgrind-out-file="$R/cg/$1/cg.%p" /usr/sbin/apache2 -X -f "$R/httpd.conf" >"$R/valgrind-$1.log" 2>&1 &
    local vpid=$!
    for _ in $(seq 1 600); do
        curl -sf -o /dev/null "http://127.0.0.1:$port/hello" 2>/dev/null && break
        kill -0 $vpid 2>/dev/null || { cat "$R/valgrind-$1.log" "$R/run/error.log" >&2; exit 1; }
        sleep 0.5
    done
    req "$2"
    kill $vpid; wait $vpid 2>/dev/null || true
    sleep 2  # daemon processes exit after the parent
    mv "$R/cg/$1/cg.$vpid" "$R/cg/$1.apache"
    local other; other=$(ls -S "$R/cg/$1"/cg.* 2>/dev/null | head -1 || true)
    [ -n "$other" ] && mv "$other" "$R/cg/$1.daemon"
    return 0
}
session base 100
session more $((100 + N))
procs=apache; [ "$MODE" = daemon ] && procs="apache daemon"
for proc in $procs; do
    out="$D/$ROUTE-$MODE-$proc"
    /usr/bin/python3 "$BENCH/cgdiff.py" "$R/cg/base.$proc" "$R/cg/more.$proc" "$N" > "$out.excl.txt"
    /usr/bin/python3 "$BENCH/cgdiff.py" --inclusive "$R/cg/base.$proc" "$R/cg/more.$proc" "$N" > "$out.incl.txt"
    head -1 "$out.excl.txt" | sed "s/^/$proc: /"
done
