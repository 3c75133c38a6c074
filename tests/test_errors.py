"""Application errors become a 500 with a logged traceback; the child keeps
serving; close() on the returned iterable is always called."""

import os
import time

import pytest
import requests

from harness import apps
from harness.apache import assert_no_crash

ERRAPP = """
import os

VAR = '@VAR@'

class Closing:
    def __init__(self, name, items):
        self.name = name
        self.items = items
    def __iter__(self):
        for i in self.items:
            if isinstance(i, BaseException):
                raise i
            yield i
    def close(self):
        with open(os.path.join(VAR, 'closed-' + self.name), 'w') as f:
            f.write('closed')

def application(environ, start_response):
    what = environ['PATH_INFO'].strip('/')
    q = environ.get('QUERY_STRING', '')
    if what == 'raise':
        raise ValueError('boom-from-app-%s' % q)
    if what == 'nonbytes-str':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return ['a str, not bytes']
    if what == 'non-iterable':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return 42
    if what == 'none':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return None
    if what == 'no-start-response':
        return [b'body without start_response']
    if what == 'close-ok':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return Closing('ok-' + q, [b'fine'])
    if what == 'close-iter-raises':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return Closing('iterraise-' + q, [RuntimeError('iter-boom-%s' % q)])
    if what == 'close-nonbytes':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return Closing('nonbytes-' + q, [u'text'])
    if what == 'close-raises':
        class C(Closing):
            def close(self):
                Closing.close(self)
                raise KeyError('close-boom-%s' % q)
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return C('closeraise-' + q, [b'body'])
    if what == 'generator-raises':
        def gen():
            raise IndexError('gen-boom-%s' % q)
            yield b''
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return gen()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'alive ' + str(os.getpid()).encode()]
"""

BADSCRIPT = """
raise ImportError('script-load-failure-marker')
"""

NOCALLABLE = """
app = None
"""

SYNTAX = """
def application(environ, start_response)
    return []
"""


@pytest.fixture(scope="module")
def ap(make_mode_apache):
    a = make_mode_apache(
        """
        WSGIScriptAlias /e @APPS@/err.wsgi
        WSGIScriptAlias /badscript @APPS@/bad.wsgi
        WSGIScriptAlias /nocallable @APPS@/nocallable.wsgi
        WSGIScriptAlias /hello @APPS@/hello.wsgi
        WSGIScriptAlias /syntax @APPS@/syntax.wsgi
        WSGIScriptAlias /missing @APPS@/missing.wsgi
        WSGIScriptAlias /unreadable @APPS@/unreadable.wsgi
        """,
        apps={
            "err.wsgi": ERRAPP,
            "bad.wsgi": BADSCRIPT,
            "nocallable.wsgi": NOCALLABLE,
            "hello.wsgi": apps.HELLO,
            "syntax.wsgi": SYNTAX,
        },
        start=False,
    )
    # readable by root (the test) only, not by Apache's User
    a.write_file("apps/unreadable.wsgi", apps.HELLO, mode=0o600)
    return a.start()


def get(ap, path):
    t = time.time()
    r = requests.get(ap.url(path), timeout=10)
    assert time.time() - t < 3, "response to %s took %.1fs" % (path, time.time() - t)
    return r


def uniq():
    return "%d%d" % (os.getpid(), time.monotonic_ns())


def wait_file(p, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(p):
            return True
        time.sleep(0.05)
    return False


def test_exception_gives_500_and_traceback(ap):
    mark = ap.log_size()
    u = uniq()
    r = get(ap, "/e/raise?" + u)
    assert r.status_code == 500
    assert "boom-from-app" not in r.text  # no traceback leaked to the client
    m = ap.wait_log(r"ValueError: boom-from-app-" + u, mark)
    assert m, ap.log_since(mark)
    log = ap.log_since(mark)
    assert "Traceback (most recent call last)" in log
    assert "err.wsgi" in log
    # the child keeps serving
    for _ in range(5):
        assert get(ap, "/e/alive").status_code == 200


@pytest.mark.parametrize("what", ["nonbytes-str", "non-iterable", "none", "no-start-response"])
def test_bad_return_gives_500_and_log(ap, what):
    mark = ap.log_size()
    r = get(ap, "/e/" + what)
    assert r.status_code == 500, (r.status_code, r.text[:200])
    assert "a str, not bytes" not in r.text
    assert "body without start_response" not in r.text
    assert ap.wait_log(
        r"(?m)(TypeError|RuntimeError|ValueError|response has not been started).*$", mark
    ), ap.log_since(mark)
    assert get(ap, "/e/alive").status_code == 200


def test_generator_raising_before_first_item(ap):
    mark = ap.log_size()
    u = uniq()
    r = get(ap, "/e/generator-raises?" + u)
    assert r.status_code == 500
    assert ap.wait_log(r"IndexError: gen-boom-" + u, mark), ap.log_since(mark)


@pytest.mark.parametrize(
    "what,status",
    [("close-ok", 200), ("close-iter-raises", 500), ("close-nonbytes", 500), ("close-raises", 200)],
)
def test_close_always_called(ap, what, status):
    u = uniq()
    mark = ap.log_size()
    r = get(ap, "/e/%s?%s" % (what, u))
    assert r.status_code == status
    name = {
        "close-ok": "ok-",
        "close-iter-raises": "iterraise-",
        "close-nonbytes": "nonbytes-",
        "close-raises": "closeraise-",
    }[what]
    assert wait_file(ap.var_path("closed-" + name + u)), "close() was not called"
    if what == "close-raises":
        assert r.content == b"body"
        assert ap.wait_log(r"KeyError: 'close-boom-%s'" % u, mark), ap.log_since(mark)
    if what == "close-iter-raises":
        assert ap.wait_log(r"RuntimeError: iter-boom-" + u, mark), ap.log_since(mark)


def test_script_load_failure(ap):
    mark = ap.log_size()
    r = get(ap, "/badscript")
    assert r.status_code == 500
    assert ap.wait_log(r"ImportError: script-load-failure-marker", mark), ap.log_since(mark)
    assert get(ap, "/hello").status_code == 200


@pytest.mark.mod_wsgi_bug("embedded mode answers 404 for a script without the callable", mode="embedded")
def test_missing_callable(ap):
    mark = ap.log_size()
    r = get(ap, "/nocallable")
    assert r.status_code == 500
    assert ap.wait_log(r"does not contain WSGI application 'application'", mark), ap.log_since(mark)


@pytest.mark.mwrs_only("issue 17: one failure, one log code, in both modes (docs/errors.md)")
@pytest.mark.parametrize(
    "path,status,code",
    [
        ("/missing", 404, "E301"),
        ("/unreadable", 500, "E302"),
        ("/syntax", 500, "E303"),
        ("/badscript", 500, "E304"),
        ("/nocallable", 500, "E104"),
    ],
)
def test_failure_status_and_log_code(ap, path, status, code):
    mark = ap.log_size()
    r = get(ap, path)
    assert r.status_code == status
    assert ap.wait_log(r"\[WSGI-RS-%s\]" % code, mark), ap.log_since(mark)


def test_many_errors_child_survives(ap):
    pids_before = set(ap.children())
    for i in range(30):
        assert get(ap, "/e/raise?%d" % i).status_code == 500
    for _ in range(10):
        assert get(ap, "/hello").status_code == 200
    # no child died (it may have been replaced only by MPM maintenance, not crashes)
    assert_no_crash(ap)
    assert pids_before  # sanity: we saw the children
