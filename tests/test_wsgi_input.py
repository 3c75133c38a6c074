"""wsgi.input (issue 3 §2): read variants, iteration, EOF, chunked bodies,
LimitRequestBody, a 50 MB upload, GIL released while reading, use after the
request ended."""

import hashlib
import json
import os
import socket
import time

import pytest
import requests

INPUT_APP = """
import hashlib, json, os, threading

VAR = '@VAR@'

_kept = {}

def _resp(start_response, obj, status='200 OK'):
    body = json.dumps(obj).encode()
    start_response(status, [('Content-Type', 'application/json'),
                            ('Content-Length', str(len(body)))])
    return [body]

def _b(x):
    return x.decode('latin-1')

def application(environ, start_response):
    what = environ['PATH_INFO'].strip('/')
    qs = dict(p.split('=', 1) for p in environ['QUERY_STRING'].split('&') if '=' in p)
    inp = environ['wsgi.input']
    if what == 'read':
        data = inp.read()
        return _resp(start_response, {'len': len(data), 'sha': hashlib.sha256(data).hexdigest(),
                                      'again': _b(inp.read()), 'cl': environ.get('CONTENT_LENGTH')})
    if what == 'readn':
        n = int(qs['n'])
        h = hashlib.sha256(); sizes = []
        while True:
            b = inp.read(n)
            assert isinstance(b, bytes)
            if not b:
                break
            sizes.append(len(b)); h.update(b)
        return _resp(start_response, {'len': sum(sizes), 'sha': h.hexdigest(),
                                      'max': max(sizes) if sizes else 0, 'chunks': len(sizes)})
    if what == 'read0':
        z = inp.read(0)
        rest = inp.read()
        return _resp(start_response, {'zero': _b(z), 'rest': _b(rest)})
    if what == 'readline':
        lines = []
        while True:
            l = inp.readline()
            if not l:
                break
            lines.append(_b(l))
        return _resp(start_response, {'lines': lines})
    if what == 'readline-size':
        n = int(qs['n'])
        parts = []
        while True:
            l = inp.readline(n)
            if not l:
                break
            parts.append(_b(l))
        return _resp(start_response, {'parts': parts})
    if what == 'readlines':
        return _resp(start_response, {'lines': [_b(l) for l in inp.readlines()]})
    if what == 'readlines-hint':
        first = inp.readlines(int(qs['hint']))
        rest = inp.read()
        return _resp(start_response, {'first': [_b(l) for l in first], 'rest': _b(rest)})
    if what == 'iter':
        return _resp(start_response, {'lines': [_b(l) for l in inp]})
    if what == 'mixed':
        a = inp.readline()
        b = inp.read(3)
        c = inp.readline()
        d = inp.read()
        return _resp(start_response, {'parts': [_b(a), _b(b), _b(c), _b(d)], 'eof': _b(inp.read(5))})
    if what == 'keep':
        _kept['input'] = inp
        inp.read()
        return _resp(start_response, {'kept': True})
    if what == 'use-kept':
        old = _kept.pop('input', None)
        if old is None:
            return _resp(start_response, {'error': 'nothing kept (other process?)'})
        try:
            old.read(10)
        except Exception as e:
            return _resp(start_response, {'error': type(e).__name__, 'msg': str(e)})
        return _resp(start_response, {'error': None})
    if what == 'pid':
        return _resp(start_response, {'pid': os.getpid()})
    if what == 'slowread':
        # tells the test that this thread is about to block in read()
        open(os.path.join(VAR, 'reading-' + qs['tag']), 'w').close()
        data = inp.read()
        return _resp(start_response, {'len': len(data), 'pid': os.getpid()})
    return _resp(start_response, {'error': 'unknown ' + what}, '404 Not Found')
"""

CONF = """
WSGIScriptAlias /in @APPS@/input.wsgi
WSGIScriptAlias /chunked @APPS@/input.wsgi
<Location /chunked>
    WSGIChunkedRequest On
</Location>
WSGIScriptAlias /limited @APPS@/input.wsgi
<Location /limited>
    LimitRequestBody 1000
</Location>
"""

# one child so that requests hit the same interpreter (GIL and 'keep' tests)
ONE_CHILD = """
StartServers 1
ServerLimit 1
ThreadsPerChild 16
MaxRequestWorkers 16
MinSpareThreads 1
MaxSpareThreads 16
"""


