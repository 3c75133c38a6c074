"""What upstream mod_wsgi's own suite (tests/upstream/run) checks and
mod_wsgi_rs got wrong, each checked here in embedded and daemon mode:

- the request objects' classes report module `mod_wsgi` (`mod_wsgi.Input`,
  `mod_wsgi.FileWrapper`, `mod_wsgi.Restricted` under WSGIRestrictStdin);
- SystemExit from an application is logged as such (WSGI-RS-E108), the
  request gets a 500 and the process keeps serving;
- start_response's refusals: an empty header name, headers that are not a
  list, exc_info that is not a 3-tuple;
- wsgi.errors.buffer takes any bytes-like object;
- a script's reload_required(resource) is asked on each request (daemon
  mode too): True reloads the script once, an exception is logged and
  keeps the loaded module; each load is logged at info (WSGI-RS-I110);
- in daemon mode a repeated response header reaches the client as one
  comma-joined field (Set-Cookie excepted), as httpd's script-header reading
  gives it for mod_wsgi; embedded mode sends each as given.
"""

import os
import pwd
import re

import pytest
import requests

from conftest import IS_MOD_WSGI

FLAG = "@VAR@/reload-flag"

TYPES = '''
import sys
def application(environ, start_response):
    kind = environ["PATH_INFO"]
    if kind == "/input":
        t = type(environ["wsgi.input"])
    elif kind == "/file-wrapper":
        t = environ["wsgi.file_wrapper"]
    else:
        t = type(sys.stdin)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%s.%s" % (t.__module__, t.__name__)).encode()]
'''

SYSTEM_EXIT = '''
import os
def application(environ, start_response):
    if environ["PATH_INFO"] == "/exit":
        raise SystemExit("exit-from-app-4711")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
'''

START_RESPONSE = '''
CASES = {
    "empty-name": lambda sr: sr("200 OK", [("", "v")]),
    "str": lambda sr: sr("200 OK", "X-A: b"),
    "tuple": lambda sr: sr("200 OK", (("X-A", "b"),)),
    "dict": lambda sr: sr("200 OK", {"X-A": "b"}),
    "exc-str": lambda sr: sr("200 OK", [], "not-a-tuple"),
    "exc-short": lambda sr: sr("200 OK", [], (ValueError, ValueError("x"))),
}
def application(environ, start_response):
    try:
        CASES[environ["QUERY_STRING"]](start_response)
        body = "accepted"
    except Exception as e:
        body = "%s:%s" % (type(e).__name__, e)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
'''

ERRORS_BUFFER = '''
import array
def application(environ, start_response):
    buf = environ["wsgi.errors"].buffer
    buf.write(memoryview(b"MARK-MEMORYVIEW-1\\n"))
    buf.write(bytearray(b"MARK-BYTEARRAY-2\\n"))
    buf.write(array.array("B", b"MARK-ARRAY-3\\n"))
    buf.writelines([memoryview(b"MARK-LINES-4\\n"), b"MARK-LINES-5\\n"])
    try:
        buf.write(12345)
        refused = "no"
    except TypeError:
        refused = "TypeError"
    buf.flush()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [refused.encode()]
'''

TRIGGERED = '''
import os, time
LOAD_ID = str(time.time_ns())
FLAG = "%s"
SEEN = []
def reload_required(resource):
    SEEN.append(resource)
    if os.path.exists(FLAG):
        os.unlink(FLAG)
        return True
    return False
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%%s %%s" %% (LOAD_ID, SEEN[-1] if SEEN else "-")).encode()]
'''

RAISING = '''
import time
LOAD_ID = str(time.time_ns())
def reload_required(resource):
    raise RuntimeError("reload hook failing on purpose 4712")
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [LOAD_ID.encode()]
'''

REPEATED = '''
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("X-Rep", "first"), ("Set-Cookie", "a=1"),
                              ("x-rep", "second"), ("Set-Cookie", "b=2")])
    return [b"ok"]
'''

# Mount point (and script name) -> script source.
APPS = {
    "types": TYPES,
    "sysexit": SYSTEM_EXIT,
    "sr": START_RESPONSE,
    "errbuf": ERRORS_BUFFER,
    "triggered": TRIGGERED % FLAG,
    "raising": RAISING,
    "repeated": REPEATED,
}

