#!/usr/bin/python3
"""Shared-state benchmark (issue 15, point 6): get/set/incr of 100-byte
values from Python inside Apache, for mod_wsgi_rs's embedded store
(WSGISharedCache, LMDB), diskcache (Debian's python3-diskcache, SQLite)
and redis-py (python3-redis) to a local redis-server started here, side
by side in one run: single thread, and 2 daemon processes x 8 threads.
Also the RSS growth of a process using a 64 MiB store.

    /usr/bin/python3 bench/shared_state.py            # writes bench/SHARED-STATE.md
    SHARED_BENCH_OPS=20000 /usr/bin/python3 bench/shared_state.py

The store files live where the test Apache's DefaultRuntimeDir is (/tmp):
on a disk every write waits for fdatasync, on tmpfs (/run on Debian) it
does not; the table says which.
"""

import concurrent.futures
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
from harness.apache import Apache, free_port  # noqa: E402

OPS = int(os.environ.get("SHARED_BENCH_OPS", "20000"))
THREADS = 8

APP = r'''
import os, time
from urllib.parse import parse_qs

VALUE = b"v" * 100
_clients = {}

def client(kind, q):
    c = _clients.get(kind)
    if c is None:
        if kind == "rs":
            import mod_wsgi_rs
            c = mod_wsgi_rs.cache("bench")
        elif kind == "diskcache":
            import diskcache
            c = diskcache.Cache(q["dir"])
        else:
            import redis
            c = redis.Redis(port=int(q["port"]))
        _clients[kind] = c
    return c

def run(kind, op, n, c):
    keys = ["k%d" % (i % 1000) for i in range(n)]
    if op == "set":
        for k in keys:
            c.set(k, VALUE)
    elif op == "get":
        for k in keys:
            c.get(k)
    elif kind == "redis":
        for k in keys:
            c.incr("n" + k[1:])
    else:
        for k in keys:
            c.incr("n" + k[1:])

def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024

def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    if q.get("op") == "rss":
        import mod_wsgi_rs
        before = rss()
        c = mod_wsgi_rs.cache("big")
        opened = rss()
        for i in range(int(q["n"])):
            c.set("r%d" % i, VALUE)
        for i in range(int(q["n"])):
            c.get("r%d" % i)
        body = {"before": before, "opened": opened, "after": rss(),
                "used": c.stats()["used_bytes"], "size": c.stats()["size"]}
    else:
        c = client(q["kind"], q)
        if q["kind"] == "diskcache" and q["op"] == "incr":
            c.set("n0", 0)
        n = int(q["n"])
        t = time.perf_counter()
        run(q["kind"], q["op"], n, c)
        body = {"seconds": time.perf_counter() - t, "pid": os.getpid()}
    start_response("200 OK", [("Content-Type", "application/json")])
    import json
    return [json.dumps(body).encode()]
'''


def get(url):
    with urllib.request.urlopen(url, timeout=600) as r:
        return json.loads(r.read())


def start_redis():
    port = free_port()
    d = tempfile.mkdtemp(prefix="mwrs-bench-redis-")
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", d],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p, port, d
        except OSError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def main():
    load_before = os.getloadavg()[0]
    redis_proc, port, redis_dir = start_redis()
    ap = Apache(
        "WSGISharedCache bench size=64M\nWSGISharedCache big size=64M\n"
        "WSGIDaemonProcess bench processes=2 threads=%d\n"
        "WSGIScriptAlias /b @APPS@/bench.wsgi process-group=bench application-group=%%{GLOBAL}\n"
        % THREADS, apps={"bench.wsgi": APP}, name="shared-bench")
    dc_dir = os.path.join(ap.var_dir, "diskcache")
    os.makedirs(dc_dir)
    os.chmod(dc_dir, 0o777)
    ap.start()
    fs = subprocess.run(["stat", "-f", "-c", "%T", ap.run_dir], capture_output=True,
                        text=True).stdout.strip()
    rows = {}
    try:
        for kind in ("rs", "diskcache", "redis"):
            base = ap.url("/b?kind=%s&dir=%s&port=%d" % (kind, dc_dir, port))
            for op in ("set", "get", "incr"):
                get(base + "&op=%s&n=200" % op)  # warm both processes' clients
                single = get(base + "&op=%s&n=%d" % (op, OPS))["seconds"]
                t = time.perf_counter()
                with concurrent.futures.ThreadPoolExecutor(2 * THREADS) as ex:
                    list(ex.map(lambda _: get(base + "&op=%s&n=%d" % (op, OPS // 4)),
                                range(2 * THREADS)))
                wall = time.perf_counter() - t
                rows[(kind, op)] = (OPS / single, 2 * THREADS * (OPS // 4) / wall)
                print("%-9s %-4s single %10.0f ops/s   2x%d %10.0f ops/s"
                      % (kind, op, rows[(kind, op)][0], THREADS, rows[(kind, op)][1]), flush=True)
        mem = get(ap.url("/b?op=rss&n=20000"))
    finally:
        ap.cleanup()
        redis_proc.terminate()
        redis_proc.wait(10)
        shutil.rmtree(redis_dir, ignore_errors=True)
    write(rows, mem, fs, (load_before, os.getloadavg()[0]))


def write(rows, mem, fs, load):
    lines = [
        "# Shared state: mod_wsgi_rs cache vs diskcache vs redis-py",
        "",
        "Made by `bench/shared_state.py` (%d ops per single-thread cell, 16 requests of %d ops"
        " for 2 daemon processes x %d threads; 100-byte values, 1000 keys). Store files on %s."
        % (OPS, OPS // 4, THREADS, fs),
        "Operations per second from Python inside Apache (higher is better), and the ratio of"
        " mod_wsgi_rs to each. The three stores run one after the other in one run, so the"
        " ratios hold for the load of that moment; the absolute figures move with it"
        " (1-minute load average %.1f at the start, %.1f at the end, %d CPUs)."
        % (load[0], load[1], os.cpu_count()),
        "",
        "| op | threads | mod_wsgi_rs | diskcache | redis-py | rs / diskcache | rs / redis-py |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for op in ("get", "set", "incr"):
        for i, label in ((0, "1"), (1, "2 x %d" % THREADS)):
            rs, dc, rd = (rows[(k, op)][i] for k in ("rs", "diskcache", "redis"))
            lines.append("| %s | %s | %.0f | %.0f | %.0f | %.1fx | %.1fx |"
                         % (op, label, rs, dc, rd, rs / dc, rs / rd))
    lines += [
        "",
        "RSS of a daemon process opening a 64 MiB store and writing then reading 20000"
        " entries: %.1f MiB before, +%.1f MiB on open, +%.1f MiB after (store pages in use:"
        " %.1f MiB)." % (mem["before"] / 2**20, (mem["opened"] - mem["before"]) / 2**20,
                         (mem["after"] - mem["opened"]) / 2**20, mem["used"] / 2**20),
        "",
    ]
    with open(os.path.join(HERE, "SHARED-STATE.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
