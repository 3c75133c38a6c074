#!/usr/bin/env bash
# Instructions per request under callgrind: mod_wsgi_rs vs mod_wsgi 4.9.4, for
# /hello (13 bytes) and /upload (1 MiB POST read from wsgi.input).
#
#   bash bench/profile.sh   (PROFILE_REQUESTS=N hello requests, default 2000;
#                            PROFILE_UPLOADS=N uploads, default 100; PROFILE_WARMUP=N, default 100)
#
# For each module, `apache2 -X` (one process, event MPM, 4 threads) runs three times under
# `valgrind --tool=callgrind`: a base session (start-up, PROFILE_WARMUP hello requests and
# a few uploads, exit), one with N more /hello requests and one with N more uploads
# (ab -k -c 1). (total Ir of the session - total Ir of the base) / N = instructions per
# request; bench/cgdiff.py gives the per-function difference. Instruction counts do not
# depend on the load on the machine.
# Writes bench/results/profile-<date>.json and profile-<date>-<module>-<route>.txt.
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$BENCH")"
N_hello=${PROFILE_REQUESTS:-2000}
N_upload=${PROFILE_UPLOADS:-100}
H0=${PROFILE_WARMUP:-100}   # requests in the base session (hello, and H0/20 uploads)
U0=$((H0 / 20))
ROUTES="hello upload"
WARM=${PROFILE_WARMUP:-300}
D=${PROFILE_DIR:-/dev/shm/mwrs-prof}  # several helpers may profile at once: give each its own
STAMP=$(date +%Y%m%d-%H%M%S)
OUTDIR=${PROFILE_OUTDIR:-$BENCH/results}
RS_SO=${MWRS_MODULE_PATH:-$REPO/target/release/libmod_wsgi_rs.so}
MW_SO=/usr/lib/apache2/modules/mod_wsgi.so
M=/usr/lib/apache2/modules
command -v valgrind >/dev/null || apt-get install -y -q valgrind >/dev/null
[ -f "$RS_SO" ] || (cd "$REPO" && cargo build --release)
mkdir -p "$OUTDIR"

rm -rf "$D"; mkdir -p "$D/apps" "$D/cg"; chmod 755 "$D" "$D/apps"; chmod 1777 "$D/cg"
cp "$BENCH/apps/profile_app.py" "$D/apps/profile_app.py"; chmod 644 "$D/apps/profile_app.py"
head -c 1048576 /dev/zero | tr '\0' x > "$D/body.bin"

free_port() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() {  # port pid
    for _ in $(seq 1 600); do
        (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.5
    done
    return 1
}

# shellcheck source=bench/profile-conf.sh
. "$BENCH/profile-conf.sh"
declare -A IR
for mod in rs mod_wsgi; do
    so=$RS_SO; [ $mod = mod_wsgi ] && so=$MW_SO
    R="$D/$mod"; mkdir -p "$R/run"; chmod 1777 "$R/run"; chmod 755 "$R"
    port=$(free_port)
    profile_conf "$R" "$port" "$so" "$D/apps" > "$R/httpd.conf"
    # one valgrind session: H hello requests then U uploads, Ir total at exit
    session() {  # tag H U
        local out="$D/cg/cg.$mod.$1"
        rm -f "$out"
        "${asuser[@]}" valgrind --tool=callgrind --dump-instr=no --separate-threads=no \
            --callgrind-out-file="$out" /usr/sbin/apache2 -X -f "$R/httpd.conf" >"$R/valgrind-$1.log" 2>&1 &
        local vpid=$!
        if ! wait_port $port $vpid; then
            echo "apache2 -X did not start for $mod" >&2; cat "$R/valgrind-$1.log" "$R/run/error.log" >&2
            kill $vpid 2>/dev/null; exit 1
        fi
        curl -sf -o /dev/null "http://127.0.0.1:$port/hello"
        [ "$2" -gt 0 ] && ab -q -k -c 1 -n "$2" "http://127.0.0.1:$port/hello" > "$R/ab-$1-hello.txt"
        [ "$3" -gt 0 ] && ab -q -k -c 1 -n "$3" -p "$D/body.bin" -T application/octet-stream \
            "http://127.0.0.1:$port/upload" > "$R/ab-$1-upload.txt"
        kill $vpid; wait $vpid 2>/dev/null || true
        sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$out" | head -1
    }
    # As root, Apache would switch to www-data after valgrind started: run it all as www-data.
    asuser=(); [ "$(id -u)" = 0 ] && asuser=(setpriv --reuid=www-data --regid=www-data --init-groups)
    echo "== $mod: three callgrind sessions of apache2 -X (port $port)"
    base=$(session base $H0 $U0)
    hx=$(session hello $((H0 + N_hello)) $U0)
    ux=$(session upload $H0 $((U0 + N_upload)))
    IR[$mod.hello]=$((hx - base)); IR[$mod.upload]=$((ux - base))
    echo "== $mod: base $base Ir; hello $(( (hx - base) / N_hello )) Ir/request; upload $(( (ux - base) / N_upload )) Ir/request"
    for route in hello upload; do
        /usr/bin/python3 "$BENCH/cgdiff.py" "$D/cg/cg.$mod.base" "$D/cg/cg.$mod.$route" "$(eval echo \$N_$route)" \
            > "$OUTDIR/profile-$STAMP-$mod-$route.txt" || true
    done
done

args=()
for route in $ROUTES; do N=N_$route; args+=("$route" "${!N}" "${IR[rs.$route]}" "${IR[mod_wsgi.$route]}"); done
/usr/bin/python3 - "$OUTDIR/profile-$STAMP.json" "$OUTDIR/profile-$STAMP" "${args[@]}" <<'PY'
import json, sys
path, base, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
d = {"method": "callgrind, apache2 -X (event MPM, 4 threads) run three times per module: a base session "
               "(start-up + a few requests + exit) and two with N more /hello or N more 1 MiB /upload requests "
               "(ab -k -c 1); the difference in total Ir divided by N is the user-space instructions "
               "(Apache + module + Python) per request",
     "routes": {}}
for i in range(0, len(rest), 4):
    route, n, rs, mw = rest[i], int(rest[i + 1]), int(rest[i + 2]), int(rest[i + 3])
    d["routes"][route] = {"requests": n, "mod_wsgi_rs": rs / n, "mod_wsgi": mw / n, "ratio": rs / mw,
                          "annotate": {"mod_wsgi_rs": "%s-rs-%s.txt" % (base, route),
                                       "mod_wsgi": "%s-mod_wsgi-%s.txt" % (base, route)}}
    print("%-7s mod_wsgi_rs %12.0f Ir/req   mod_wsgi %12.0f Ir/req   ratio %.2f" % (route, rs / n, mw / n, rs / mw))
json.dump(d, open(path, "w"), indent=1)
print("->", path)
PY
