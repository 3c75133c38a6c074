"""The mod_wsgi 6.0.5 metrics API (issue 16 §1), in both modes: None before
start_recording_metrics(), request_metrics() emptied per call with exact
counts and histogram totals after a known sequence of requests,
process_metrics() with its per-thread counts, and the request_started /
request_finished payloads with real values (input and output counts, CPU
time, queue and daemon start in daemon mode).

Every count here is exact: one Apache child (embedded) or one daemon process
serves every request, one request at a time. Durations are only compared
with each other (ordering), never with a clock."""

import json

import pytest
import requests

from conftest import IS_MOD_WSGI

pytestmark = pytest.mark.skipif(
    IS_MOD_WSGI, reason="start_recording_metrics() and the 6.x keys are mod_wsgi 6 API, "
    "absent from Debian's mod_wsgi 4.9.4/5.0.2")

APP = r"""
import json, mod_wsgi, os, time

STARTED = []
FINISHED = []

def on_event(name, **kw):
    if name == 'request_started':
        path = kw['request_environ']['PATH_INFO']
        kw['request_data']['path'] = path
        record = {k: v for k, v in kw.items() if isinstance(v, (int, float, str))}
        STARTED.append(dict(record, path=path))
    elif name == 'request_finished':
        record = {k: v for k, v in kw.items() if isinstance(v, (int, float, str))}
        FINISHED.append(dict(record, path=kw['request_data'].get('path')))

# before anything is recorded (the first request of the process)
BEFORE = {'process': mod_wsgi.process_metrics(), 'request': mod_wsgi.request_metrics()}

mod_wsgi.subscribe_events(on_event)

def _settle():
    # A client has the response before its request has ended here (the
    # events and the accounting come after the last byte is sent): wait
    # until the requests before this one have ended, so what is read is
    # exact. Bounded; the test's counts fail if it ever gives up.
    for _ in range(5000):
        p = mod_wsgi.process_metrics()
        if p is None or p['active_requests'] <= 1:
            return
        time.sleep(0.001)

def _json(start_response, obj, status='200 OK'):
    body = json.dumps(obj).encode()
    start_response(status, [('Content-Type', 'application/json')])
    return [body]

def application(environ, start_response):
    what = environ['PATH_INFO'].strip('/')
    if what == 'before':
        return _json(start_response, BEFORE)
    if what == 'start':
        mod_wsgi.start_recording_metrics()
        mod_wsgi.start_recording_metrics()   # idempotent
        return _json(start_response, {'ok': True})
    if what == 'hello':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'hello']
    if what == 'echo':
        data = environ['wsgi.input'].read()
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return [data]
    if what == 'blocks':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return iter([b'a', b'bb', b'ccc', b''])
    if what == 'missing':
        start_response('404 Not Found', [('Content-Type', 'text/plain')])
        return [b'nope']
    if what == 'fail':
        raise RuntimeError('failing on purpose')
    if what == 'burn':
        n = 0
        for i in range(3000000):
            n += i * i
        return _json(start_response, {'n': n})
    if what in ('request-metrics', 'process-metrics', 'events'):
        _settle()
    if what == 'request-metrics':
        return _json(start_response, mod_wsgi.request_metrics())
    if what == 'process-metrics':
        return _json(start_response, mod_wsgi.process_metrics())
    if what == 'events':
        out = {'started': STARTED[:], 'finished': FINISHED[:]}
        del STARTED[:], FINISHED[:]
        return _json(start_response, out)
    return _json(start_response, {'unknown': what}, '404 Not Found')
"""

CONF = """
WSGIScriptAlias /m @APPS@/metrics.wsgi
"""

# one child, so every request meets the same process and interpreter
ONE_CHILD = """
StartServers 1
ServerLimit 1
ThreadsPerChild 8
MaxRequestWorkers 8
MinSpareThreads 1
MaxSpareThreads 8
"""

DAEMON_THREADS = 3


@pytest.fixture(scope="module")
def ap(make_mode_apache, mode):
    return make_mode_apache(CONF, apps={"metrics.wsgi": APP}, mpm_conf=ONE_CHILD,
                            daemon_options="processes=1 threads=%d" % DAEMON_THREADS)