# prefork: one child process at a time is enough for these tests too
ONE_PREFORK_CHILD = """
StartServers 1
MinSpareServers 1
MaxSpareServers 1
ServerLimit 1
MaxRequestWorkers 1
"""


# daemon mode: one daemon process, so that requests meet the same interpreter
DAEMON_OPTIONS = "processes=1 threads=16"


@pytest.fixture(scope="module")
def ap(make_mode_apache, mode):
    prefork = os.environ.get("MWRS_TEST_MPM") == "prefork"
    if not prefork:
        conf = ONE_CHILD
    elif mode == "embedded":
        conf = ONE_PREFORK_CHILD
    else:
        # the one interpreter is the daemon's; the prefork children in front
        # of it must be several, or a request left waiting for its body would
        # hold the only child (the GIL test)
        conf = None
    return make_mode_apache(
        CONF, apps={"input.wsgi": INPUT_APP}, mpm_conf=conf, daemon_options=DAEMON_OPTIONS
    )


def post(ap, path, data, **kw):
    r = requests.post(ap.url(path), data=data, timeout=kw.pop("timeout", 30), **kw)
    return r


def wait_file(p, timeout=10.0):
    deadline = time.time() + timeout
    while not os.path.exists(p) and time.time() < deadline:
        time.sleep(0.02)
    return os.path.exists(p)


def ok(r):
    assert r.status_code == 200, (r.status_code, r.text[:500])
    return r.json()


BODY = b"line one\nline two\n\nlast line without newline"


def test_read_all(ap):
    j = ok(post(ap, "/in/read", BODY))
    assert j["len"] == len(BODY)
    assert j["sha"] == hashlib.sha256(BODY).hexdigest()
    assert j["again"] == ""
    assert j["cl"] == str(len(BODY))


def test_read_empty_body(ap):
    j = ok(post(ap, "/in/read", b""))
    assert j["len"] == 0
    j = ok(requests.get(ap.url("/in/read"), timeout=10))
    assert j["len"] == 0


@pytest.mark.parametrize("n", [1, 7, 8192, 100000])
def test_read_n(ap, n):
    data = os.urandom(50000)
    j = ok(post(ap, "/in/readn?n=%d" % n, data))
    assert j["len"] == len(data)
    assert j["sha"] == hashlib.sha256(data).hexdigest()
    assert j["max"] <= n


def test_read_zero(ap):
    j = ok(post(ap, "/in/read0", b"abc"))
    assert j["zero"] == ""
    assert j["rest"] == "abc"


def test_readline(ap):
    j = ok(post(ap, "/in/readline", BODY))
    assert j["lines"] == ["line one\n", "line two\n", "\n", "last line without newline"]


def test_readline_size(ap):
    j = ok(post(ap, "/in/readline-size?n=4", b"abcdefghij\nxy\n"))
    assert j["parts"] == ["abcd", "efgh", "ij\n", "xy\n"]


def test_readline_long_line(ap):
    data = b"x" * 200000 + b"\n" + b"tail"
    j = ok(post(ap, "/in/readline", data))
    assert [len(x) for x in j["lines"]] == [200001, 4]


def test_readlines(ap):
    j = ok(post(ap, "/in/readlines", BODY))
    assert j["lines"] == ["line one\n", "line two\n", "\n", "last line without newline"]


def test_readlines_hint(ap):
    j = ok(post(ap, "/in/readlines-hint?hint=5", BODY))
    # with a hint, at least one line and stop once the hint is reached
    assert j["first"] and j["first"][0] == "line one\n"
    assert "".join(j["first"]) + j["rest"] == BODY.decode()


def test_iteration(ap):
    j = ok(post(ap, "/in/iter", BODY))
    assert j["lines"] == ["line one\n", "line two\n", "\n", "last line without newline"]


def test_mixed_reads(ap):
    j = ok(post(ap, "/in/mixed", b"first\nabcdef\nrest of it"))
    assert j["parts"] == ["first\n", "abc", "def\n", "rest of it"]
    assert j["eof"] == ""


def test_input_after_request_raises(ap):
    ok(post(ap, "/in/keep", b"payload"))
    j = ok(requests.get(ap.url("/in/use-kept"), timeout=10))
    assert j["error"] == "RuntimeError", j
    assert "expired" in j["msg"], j


# -------------------------------------------------------------------- chunked


def gen_chunks(parts):
    for p in parts:
        yield p


