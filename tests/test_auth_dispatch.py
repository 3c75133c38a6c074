"""Issue 8, the non-auth hooks: `WSGIDispatchScript` (per-request choice of
process group, application group and callable), `WSGIHandlerScript` (a named
Apache handler served by the script's `handle_request`) and
`WSGIPassApacheRequest` (a PyCapsule wrapping the request_rec).  Runs against
both our module and Debian's mod_wsgi 4.9.4 (MWRS_TEST_MODULE=mod_wsgi)."""

import concurrent.futures
import json
import os
import time

import pytest
import requests

from conftest import IS_MOD_WSGI
from harness.apache import assert_no_crash

MULTI = """
import ctypes, json

def _the_request(capsule):
    # request_rec starts with pool, connection, server, next, prev, main,
    # then `char *the_request`.
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype = ctypes.c_char_p
    get_name.argtypes = [ctypes.py_object]
    name = get_name(capsule)
    r = get_pointer(capsule, name)
    field = ctypes.c_char_p.from_address(r + 6 * ctypes.sizeof(ctypes.c_void_p))
    return field.value.decode('latin-1')

def _reply(name, environ, start_response):
    cap = environ.get('apache.request_rec')
    out = {
        'callable': name,
        'callable_object': environ.get('mod_wsgi.callable_object'),
        'application_group': environ.get('mod_wsgi.application_group'),
        'process_group': environ.get('mod_wsgi.process_group'),
        'request_rec_type': type(cap).__name__ if cap is not None else None,
        'the_request': _the_request(cap) if cap is not None else None,
    }
    body = json.dumps(out).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]

def application(environ, start_response):
    return _reply('application', environ, start_response)

def alt_app(environ, start_response):
    return _reply('alt_app', environ, start_response)
"""

DISPATCH = """
import json, os

def process_group(environ):
    qs = environ.get('QUERY_STRING')
    if qs == 'daemon':
        return 'no-such-daemon'
    if qs == 'global':
        return '%{GLOBAL}'
    return None

def application_group(environ):
    if environ.get('QUERY_STRING') in ('global', 'appgroup'):
        return '%{GLOBAL}'
    return None

def callable_object(environ):
    qs = environ.get('QUERY_STRING')
    if qs == 'dump':
        out = {k: type(v).__name__ for k, v in environ.items()}
        out['__uri__'] = environ.get('REQUEST_URI')
        environ['wsgi.errors'].write('dispatch-wsgi-errors-marker\\n')
        path = os.path.join('@VAR@', 'dispatch-environ.json')
        with open(path + '.tmp', 'w') as f:
            json.dump(out, f)
        os.rename(path + '.tmp', path)
        return None
    if qs in ('alt', 'global', 'appgroup'):
        return 'alt_app'
    if qs == 'bytes':
        return b'alt_app'
    if qs == 'raise':
        raise RuntimeError('dispatch-exploded-marker')
    if qs == 'missing':
        return 'no_such_callable'
    if qs and qs.startswith('n='):
        return 'alt_app' if int(qs[2:]) % 2 else 'application'
    return None
"""

# Stands for a script whose imports take a while (Django, numpy, ...).
SLOW_IMPORT = """
import time
time.sleep(0.3)
"""

HANDLER = """
import json

def handle_request(environ, start_response):
    try:
        with open(environ['SCRIPT_FILENAME'], 'rb') as f:
            data = f.read()
    except FileNotFoundError:
        data = b'<missing>'
    out = {
        'handler': 'foo',
        'content': data.decode('utf-8'),
        'SCRIPT_FILENAME': environ['SCRIPT_FILENAME'],
        'handler_script': environ.get('mod_wsgi.handler_script'),
        'callable_object': environ.get('mod_wsgi.callable_object'),
        'request_handler': environ.get('mod_wsgi.request_handler'),
    }
    body = json.dumps(out).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]
"""

# An access script that reports whether the auth environ carries the capsule.
CAPSULE_ACCESS = """
def allow_access(environ, host):
    cap = environ.get('apache.request_rec')
    if environ.get('QUERY_STRING') == 'want-capsule':
        return cap is not None and type(cap).__name__ == 'PyCapsule'
    return cap is None
"""

