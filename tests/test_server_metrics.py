"""mod_wsgi.server_metrics() (issue 5: WSGIDaemonProcess server-metrics=):
None unless enabled (WSGIServerMetrics On in embedded mode, the group's
server-metrics=On in a daemon process), otherwise a snapshot of Apache's
scoreboard with mod_wsgi 4.9.4's keys and types. The snapshot must be the
live scoreboard the Apache children write: the request being served shows
up in it, in embedded mode and in a daemon process of a freshly started
Apache (where httpd only creates the scoreboard after the daemons have
been forked, unless the module creates it first)."""

import time
import uuid

import pytest
import requests

METRICS = '''
import json, os, mod_wsgi

def kinds(d):
    return {k: type(v).__name__ for k, v in d.items()}

def application(environ, start_response):
    m = mod_wsgi.server_metrics()
    out = {"pid": os.getpid(), "process_group": mod_wsgi.process_group,
           "application_group": mod_wsgi.application_group, "metrics": m}
    if m is not None:
        out["types"] = kinds(m)
        out["process_types"] = [kinds(p) for p in m["processes"]]
        out["worker_types"] = [kinds(w) for p in m["processes"] for w in p["workers"]]
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
'''

TOP = {
    "server_limit": "int", "thread_limit": "int", "running_generation": "int",
    "restart_time": "float", "current_time": "float", "running_time": "int",
    "processes": "list",
}
PROCESS = {"process_num": "int", "pid": "int", "generation": "int", "quiescing": "bool",
           "workers": "list"}
WORKER = {
    "thread_num": "int", "generation": "int", "status": "str", "access_count": "int",
    "bytes_served": "int", "start_time": "float", "stop_time": "float", "last_used": "float",
    "client": "str", "request": "str", "vhost": "str",
}
LETTERS = set("_SRWKLDCGI.")


def fetch(ap, path):
    marker = uuid.uuid4().hex[:12]
    r = requests.get(ap.url("%s?%s" % (path, marker)), timeout=30)
    assert r.status_code == 200, r.text[:500]
    return r.json(), marker


def check_shape(out):
    m = out["metrics"]
    assert isinstance(m, dict), out
    assert out["types"] == TOP
    assert len(m["processes"]) == m["server_limit"]
    for p in out["process_types"]:
        assert p == PROCESS
    for w in out["worker_types"]:
        assert w == WORKER
    for i, p in enumerate(m["processes"]):
        assert p["process_num"] == i
        assert len(p["workers"]) == m["thread_limit"]
        for w in p["workers"]:
            assert w["status"] in LETTERS, w
    assert m["current_time"] >= m["restart_time"] > 1e9
    assert m["running_time"] == int(m["current_time"] - m["restart_time"])


def serving_worker(ap, m, marker):
    """The scoreboard record of the Apache child thread serving the
    request tagged ``marker`` (ExtendedStatus On records the request line)."""
    found = [
        (p, w) for p in m["processes"] for w in p["workers"] if marker in w["request"]
    ]
    assert found, "request %s not in the scoreboard" % marker
    (p, w), = found
    assert w["status"] == "W", w
    assert w["request"].startswith("GET /"), w
    assert w["client"] == "127.0.0.1", w
    assert w["vhost"] == "127.0.0.1:%d" % ap.port, w
    assert p["pid"] in ap.children(), (p["pid"], ap.children())
    return p, w


# ------------------------------------------------------------ embedded mode