ALIASES = "WSGIRestrictStdin On\n" + "".join(
    "WSGIScriptAlias /%s @APPS@/%s.wsgi\n" % (name, name) for name in APPS)

MODES = {
    "embedded": ALIASES,
    "daemon": "WSGIDaemonProcess parity threads=2\nWSGIProcessGroup parity\n" + ALIASES,
}


# One Apache child, so that every request of an embedded-mode test sees the
# same loaded script.
ONE_CHILD = """
    StartServers 1
    ServerLimit 1
    ThreadsPerChild 10
    MaxRequestWorkers 10
    MinSpareThreads 1
    MaxSpareThreads 10
"""


@pytest.fixture(scope="module", params=sorted(MODES))
def ap(request, make_apache):
    a = make_apache(
        MODES[request.param],
        mpm_conf=ONE_CHILD,
        apps={name + ".wsgi": src for name, src in APPS.items()},
    )
    a.mode = request.param
    return a


@pytest.mark.parametrize(
    "path,expected",
    [
        ("/types/input", "mod_wsgi.Input"),
        ("/types/file-wrapper", "mod_wsgi.FileWrapper"),
        ("/types/stdin", "mod_wsgi.Restricted"),
    ],
)
def test_request_object_classes_report_module_mod_wsgi(ap, path, expected):
    r = requests.get(ap.url(path), timeout=10)
    assert (r.status_code, r.text) == (200, expected)


def test_system_exit_is_logged_and_ignored(ap):
    pid = requests.get(ap.url("/sysexit/"), timeout=10).text
    mark = ap.log_size()
    r = requests.get(ap.url("/sysexit/exit"), timeout=10)
    assert r.status_code == 500
    header = "SystemExit exception raised by WSGI script '%s" % ap.app_path("sysexit.wsgi")
    if not IS_MOD_WSGI:
        header = "[WSGI-RS-E108] " + header
    assert ap.wait_log(r"(?m)^.*" + re.escape(header), mark), ap.log_since(mark)
    assert ap.wait_log(r"SystemExit: exit-from-app-4711", mark), ap.log_since(mark)
    assert "Exception occurred processing" not in ap.log_since(mark)
    # The process that raised keeps serving.
    again = requests.get(ap.url("/sysexit/"), timeout=10)
    assert again.status_code == 200
    if ap.mode == "daemon":
        assert again.text == pid


@pytest.mark.parametrize(
    "case,expected",
    [
        ("empty-name", "ValueError:header name is empty"),
        ("str", "TypeError:start_response() argument 2 must be list, not str"),
        ("tuple", "TypeError:start_response() argument 2 must be list, not tuple"),
        ("dict", "TypeError:start_response() argument 2 must be list, not dict"),
        ("exc-str", "RuntimeError:start_response() argument 'exc_info' must be a 3-tuple or None"),
        pytest.param(
            "exc-short",
            "RuntimeError:start_response() argument 'exc_info' must be a 3-tuple or None",
            marks=pytest.mark.mwrs_only("mod_wsgi 4.9.4 accepts a 2-tuple exc_info (6.x refuses it)"),
        ),
    ],
)
def test_start_response_refusals(ap, case, expected):
    r = requests.get(ap.url("/sr/?" + case), timeout=10)
    assert r.status_code == 200
    if IS_MOD_WSGI:
        # 4.9.4 words its refusals differently; the exception type is the same.
        assert r.text.split(":")[0] == expected.split(":")[0], r.text
    else:
        assert r.text == expected


@pytest.mark.mod_wsgi_bug("wsgi.errors.buffer.write() refuses a memoryview (fixed in mod_wsgi 6)")
def test_errors_buffer_takes_bytes_like_objects(ap):
    mark = ap.log_size()
    r = requests.get(ap.url("/errbuf/"), timeout=10)
    assert (r.status_code, r.text) == (200, "TypeError")
    for marker in ("MARK-MEMORYVIEW-1", "MARK-BYTEARRAY-2", "MARK-ARRAY-3", "MARK-LINES-4",
                   "MARK-LINES-5"):
        assert ap.wait_log(marker, mark), (marker, ap.log_since(mark))


