#!/usr/bin/env python3
"""Per-interpreter GIL benchmark (issue 12, deliverable 6).

One Apache child (event MPM, 4 threads), two named application groups
serving the same CPU-bound handler (about 5 ms of pure Python, calibrated
once before both runs), two client connections (one `ab -k -c 1` per
group, run at the same time). Requests per second with
`WSGIPerInterpreterGIL On` against `Off`, and their ratio (target >= 1.8x
on Python 3.12+, where On gives each group its own GIL; on 3.11 both runs
share one GIL and the ratio is about 1).

    /usr/bin/python3 bench/gil.py [--seconds 10] [--runs 3]

Uses the test harness (tests/harness) to run Apache, so it works wherever
the suite does: on the host, or inside a matrix root through
bench/gil.sh DIST. MWRS_MODULE_PATH / CARGO_TARGET_DIR pick the module as
for the tests. Prints the load average before and after: the machine is
shared, and another busy process takes cores from the On run.
"""

import argparse
import os
import re
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from harness.apache import Apache, python_version  # noqa: E402
from test_interp_gil import ONE_CHILD  # noqa: E402  (one child, 4 threads)

# The work per request: N iterations, calibrated once by the benchmark
# (not per interpreter: both runs must do the same work).
SPIN = r"""
import time

def _spin(n):
    x = 0
    for i in range(n):
        x += i * i
    return x
"""

CALIBRATE = SPIN + r"""
best = None
for _ in range(20):
    t = time.perf_counter()
    _spin(100000)
    took = time.perf_counter() - t
    best = took if best is None else min(best, took)
print(int(100000 * 0.005 / best))
"""

APP = SPIN + r"""
N = %d

def application(environ, start_response):
    _spin(N)
    body = b'%%d\n' %% N
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
"""

CONF = """
    WSGIPerInterpreterGIL {gil}
    WSGIScriptAlias /a @APPS@/spin.wsgi application-group=A
    WSGIScriptAlias /b @APPS@/spin.wsgi application-group=B
"""


def ab(url, seconds, out):
    p = subprocess.run(["ab", "-k", "-q", "-c", "1", "-t", str(seconds), "-n", "1000000", url],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    m = re.search(r"Requests per second:\s+([\d.]+)", p.stdout)
    failed = re.search(r"Failed requests:\s+(\d+)", p.stdout)
    out[url] = (float(m.group(1)) if m else 0.0, int(failed.group(1)) if failed else -1)


def measure(gil, seconds, runs, n):
    ap = Apache(CONF.format(gil=gil), apps={"spin.wsgi": APP % n}, mpm_conf=ONE_CHILD,
                global_group=False, loglevel="warn", name="gilbench")
    ap.start()
    try:
        for p in ("/a", "/b"):  # create both interpreters, load the script
            subprocess.run(["ab", "-q", "-n", "20", ap.url(p)], stdout=subprocess.DEVNULL, check=True)
        results = []
        for _ in range(runs):
            out = {}
            ts = [threading.Thread(target=ab, args=(ap.url(p), seconds, out)) for p in ("/a", "/b")]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            total = sum(v[0] for v in out.values())
            failed = sum(v[1] for v in out.values())
            results.append((total, out, failed))
        return results
    finally:
        ap.stop()
        ap.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print("Python %s; load average before: %s" % (python_version(), open("/proc/loadavg").read().split()[:3]))
    n = int(subprocess.run([os.environ.get("PYO3_PYTHON", "/usr/bin/python3"), "-c", CALIBRATE],
                           stdout=subprocess.PIPE, text=True, check=True).stdout)
    print("work per request: %d loop iterations (about 5 ms on an idle core)" % n)
    medians = {}
    for gil in ("Off", "On"):
        res = measure(gil, args.seconds, args.runs, n)
        for total, out, failed in res:
            print("WSGIPerInterpreterGIL %-3s  %7.1f req/s  (A %.1f, B %.1f; failed %d)"
                  % (gil, total, out[next(k for k in out if k.endswith("/a"))][0],
                     out[next(k for k in out if k.endswith("/b"))][0], failed))
        medians[gil] = sorted(r[0] for r in res)[len(res) // 2]
    print("load average after: %s" % open("/proc/loadavg").read().split()[:3])
    ratio = medians["On"] / medians["Off"] if medians["Off"] else 0.0
    print("median req/s: Off %.1f, On %.1f; ratio On/Off = %.2fx (target >= 1.8x on 3.12+)"
          % (medians["Off"], medians["On"], ratio))


if __name__ == "__main__":
    main()