CONF = """
WSGIScriptAlias /disp @APPS@/multi.wsgi
<Location /disp>
    WSGIDispatchScript @ROOT@/scripts/dispatch.py
</Location>
WSGIScriptAlias /plain @APPS@/multi.wsgi
WSGIScriptAlias /disp-cold @APPS@/multi_cold.wsgi
<Location /disp-cold>
    WSGIDispatchScript @ROOT@/scripts/dispatch_cold.py
</Location>

WSGIHandlerScript foo-handler @ROOT@/scripts/handler.py
<Directory @HTDOCS@/foo>
    Options +ExecCGI
    AddHandler foo-handler .foo
</Directory>
<Directory @HTDOCS@/noexec>
    AddHandler foo-handler .foo
</Directory>

WSGIScriptAlias /capsule @APPS@/multi.wsgi
<Location /capsule>
    WSGIPassApacheRequest On
</Location>
WSGIScriptAlias /nocapsule @APPS@/multi.wsgi

WSGIScriptAlias /capsule-access @APPS@/multi.wsgi
<Location /capsule-access>
    WSGIPassApacheRequest On
    WSGIAccessScript @ROOT@/scripts/capsule_access.py
</Location>
WSGIScriptAlias /nocapsule-access @APPS@/multi.wsgi
<Location /nocapsule-access>
    WSGIAccessScript @ROOT@/scripts/capsule_access.py
</Location>
"""


@pytest.fixture(scope="module")
def ap(make_apache):
    return make_apache(
        CONF,
        apps={"multi.wsgi": MULTI, "multi_cold.wsgi": SLOW_IMPORT + MULTI},
        files={
            "scripts/dispatch.py": DISPATCH,
            "scripts/dispatch_cold.py": SLOW_IMPORT + DISPATCH,
            "scripts/handler.py": HANDLER,
            "scripts/capsule_access.py": CAPSULE_ACCESS,
            "htdocs/foo/page.foo": "content of page.foo\n",
            "htdocs/foo/plain.txt": "just a text file\n",
            "htdocs/noexec/page.foo": "content of noexec page.foo\n",
        },
        name="dispatch",
    )


def get(ap, path, **kw):
    kw.setdefault("timeout", 10)
    return requests.get(ap.url(path), **kw)


# ------------------------------------------------------------ dispatch script


def test_dispatch_default_callable(ap):
    r = get(ap, "/disp")
    assert r.status_code == 200, r.text
    assert r.json()["callable"] == "application"


@pytest.mark.parametrize("qs", ["alt", "bytes"])
def test_dispatch_chooses_callable_object(ap, qs):
    r = get(ap, "/disp?" + qs)
    assert r.status_code == 200, r.text
    assert r.json()["callable"] == "alt_app"
    assert r.json()["callable_object"] == "alt_app"


def test_without_dispatch_script_callable_unchanged(ap):
    r = get(ap, "/plain?alt")
    assert r.status_code == 200
    assert r.json()["callable"] == "application"


def test_dispatch_global_groups(ap):
    r = get(ap, "/disp?global")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["callable"] == "alt_app"
    assert out["process_group"] == ""
    assert out["application_group"] == ""


def test_dispatch_to_undefined_daemon_process_group_is_500(ap):
    mark = ap.log_size()
    r = get(ap, "/disp?daemon")
    assert r.status_code == 500
    assert '"callable"' not in r.text
    if not IS_MOD_WSGI:
        assert ap.wait_log(r"\[WSGI-RS-E403\].*no-such-daemon", mark)
    else:
        assert ap.wait_log(r"no-such-daemon", mark)
    # and the next request is served normally
    assert get(ap, "/disp?alt").json()["callable"] == "alt_app"


def test_dispatch_exception_is_500_with_traceback(ap):
    mark = ap.log_size()
    r = get(ap, "/disp?raise")
    assert r.status_code == 500
    assert '"callable"' not in r.text
    assert ap.wait_log(r"dispatch-exploded-marker", mark)
    assert "Traceback (most recent call last)" in ap.log_since(mark)
    if not IS_MOD_WSGI:
        assert "[WSGI-RS-E502]" in ap.log_since(mark)
    assert_no_crash(ap, mark)


def test_dispatch_missing_callable_is_an_error(ap):
    mark = ap.log_size()
    r = get(ap, "/disp?missing")
    # like a WSGIScriptAlias target without the callable: 500 (4.9.4 answers 404)
    assert r.status_code == (404 if IS_MOD_WSGI else 500)
    assert '"callable"' not in r.text
    assert ap.wait_log(r"does not contain WSGI application 'no_such_callable'", mark)