def test_reload_required_flag_reloads_once(ap):
    flag = ap.expand(FLAG)
    mark = ap.log_size()
    first = requests.get(ap.url("/triggered/"), timeout=10).text.split()
    same = requests.get(ap.url("/triggered/"), timeout=10).text.split()
    # The hook is asked with the file the request maps to.
    assert same == [first[0], ap.app_path("triggered.wsgi")]
    with open(flag, "w"):
        pass
    if os.geteuid() == 0:
        # @VAR@ is sticky: the Apache user may remove only its own files.
        www = pwd.getpwnam("www-data")
        os.chown(flag, www.pw_uid, www.pw_gid)
    reloaded = requests.get(ap.url("/triggered/"), timeout=10).text.split()
    assert reloaded[0] != first[0]
    assert not os.path.exists(flag)
    after = requests.get(ap.url("/triggered/"), timeout=10).text.split()
    assert after[0] == reloaded[0]
    # Each load is logged at info level (first use, then the reload).
    loading = "Loading WSGI script '%s'" % ap.app_path("triggered.wsgi")
    if not IS_MOD_WSGI:
        assert ap.log_since(mark).count("[WSGI-RS-I110] " + loading) == 2, ap.log_since(mark)


def test_reload_required_exception_is_logged_and_module_kept(ap):
    mark = ap.log_size()
    one = requests.get(ap.url("/raising/"), timeout=10)
    two = requests.get(ap.url("/raising/"), timeout=10)
    assert (one.status_code, two.status_code) == (200, 200)
    assert one.text == two.text
    assert ap.wait_log(r"RuntimeError: reload hook failing on purpose 4712", mark), ap.log_since(mark)
    if not IS_MOD_WSGI:
        assert ap.wait_log(
            r"\[WSGI-RS-W109\] reload_required\(\) of WSGI script '%s' raised"
            % re.escape(ap.app_path("raising.wsgi")),
            mark,
        ), ap.log_since(mark)


def test_repeated_response_header(ap):
    raw = ap.raw(b"GET /repeated HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").decode("latin-1")
    head = raw.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
    rep = [h.split(":", 1)[1].strip() for h in head if h.lower().startswith("x-rep:")]
    cookies = [h.split(":", 1)[1].strip() for h in head if h.lower().startswith("set-cookie:")]
    assert cookies == ["a=1", "b=2"], head
    if ap.mode == "daemon":
        assert rep == ["first, second"], head
    else:
        assert rep == ["first", "second"], head


@pytest.fixture
def open_tmp():
    """A scratch directory Apache's User can search (pytest's tmp_path is
    under a mode-700 directory)."""
    import pathlib
    import shutil
    import tempfile

    d = tempfile.mkdtemp(prefix="mwrs-setup-server-", dir="/tmp")
    os.chmod(d, 0o755)
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


def test_upstream_setup_server_config_passes_configtest(open_tmp):
    """tests/upstream/setup_server.py's configuration (the one
    mod_wsgi-express setup-server writes for upstream's run-tests.sh, with
    its quoted options) is accepted as it is by this module."""
    import subprocess
    import sys

    from harness import apache as _ap

    if IS_MOD_WSGI:
        pytest.skip("mod_wsgi 4.9.4 refuses interrupt-timeout and response-flush-delay "
                    "(6.x options); tests/upstream/run drops them for it")
    tmp_path = open_tmp
    root, project = tmp_path / "root", tmp_path / "project"
    cert, key = str(tmp_path / "t.crt"), str(tmp_path / "t.key")
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-newkey", "rsa:2048", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=localhost"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "hello.wsgi").write_text("")
    include = tmp_path / "include.conf"
    include.write_text("WSGIScriptAlias /x %s process-group=localhost:9876 "
                       "application-group=%%{GLOBAL}\n" % (project / "tests" / "hello.wsgi"))
    subprocess.run([sys.executable, os.path.join(_ap.REPO_ROOT, "tests/upstream/setup_server.py"),
                    "--server-root", str(root), "--module", _ap.rs_module_path(),
                    "--project-dir", str(project), "--include-file", str(include),
                    "--cert", cert, "--key", key], check=True)
    conf = (root / "httpd.conf").read_text()
    assert "home='%s'" % project in conf and "WSGIImportScript '%s/handler.wsgi'" % root in conf
    p = subprocess.run([_ap.HTTPD, "-t", "-f", str(root / "httpd.conf")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert p.returncode == 0, p.stdout.decode()
