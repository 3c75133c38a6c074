"""Metrics shared across processes (issue 16): `SetHandler wsgi-metrics`
serves the Prometheus text format summed over every Apache child and daemon
process. After a known sequence of requests the counters move by exactly
that much (embedded and daemon mode); daemon restarts are counted with their
reason (maximum-requests, and request-timeout when a thread does not unwind);
a scrape taken while requests run passes `promtool check metrics`."""

import re
import shutil
import subprocess
import threading
import time

import pytest
import requests

from conftest import IS_MOD_WSGI

pytestmark = pytest.mark.skipif(IS_MOD_WSGI, reason="wsgi-metrics is mod_wsgi_rs's own handler")

APP = '''
def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/missing":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no\\n"]
    if path == "/boom":
        raise RuntimeError("boom")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\\n"]
'''

SLEEPER = '''
import time

def application(environ, start_response):
    time.sleep(float(environ.get("QUERY_STRING") or "0"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"slept\\n"]
'''

METRICS_LOCATION = """
<Location /metrics>
    SetHandler wsgi-metrics
    Require ip 127.0.0.1
</Location>
"""

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels)): value} of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "bad line: %r" % line
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(ap):
    r = requests.get(ap.url("/metrics"), timeout=30)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return r.text


def settled(ap):
    """A scrape once every request has been recorded: a request is recorded
    after its response went out, so a client can scrape before the process
    that served it has counted it. Busy threads and active requests are
    lowered after the recording; when both are 0 everything is counted."""
    deadline = time.time() + 60
    while True:
        samples = parse(scrape(ap))
        busy = sum(v for (n, _), v in samples.items()
                   if n in ("mod_wsgi_rs_busy_threads", "mod_wsgi_rs_active_requests"))
        if busy == 0 or time.time() > deadline:
            return samples
        time.sleep(0.05)


def wait_for(ap, name, want, timeout=60, **labels):
    """Scrapes until the sample reaches `want` (restarts happen after the
    request that caused them); returns the last reading."""
    deadline = time.time() + timeout
    while True:
        got = value(parse(scrape(ap)), name, **labels)
        if got >= want or time.time() > deadline:
            return got
        time.sleep(0.2)