def get(ap, path, **kw):
    return requests.get(ap.url("/m/" + path), timeout=30, **kw)


def get_json(ap, path):
    r = get(ap, path)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    return r.json()


def events(ap):
    """The events since the last call (this call's own request not
    finished yet, so it is in the next call's list)."""
    return get_json(ap, "events")


def only(records, path):
    """The one record of the request to `path`."""
    found = [e for e in records if e["path"] == "/" + path]
    assert len(found) == 1, (path, records)
    return found[0]


def test_accessors_are_none_before_recording_starts(ap):
    # must run first in the module: the process has not started recording
    assert get_json(ap, "before") == {"process": None, "request": None}
    # nor has it after requests, until start_recording_metrics()
    assert get_json(ap, "process-metrics") is None
    assert get_json(ap, "request-metrics") is None
    assert get_json(ap, "start") == {"ok": True}
    assert isinstance(get_json(ap, "process-metrics"), dict)


def test_request_metrics_counts_a_known_sequence(ap, mode):
    get_json(ap, "request-metrics")             # empties the interval
    body = bytes(range(256)) * 4                # 1024 bytes
    assert get(ap, "hello").content == b"hello"
    assert get(ap, "hello").content == b"hello"
    r = requests.post(ap.url("/m/echo"), data=body, timeout=30)
    assert r.content == body
    assert get(ap, "blocks").content == b"abbccc"
    assert get(ap, "missing").status_code == 404
    assert get(ap, "fail").status_code == 500
    m = get_json(ap, "request-metrics")
    # the 6 requests, and the request-metrics request before them (it
    # ended after it emptied the interval)
    assert m["request_count"] == 7
    assert (m["status_1xx"], m["status_2xx"], m["status_3xx"], m["status_4xx"],
            m["status_5xx"]) == (0, 5, 0, 1, 1)
    assert m["input_bytes"] == 1024
    assert m["input_reads"] >= 1
    # hello ×2 (1 block each), echo (1), blocks (4 items, the empty one
    # included, as mod_wsgi counts), missing (1), fail (0), plus the
    # earlier request-metrics response (1)
    assert m["output_writes"] == 2 + 1 + 4 + 1 + 0 + 1
    for phase in ("server_time", "application_time", "request_time", "gil_wait_time",
                  "input_read_time", "output_write_time"):
        buckets = m[phase + "_buckets"]
        assert len(buckets) == 65
        assert sum(buckets) == 7, (phase, buckets)
        assert m[phase] >= 0.0
        assert m[phase + "_min_us"] <= m[phase + "_max_us"]
    for phase in ("queue_time", "daemon_time"):
        assert len(m[phase + "_buckets"]) == 65
        if mode == "daemon":
            assert sum(m[phase + "_buckets"]) == 7
            assert m[phase] >= 0.0
        else:
            assert sum(m[phase + "_buckets"]) == 0
            assert m[phase] is None
            assert m[phase + "_min_us"] is None and m[phase + "_max_us"] is None
    maximum = DAEMON_THREADS if mode == "daemon" else 8
    assert m["request_threads_maximum"] == maximum
    for key in ("request_threads_completed", "request_threads_buckets",
                "request_threads_busy_time", "request_threads_cpu_time",
                "request_threads_current_elapsed", "request_threads_max_duration"):
        assert len(m[key]) == maximum, key
    assert sum(m["request_threads_completed"]) == 7
    # this request is in progress on exactly one thread
    assert sum(1 for e in m["request_threads_current_elapsed"] if e > 0) <= 1
    assert 1 <= m["request_threads_active"] <= m["request_threads_started"] <= maximum
    assert m["request_throughput"] > 0 and m["sample_period"] > 0
    assert 0 <= m["capacity_utilization"]
    assert m["stop_time"] >= m["start_time"]
    assert m["cpu_time"] == pytest.approx(m["cpu_user_time"] + m["cpu_system_time"])
    assert m["memory_rss"] > 0 and m["memory_max_rss"] >= m["memory_rss"] // 2