def test_chunked_body_with_directive_on(ap):
    parts = [os.urandom(1000), b"", os.urandom(70000), b"tail"]
    parts = [p for p in parts if p]
    data = b"".join(parts)
    r = requests.post(ap.url("/chunked/read"), data=gen_chunks(parts), timeout=30)
    j = ok(r)
    assert j["len"] == len(data)
    assert j["sha"] == hashlib.sha256(data).hexdigest()
    assert j["cl"] is None  # no CONTENT_LENGTH for chunked bodies


def test_chunked_body_readline(ap):
    parts = [b"ab", b"c\nde", b"f\n", b"g"]
    j = ok(requests.post(ap.url("/chunked/readline"), data=gen_chunks(parts), timeout=30))
    assert j["lines"] == ["abc\n", "def\n", "g"]


def test_chunked_body_off_is_411(ap):
    mark = ap.log_size()
    r = requests.post(ap.url("/in/read"), data=gen_chunks([b"abc", b"def"]), timeout=30)
    assert r.status_code == 411
    assert ap.wait_log(r"(?i)chunked", mark), ap.log_since(mark)


@pytest.mark.mwrs_only("issue 3: the 411 log line names the directive that enables chunked bodies")
def test_chunked_411_log_names_directive(ap):
    mark = ap.log_size()
    r = requests.post(ap.url("/in/read"), data=gen_chunks([b"abc"]), timeout=30)
    assert r.status_code == 411
    assert ap.wait_log(r"WSGIChunkedRequest", mark), ap.log_since(mark)


# -------------------------------------------------------------- LimitRequestBody


def test_limit_request_body_413(ap):
    r = post(ap, "/limited/read", b"x" * 2000)
    assert r.status_code == 413
    j = ok(post(ap, "/limited/read", b"x" * 900))
    assert j["len"] == 900


# ---------------------------------------------------------------- big upload


def test_50mb_upload_exact(ap):
    block = os.urandom(1 << 20)
    data = b"".join(bytes([i]) + block[1:] for i in range(50))
    assert len(data) == 50 * (1 << 20)
    t = time.time()
    j = ok(post(ap, "/in/readn?n=65536", data, timeout=120))
    assert j["len"] == len(data)
    assert j["sha"] == hashlib.sha256(data).hexdigest()
    assert time.time() - t < 60


def test_50mb_upload_read_all(ap):
    data = os.urandom(1 << 20) * 50
    j = ok(post(ap, "/in/read", data, timeout=120))
    assert j["len"] == len(data)
    assert j["sha"] == hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------ GIL during read


def test_gil_released_while_reading(ap):
    if ap.mpm == "prefork" and ap.mode == "embedded":
        pytest.skip("prefork: a child process serves one request at a time, so no other "
                    "thread can run while this one waits for the body")
    pid = ok(requests.get(ap.url("/in/pid"), timeout=10))["pid"]
    t = str(time.monotonic_ns())
    s = socket.create_connection((ap.host, ap.port), timeout=15)
    try:
        s.sendall(
            b"POST /in/slowread?tag=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
            b"Connection: close\r\n\r\nab" % t.encode()
        )
        # the app is now about to block inside wsgi.input.read()
        assert wait_file(ap.var_path("reading-" + t)), "slowread never started"
        for _ in range(5):
            t = time.time()
            j = ok(requests.get(ap.url("/in/pid"), timeout=5))
            assert j["pid"] == pid  # same (only) child, same interpreter
            assert time.time() - t < 2, "request stalled while another thread reads input"
        s.sendall(b"cdefghij")
        resp = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            resp += b
        assert resp.startswith(b"HTTP/1.1 200"), resp[:200]
        assert json.loads(resp.split(b"\r\n\r\n", 1)[1])["len"] == 10
    finally:
        s.close()


def test_client_sends_short_body(ap):
    # Content-Length larger than what is sent, then the client closes: the read
    # raises in the app (500 or dropped), and the child keeps serving.
    amark = ap.access_log_size()
    s = socket.create_connection((ap.host, ap.port), timeout=10)
    s.sendall(b"POST /in/read HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nshort")
    s.shutdown(socket.SHUT_WR)
    try:
        s.recv(65536)
    except OSError:
        pass
    s.close()
    # the short request has ended
    assert ap.wait_access_log(r"POST /in/read ", amark), ap.access_log(amark)
    j = ok(post(ap, "/in/read", b"fine"))
    assert j["len"] == 4
