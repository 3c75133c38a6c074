"""`apache2 -k graceful` and `-k restart`, 10 times each while requests are
being served, leave Apache serving with no crashed child."""

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