def test_dispatch_environ(ap):
    mark = ap.log_size()
    r = get(ap, "/disp/sub?dump")
    assert r.status_code == 200, r.text
    p = ap.var_path("dispatch-environ.json")
    deadline = time.time() + 5
    while not os.path.exists(p) and time.time() < deadline:
        time.sleep(0.05)
    with open(p) as f:
        env = json.load(f)
    assert env["__uri__"] == "/disp/sub?dump"
    for k in ("mod_wsgi.process_group", "mod_wsgi.application_group", "wsgi.errors",
              "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "HTTP_HOST"):
        assert k in env, k
    assert "mod_wsgi.callable_object" not in env
    assert "apache.request_rec" not in env
    assert "HTTP_AUTHORIZATION" not in env
    assert ap.wait_log(r"dispatch-wsgi-errors-marker", mark)


@pytest.mark.mod_wsgi_bug("the dispatch environ lacks the documented mod_wsgi.version and apache.version")
def test_dispatch_environ_versions(ap):
    r = get(ap, "/disp/versions?dump")
    assert r.status_code == 200
    p = ap.var_path("dispatch-environ.json")
    deadline = time.time() + 5
    while time.time() < deadline:
        with open(p) as f:
            env = json.load(f)
        if env["__uri__"] == "/disp/versions?dump":
            break
        time.sleep(0.05)
    assert env["mod_wsgi.version"] == "tuple"
    assert env["apache.version"] == "tuple"


@pytest.mark.parametrize("location", ["/disp", "/disp-cold"])
def test_dispatch_concurrent(ap, location):
    """40 concurrent requests, half choosing alt_app.  /disp-cold uses a
    dispatch script and an app that nobody has loaded yet and that take a
    moment to import: no request may see a half-executed module."""

    def one(i):
        r = requests.get(ap.url("%s?n=%d" % (location, i)), timeout=20)
        try:
            return r.status_code, r.json().get("callable")
        except ValueError:
            return r.status_code, r.text[:80]

    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as ex:
        got = list(ex.map(one, range(40)))
    want = [(200, "alt_app" if i % 2 else "application") for i in range(40)]
    wrong = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w]
    assert not wrong, wrong


# ------------------------------------------------------------ handler script


def test_handler_script_serves_foo_file(ap):
    r = get(ap, "/foo/page.foo")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["handler"] == "foo"
    assert out["content"] == "content of page.foo\n"
    assert out["SCRIPT_FILENAME"] == os.path.join(ap.htdocs, "foo", "page.foo")
    assert out["handler_script"] == ap.path("scripts/handler.py")
    assert out["callable_object"] == "handle_request"
    assert out["request_handler"] == "foo-handler"


def test_handler_script_leaves_other_files_alone(ap):
    r = get(ap, "/foo/plain.txt")
    assert r.status_code == 200
    assert r.text == "just a text file\n"


def test_handler_script_serves_virtual_paths(ap):
    # As in mod_wsgi 4.9.4, handle_request() serves the request even when
    # the mapped file does not exist (handler scripts may serve virtual
    # paths); the script sees the would-be filename.
    r = get(ap, "/foo/missing.foo")
    assert r.status_code == 200, r.text
    assert r.json()["SCRIPT_FILENAME"].endswith("missing.foo")
    assert r.json()["content"] == "<missing>"


def test_handler_script_does_not_need_execcgi(ap):
    # like mod_wsgi 4.9.4: a WSGIHandlerScript handler is not subject to ExecCGI
    r = get(ap, "/noexec/page.foo")
    assert r.status_code == 200, r.text
    assert r.json()["content"] == "content of noexec page.foo\n"


# ---------------------------------------------------- WSGIPassApacheRequest


def test_pass_apache_request_capsule(ap):
    r = get(ap, "/capsule?x=1")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["request_rec_type"] == "PyCapsule"
    # the capsule really wraps this request's request_rec
    assert out["the_request"] == "GET /capsule?x=1 HTTP/1.1"


def test_no_capsule_by_default(ap):
    r = get(ap, "/nocapsule")
    assert r.status_code == 200
    assert r.json()["request_rec_type"] is None


def test_pass_apache_request_in_auth_environ(ap):
    assert get(ap, "/capsule-access?want-capsule").status_code == 200
    assert get(ap, "/nocapsule-access").status_code == 200


def test_no_crash(ap):
    assert_no_crash(ap)


DISPATCH_TO_DAEMON = '''
def process_group(environ):
    return 'worker' if environ.get('QUERY_STRING') == 'daemon' else None
'''

PID_APP = '''
import os
def application(environ, start_response):
    body = ('%d %s' % (os.getpid(), environ['mod_wsgi.process_group'])).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
'''


@pytest.mark.mwrs_only("daemon-mode configuration of the harness targets mod_wsgi_rs")
def test_dispatch_chooses_a_daemon_process_group(make_apache_fn):
    conf = (
        "WSGIDaemonProcess worker processes=1 threads=2\n"
        "WSGIScriptAlias /p @APPS@/pid.wsgi\n"
        "WSGIDispatchScript @APPS@/dispatch_daemon.py\n"
    )
    ap = make_apache_fn(conf, apps={"pid.wsgi": PID_APP, "dispatch_daemon.py": DISPATCH_TO_DAEMON})
    embedded_pid, embedded_group = get(ap, "/p").text.split()[0], get(ap, "/p").text.split()[1:]
    pid, group = get(ap, "/p?daemon").text.split()
    assert group == "worker"
    assert embedded_group == []
    assert pid != embedded_pid