@pytest.mark.parametrize("setting", [
    pytest.param("", id="default", marks=pytest.mark.mod_wsgi_bug(
        "with WSGIServerMetrics not set, 4.9.4 and 5.0.2 return the scoreboard (fixed in mod_wsgi 6)")),
    pytest.param("WSGIServerMetrics Off\n", id="off"),
])
def test_embedded_off_returns_none(make_apache_fn, setting):
    ap = make_apache_fn(setting + "WSGIScriptAlias /m @APPS@/metrics.wsgi\n",
                        apps={"metrics.wsgi": METRICS}, name="metrics-off")
    out, _ = fetch(ap, "/m")
    assert out["metrics"] is None


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_embedded_on_returns_the_live_scoreboard(make_apache_fn, mpm):
    ap = make_apache_fn(
        "WSGIServerMetrics On\nExtendedStatus On\nWSGIScriptAlias /m @APPS@/metrics.wsgi\n",
        apps={"metrics.wsgi": METRICS}, mpm=mpm, name="metrics-on",
    )
    out, marker = fetch(ap, "/m")
    check_shape(out)
    m = out["metrics"]
    if mpm == "prefork":
        assert m["thread_limit"] == 1
    p, w = serving_worker(ap, m, marker)
    # Embedded: the thread serving the request is our own.
    assert p["pid"] == out["pid"]
    assert not p["quiescing"]
    assert p["generation"] == m["running_generation"]
    assert w["start_time"] >= m["restart_time"]


def test_embedded_on_in_a_named_sub_interpreter(make_apache_fn):
    ap = make_apache_fn(
        "WSGIServerMetrics On\nExtendedStatus On\n"
        "WSGIScriptAlias /m @APPS@/metrics.wsgi application-group=other\n",
        apps={"metrics.wsgi": METRICS}, global_group=False, name="metrics-sub",
    )
    out, marker = fetch(ap, "/m")
    assert out["application_group"] == "other"
    check_shape(out)
    p, _ = serving_worker(ap, out["metrics"], marker)
    assert p["pid"] == out["pid"]


# --------------------------------------------------------------- daemon mode

DAEMONS = """
WSGIServerMetrics On
ExtendedStatus On
WSGIDaemonProcess on server-metrics=On threads=2
WSGIDaemonProcess off threads=2
WSGIScriptAlias /on @APPS@/metrics.wsgi process-group=on application-group=%{GLOBAL}
WSGIScriptAlias /off @APPS@/metrics.wsgi process-group=off application-group=%{GLOBAL}
WSGIScriptAlias /embedded @APPS@/metrics.wsgi
"""


@pytest.fixture(scope="module")
def daemons(make_apache):
    # A freshly started Apache: the daemons were forked at the first start.
    return make_apache(DAEMONS, apps={"metrics.wsgi": METRICS})


def test_daemon_group_with_server_metrics_sees_the_scoreboard_at_first_start(daemons):
    out, marker = fetch(daemons, "/on")
    assert out["process_group"] == "on"
    check_shape(out)
    m = out["metrics"]
    p, _ = serving_worker(daemons, m, marker)
    # The daemon process is not in the scoreboard; the Apache child that
    # proxies the request to it is.
    assert p["pid"] != out["pid"]
    assert out["pid"] not in [q["pid"] for q in m["processes"]]


def test_daemon_group_without_server_metrics_returns_none(daemons):
    # WSGIServerMetrics On does not apply to daemon processes.
    out, _ = fetch(daemons, "/off")
    assert out["process_group"] == "off"
    assert out["metrics"] is None


def test_embedded_next_to_daemons(daemons):
    out, marker = fetch(daemons, "/embedded")
    assert out["process_group"] == ""
    check_shape(out)
    serving_worker(daemons, out["metrics"], marker)


def test_daemon_sees_the_scoreboard_after_a_restart(daemons):
    before, _ = fetch(daemons, "/on")
    daemons.restart()
    # The old daemon process may still answer while it drains.
    deadline = time.time() + 15
    while True:
        out, marker = fetch(daemons, "/on")
        if out["pid"] != before["pid"] or time.time() > deadline:
            break
        time.sleep(0.2)
    assert out["pid"] != before["pid"], "the daemon process was not replaced"
    check_shape(out)
    m = out["metrics"]
    assert m["running_generation"] > before["metrics"]["running_generation"]
    assert m["restart_time"] > before["metrics"]["restart_time"]
    p, _ = serving_worker(daemons, m, marker)
    assert p["generation"] == m["running_generation"]
    off, _ = fetch(daemons, "/off")
    assert off["metrics"] is None
