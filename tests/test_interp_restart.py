"""Twenty restart cycles under load (alternating `-k graceful` and `-k restart`), with named
sub-interpreters in use, under event, worker and prefork (issue 4, point 7):
Apache keeps serving every group, the parent's RSS does not grow, and no
child crashes or hangs on exit.
"""

import threading
import time

import pytest
import requests

from conftest import IS_MOD_WSGI
from harness.apache import crash_lines

CYCLES = 20
# mod_wsgi 4.9.4's children that used a sub-interpreter hang at exit until
# Apache kills them (seconds per cycle): a few cycles show it.
CYCLES_MOD_WSGI = 2
RSS_GROWTH_LIMIT_KB = 1024

APP = r"""
import os, mod_wsgi
LOADED_INTO = mod_wsgi.application_group
def application(environ, start_response):
    body = ('group=%s loaded=%s' % (environ['mod_wsgi.application_group'], LOADED_INTO)).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
"""

PATHS = {"/g": "", "/a": "A", "/b": "B"}


def _rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def _load(ap, stop, stats, lock):
    s = requests.Session()
    i = 0
    paths = list(PATHS)
    while not stop.is_set():
        p = paths[i % len(paths)]
        i += 1
        try:
            r = s.get(ap.url(p), timeout=10)
        except requests.RequestException:
            # connections cut by a hard restart are expected
            with lock:
                stats["conn_err"] += 1
            s.close()
            s = requests.Session()
            time.sleep(0.01)
            continue
        want = ("group=%s loaded=%s" % (PATHS[p], PATHS[p])).encode()
        with lock:
            if r.status_code == 200 and r.content == want:
                stats["ok"] += 1
            elif r.status_code == 503:
                stats["unavailable"] += 1
            else:
                stats["bad"] += 1
                stats["bad_samples"].append((p, r.status_code, r.content[:200]))
    s.close()


def _check_serving(ap):
    for _ in range(3):
        for p, g in PATHS.items():
            r = requests.get(ap.url(p), timeout=10)
            assert r.status_code == 200, (p, r.status_code, r.text[:300])
            assert r.content == ("group=%s loaded=%s" % (g, g)).encode(), (p, r.content)


@pytest.mark.mod_wsgi_bug(
    "%{GLOBAL} requests run in a sub-interpreter the thread used before; "
    "children that used a sub-interpreter do not exit on restart"
)
@pytest.mark.parametrize("mpm", ["event", "worker", "prefork"])
def test_restart_cycles_under_load_with_subinterpreters(make_apache_fn, mpm):
    ap = make_apache_fn(
        """
        WSGIScriptAlias /g @APPS@/app.wsgi application-group=%{GLOBAL}
        WSGIScriptAlias /a @APPS@/app.wsgi application-group=A
        WSGIScriptAlias /b @APPS@/app.wsgi application-group=B
        """,
        mpm=mpm,
        apps={"app.wsgi": APP},
        global_group=False,
        name="interp-restart-" + mpm,
    )
    cycles = CYCLES_MOD_WSGI if IS_MOD_WSGI else CYCLES
    _check_serving(ap)
    parent = ap.pid()
    stop = threading.Event()
    lock = threading.Lock()
    stats = {"ok": 0, "bad": 0, "conn_err": 0, "unavailable": 0, "bad_samples": []}
    threads = [threading.Thread(target=_load, args=(ap, stop, stats, lock)) for _ in range(4)]
    for t in threads:
        t.start()
    t0 = time.time()
    try:
        # warm-up: the first generations size the parent's pools
        ap.graceful()
        ap.restart()
        time.sleep(0.3)
        base = _rss_kb(parent)
        for i in range(cycles):
            time.sleep(0.1)
            if i % 2 == 0:
                ap.graceful()
            else:
                ap.restart()
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    took = time.time() - t0
    assert ap.pid() == parent, "the Apache parent was replaced"
    _check_serving(ap)
    time.sleep(0.3)
    grown = _rss_kb(parent) - base
    print("parent RSS %s: base %d kB, grown %d kB over %d cycles (%.1fs)" % (mpm, base, grown, cycles, took))
    log = ap.error_log()
    assert not crash_lines(log), "\n".join(crash_lines(log)[:20])
    assert "still did not exit" not in log, "children did not exit promptly (%.1fs for the cycles)" % took
    assert stats["ok"] > 50, stats
    assert stats["bad"] == 0, stats
    assert log.count("resuming normal operations") >= cycles + 3
    assert grown <= RSS_GROWTH_LIMIT_KB, "parent RSS grew by %d kB over %d cycles" % (grown, cycles)