def test_request_metrics_empties_its_counters_on_each_call(ap):
    get_json(ap, "request-metrics")
    m = get_json(ap, "request-metrics")
    # only the previous request-metrics request, nothing counted twice
    assert m["request_count"] == 1
    assert sum(m["request_time_buckets"]) == 1
    assert m["status_2xx"] == 1 and m["input_bytes"] == 0
    assert sum(m["request_threads_completed"]) == 1


def test_process_metrics_counts_requests_and_threads(ap):
    p1 = get_json(ap, "process-metrics")
    for _ in range(5):
        get(ap, "hello")
    p2 = get_json(ap, "process-metrics")
    # the 5 requests, and the first process-metrics request
    assert p2["request_count"] - p1["request_count"] == 6
    # threads count their requests when they start, the process when they
    # end: only this request has started and not ended
    assert sum(t["request_count"] for t in p2["threads"]) == p2["request_count"] + 1
    assert p2["active_requests"] == 1
    assert p2["request_threads"] == len(p2["threads"]) >= 1
    assert sorted(t["thread_id"] for t in p2["threads"]) == [t["thread_id"] for t in p2["threads"]]
    assert p2["request_busy_time"] >= p1["request_busy_time"] > 0
    assert p2["pid"] == p1["pid"]
    assert p2["restart_time"] == p1["restart_time"] <= p2["current_time"]
    assert isinstance(p2["running_time"], int)
    assert p2["cpu_time"] == pytest.approx(p2["cpu_user_time"] + p2["cpu_system_time"])
    assert p2["memory_rss"] > 0 and p2["memory_max_rss"] > 0


def test_request_finished_reports_input_output_and_status(ap):
    events(ap)
    body = b"x" * 5000
    r = requests.post(ap.url("/m/echo"), data=body, timeout=30)
    assert r.content == body
    get(ap, "blocks")
    get(ap, "fail")
    done = events(ap)["finished"]
    echo, blocks, fail = (only(done, p) for p in ("echo", "blocks", "fail"))
    assert (echo["input_length"], echo["output_length"], echo["output_writes"]) == (5000, 5000, 1)
    assert echo["input_reads"] >= 1 and echo["status"] == 200
    assert (blocks["input_length"], blocks["input_reads"]) == (0, 0)
    assert (blocks["output_length"], blocks["output_writes"]) == (6, 4)
    assert (fail["status"], fail["output_length"], fail["output_writes"]) == (500, 0, 0)
    for e in (echo, blocks, fail):
        assert e["input_time"] >= 0 and e["output_time"] >= 0
        assert e["gil_wait_count"] >= 1 and e["gil_wait_time"] >= 0
        assert e["application_finish"] >= e["request_start"] > 0
        assert e["application_time"] >= 0


def test_cpu_time_of_a_cpu_burning_request(ap):
    events(ap)
    get_json(ap, "burn")
    burn = only(events(ap)["finished"], "burn")
    assert burn["cpu_user_time"] + burn["cpu_system_time"] > 0, burn
    assert burn["cpu_time"] == pytest.approx(burn["cpu_user_time"] + burn["cpu_system_time"])
    # never more CPU than the request's own wall time on its thread
    assert burn["cpu_time"] <= burn["application_time"] + 1e-6


def test_request_start_queue_and_daemon_start(ap, mode):
    events(ap)
    get(ap, "hello")
    seen = events(ap)
    started, finished = only(seen["started"], "hello"), only(seen["finished"], "hello")
    for key in ("request_start", "queue_start", "daemon_start"):
        assert started[key] == finished[key], key
    assert started["request_id"] == finished["request_id"]
    # the Apache child that took the request (the daemon's peer in daemon mode)
    assert started["server_pid"] == finished["server_pid"] > 0
    app_pid = get_json(ap, "process-metrics")["pid"]
    assert (started["server_pid"] == app_pid) == (mode == "embedded")
    if mode == "daemon":
        # the Apache child took the request, sent it, the daemon accepted
        # it, then ran the application
        assert 0 < started["request_start"] <= started["queue_start"] \
            <= started["daemon_start"] <= started["application_start"] \
            <= finished["application_finish"]
        assert started["daemon_connects"] == 1
    else:
        assert started["queue_start"] == 0 and started["daemon_start"] == 0
        assert 0 < started["request_start"] <= started["application_start"] \
            <= finished["application_finish"]