def promtool_check(text):
    tool = shutil.which("promtool")
    assert tool, "promtool missing: install Debian's prometheus package (scripts/install-deps)"
    p = subprocess.run([tool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60)
    assert p.returncode == 0, (p.stdout + p.stderr).decode()[:2000]


@pytest.fixture(scope="module")
def ap(make_mode_apache):
    return make_mode_apache(
        "WSGIScriptAlias /app @APPS@/app.wsgi\n" + METRICS_LOCATION,
        apps={"app.wsgi": APP},
        name="metrics",
    )


def group_of(mode):
    return "mwrs-test" if mode == "daemon" else ""


def test_exact_counts_after_known_requests(ap, mode):
    pg = group_of(mode)
    before = settled(ap)
    s = requests.Session()
    for path, n, code in (("/app/ok", 5, 200), ("/app/missing", 3, 404), ("/app/boom", 2, 500)):
        for _ in range(n):
            assert s.get(ap.url(path), timeout=30).status_code == code
    s.close()
    after = settled(ap)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    lab = {"process_group": pg, "application_group": ""}
    assert delta("mod_wsgi_rs_requests_total", status_class="2xx", **lab) == 5
    assert delta("mod_wsgi_rs_requests_total", status_class="4xx", **lab) == 3
    assert delta("mod_wsgi_rs_requests_total", status_class="5xx", **lab) == 2
    assert delta("mod_wsgi_rs_requests_total", status_class="3xx", **lab) == 0
    for h in ("duration", "queue_wait", "gil_wait"):
        name = "mod_wsgi_rs_request_%s_seconds" % h
        assert delta(name + "_count", **lab) == 10
        assert delta(name + "_bucket", le="+Inf", **lab) == 10
    assert delta("mod_wsgi_rs_request_duration_seconds_sum", **lab) > 0
    # nothing runs now
    assert value(after, "mod_wsgi_rs_active_requests", **lab) == 0
    assert value(after, "mod_wsgi_rs_busy_threads", process_group=pg) == 0
    # the build info and the processes up
    infos = [k for k in after if k[0] == "mod_wsgi_rs_build_info"]
    assert len(infos) == 1 and after[infos[0]] == 1
    assert value(after, "mod_wsgi_rs_python_interpreters", process_group=pg) >= 1
    if mode == "daemon":
        assert value(after, "mod_wsgi_rs_processes", process_group=pg) == 1
        for reason in ("maximum-requests", "restart-interval", "inactivity-timeout",
                       "request-timeout", "deadlock-timeout", "signal", "memory-limit", "crash"):
            assert ("mod_wsgi_rs_daemon_restarts_total",
                    frozenset({"process_group": pg, "reason": reason}.items())) in after
        rss = [v for (n, l), v in after.items()
               if n == "mod_wsgi_rs_process_resident_memory_bytes" and ("process_group", pg) in l]
        cpu = [v for (n, l), v in after.items()
               if n == "mod_wsgi_rs_process_cpu_seconds_total" and ("process_group", pg) in l]
        assert len(rss) == 1 and rss[0] > 1024 * 1024
        assert len(cpu) == 1 and cpu[0] > 0
    else:
        assert value(after, "mod_wsgi_rs_processes", process_group="") >= 1
        assert not any(n == "mod_wsgi_rs_daemon_restarts_total" and ("process_group", "") in l
                       for (n, l) in after)


def test_scrape_access_is_apaches(ap):
    # Require stays Apache's: another verb than GET/HEAD is refused
    assert requests.post(ap.url("/metrics"), timeout=30).status_code == 405
    assert requests.head(ap.url("/metrics"), timeout=30).status_code == 200


def test_promtool_accepts_a_scrape_under_load(ap):
    stop = threading.Event()
    done = [0]

    def load():
        s = requests.Session()
        while not stop.is_set():
            s.get(ap.url("/app/ok"), timeout=30)
            done[0] += 1
        s.close()

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        texts = []
        while len(texts) < 5 or done[0] < 50:
            texts.append(scrape(ap))
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    for text in texts:
        promtool_check(text)


def test_restarts_counted_with_their_reason(make_apache):
    ap = make_apache(
        """
        WSGIDaemonProcess maxreq processes=1 threads=2 maximum-requests=3
        WSGIDaemonProcess stuck processes=1 threads=1 request-timeout=1 interrupt-timeout=1 graceful-timeout=30
        WSGIScriptAlias /max @APPS@/app.wsgi process-group=maxreq
        WSGIScriptAlias /stuck @APPS@/sleeper.wsgi process-group=stuck
        """ + METRICS_LOCATION,
        apps={"app.wsgi": APP, "sleeper.wsgi": SLEEPER},
        name="metrics-restart",
    )
    first = parse(scrape(ap))
    assert value(first, "mod_wsgi_rs_processes", process_group="maxreq") == 1
    for reason in ("maximum-requests", "request-timeout"):
        for g in ("maxreq", "stuck"):
            assert value(first, "mod_wsgi_rs_daemon_restarts_total", process_group=g, reason=reason) == 0
    for _ in range(3):
        assert requests.get(ap.url("/max/ok"), timeout=30).status_code == 200
    got = wait_for(ap, "mod_wsgi_rs_daemon_restarts_total", 1, process_group="maxreq", reason="maximum-requests")
    assert got == 1
    # time.sleep blocks in C: RequestTimeout cannot unwind it within
    # interrupt-timeout, so the process is replaced for request-timeout.
    r = requests.get(ap.url("/stuck?4"), timeout=60)
    assert r.status_code == 504
    got = wait_for(ap, "mod_wsgi_rs_daemon_restarts_total", 1, process_group="stuck", reason="request-timeout")
    assert got == 1
    last = settled(ap)
    assert value(last, "mod_wsgi_rs_daemon_restarts_total", process_group="maxreq", reason="maximum-requests") == 1
    assert value(last, "mod_wsgi_rs_daemon_restarts_total", process_group="stuck", reason="crash") == 0
    assert value(last, "mod_wsgi_rs_requests_total", process_group="maxreq",
                 application_group="", status_class="2xx") == 3
    promtool_check(scrape(ap))


def test_counts_survive_a_graceful_restart(ap, mode):
    pg = group_of(mode)
    lab = {"process_group": pg, "application_group": "", "status_class": "2xx"}
    for _ in range(3):
        assert requests.get(ap.url("/app/ok"), timeout=30).status_code == 200
    before = value(settled(ap), "mod_wsgi_rs_requests_total", **lab)
    assert before >= 3
    ap.graceful()
    after_restart = settled(ap)
    assert value(after_restart, "mod_wsgi_rs_requests_total", **lab) == before
    assert requests.get(ap.url("/app/ok"), timeout=30).status_code == 200
    assert value(settled(ap), "mod_wsgi_rs_requests_total", **lab) == before + 1
