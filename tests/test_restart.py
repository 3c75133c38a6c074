"""`apache2 -k graceful` and `-k restart`, 10 times each while requests are
being served, leave Apache serving with no crashed child; a prefork child
stopped by a signal runs its Python shutdown outside the signal handler."""

import json
import os
import threading
import time

import pytest
import requests

from harness import apps
from harness.apache import assert_no_crash


def _load(ap, stop, stats):
    s = requests.Session()
    while not stop.is_set():
        try:
            r = s.get(ap.url("/hello"), timeout=5)
            stats["ok" if r.status_code == 200 else "bad"] += 1
            if r.status_code == 200 and r.content != b"Hello World!\n":
                stats["corrupt"] += 1
        except requests.RequestException:
            # connections cut by a hard restart are expected
            stats["conn_err"] += 1
            s.close()
            s = requests.Session()
            time.sleep(0.01)
    s.close()


@pytest.mark.parametrize("how", ["graceful", "restart"])
@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_repeated_restarts_under_load(make_apache_fn, how, mpm):
    ap = make_apache_fn(
        "WSGIScriptAlias /hello @APPS@/hello.wsgi\n",
        mpm=mpm,
        apps={"hello.wsgi": apps.HELLO},
        name="restart-%s-%s" % (how, mpm),
    )
    stop = threading.Event()
    stats = {"ok": 0, "bad": 0, "conn_err": 0, "corrupt": 0}
    threads = [threading.Thread(target=_load, args=(ap, stop, stats)) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(10):
            time.sleep(0.4)
            getattr(ap, how)()
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert stats["ok"] > 20, stats
    assert stats["corrupt"] == 0, stats
    assert stats["bad"] == 0, stats
    # still serving afterwards
    for _ in range(10):
        r = requests.get(ap.url("/hello"), timeout=5)
        assert r.status_code == 200
        assert r.content == b"Hello World!\n"
    log = ap.error_log()
    assert log.count("resuming normal operations") >= 11
    assert_no_crash(ap)
    # a child that hangs in its exit path (e.g. Python finalisation) shows up as
    # "AH00045: child process N still did not exit, sending a SIGTERM"
    assert "still did not exit" not in log, "children did not exit promptly on restart"


SIGNAL_CONTEXT_APP = r"""
import atexit, json, os, signal, mod_wsgi
GROUP = mod_wsgi.application_group or 'main'
def _record():
    # the signals this thread blocks: inside a signal handler, the one
    # being handled is among them
    blocked = sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, []))
    with open(os.path.join('@VAR@', 'atexit-%d-%s' % (os.getpid(), GROUP)), 'w') as f:
        json.dump(blocked, f)
atexit.register(_record)
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(os.getpid()).encode()]
"""

ONE_CHILD_PREFORK = """
    StartServers 1
    MinSpareServers 1
    MaxSpareServers 1
    ServerLimit 1
    MaxRequestWorkers 1
"""


@pytest.mark.mwrs_only("prefork children run shutdown callbacks outside the MPM's signal handler")
@pytest.mark.parametrize("how", ["restart", "stop"])
def test_prefork_child_exit_runs_python_outside_the_signal_handler(make_apache_fn, how):
    """prefork ends a child on SIGHUP/SIGTERM inside the signal handler;
    an idle child's `atexit` callbacks (main and sub-interpreter) must
    still run, but in normal context: the handled signal is not blocked."""
    ap = make_apache_fn(
        """
        WSGIScriptAlias /g @APPS@/app.wsgi application-group=%{GLOBAL}
        WSGIScriptAlias /a @APPS@/app.wsgi application-group=A
        """,
        mpm="prefork",
        mpm_conf=ONE_CHILD_PREFORK,
        apps={"app.wsgi": SIGNAL_CONTEXT_APP},
        global_group=False,
        name="signal-context",
    )
    pids = {requests.get(ap.url(p), timeout=10).text for p in ("/g", "/a")}
    assert len(pids) == 1, pids
    pid = int(pids.pop())
    # let the child finish the connection and wait for the next one
    time.sleep(1)
    if how == "restart":
        ap.restart()
    else:
        ap.stop()
    signo = {"restart": 1, "stop": 15}[how]  # SIGHUP, SIGTERM
    for group in ("main", "A"):
        path = ap.var_path("atexit-%d-%s" % (pid, group))
        assert os.path.exists(path), ("atexit did not run in " + group, os.listdir(ap.var_dir))
        with open(path) as f:
            blocked = json.load(f)
        assert signo not in blocked, "%s's atexit ran inside the signal handler (blocked %s)" % (group, blocked)
    assert_no_crash(ap)
