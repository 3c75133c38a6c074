"""Quoted option values, as `mod_wsgi-express` writes them.

mod_wsgi reads a directive's options as `name=value` where the value is one
Apache word (ap_getword_conf): `home='/srv/app'` is home=/srv/app. A word
quoted whole (`'home=/tmp'`) is not an option (its name would be `'home`)
and fails the configuration. Here the express-style options go through
`apache2 -t` and a real daemon process, and each value is checked where the
application sees it.
"""

import os

import pytest
import requests

from conftest import IS_MOD_WSGI

SEES = '''
import os, sys
def application(environ, start_response):
    with open("/proc/self/cmdline", "rb") as f:
        title = f.read().split(b"\\0")[0].decode()
    lines = [
        "cwd=" + os.getcwd(),
        "path=" + ":".join(p for p in sys.path if p.startswith("@VAR@")),
        "LANG=" + os.environ.get("LANG", "-"),
        "LC_ALL=" + os.environ.get("LC_ALL", "-"),
        "eggs=" + os.environ.get("PYTHON_EGG_CACHE", "-"),
        "title=" + title,
        "group=" + environ["mod_wsgi.process_group"],
        "preloaded=" + str("preload_marker" in sys.modules),
    ]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["\\n".join(lines).encode()]
'''

PRELOAD = '''
import sys, types
sys.modules["preload_marker"] = types.ModuleType("preload_marker")
'''

# The options and quoting of mod_wsgi-express's generated WSGIDaemonProcess,
# WSGIScriptAlias/WSGIHandlerScript-style options and WSGIImportScript.
EXPRESS = r"""
WSGIDaemonProcess 'localhost:8000' \
   display-name='(wsgi:localhost:8000:0)' \
   home='@VAR@/home dir' \
   threads=5 \
   maximum-requests=0 \
   python-path='@VAR@/p1:@VAR@/p 2' \
   python-eggs='@VAR@/eggs' \
   lang='C.UTF-8' \
   locale='C.UTF-8' \
   listen-backlog=100 \
   queue-timeout=45 \
   socket-timeout=60 \
   connect-timeout=15 \
   request-timeout=60 \
   inactivity-timeout=0 \
   startup-timeout=15 \
   deadlock-timeout=60 \
   graceful-timeout=15 \
   eviction-timeout=0 \
   restart-interval=0 \
   cpu-time-limit=0 \
   shutdown-timeout=5 \
   send-buffer-size=0 \
   receive-buffer-size=0 \
   response-buffer-size=0 \
   response-socket-timeout=0 \
   server-metrics=Off
WSGIScriptAlias /sees '@APPS@/sees.wsgi' process-group='localhost:8000' application-group='%{GLOBAL}'
WSGIImportScript '@APPS@/preload.py' \
    process-group='localhost:8000' application-group=%{GLOBAL}
"""


def prepare_dirs(ap):
    for d in ("home dir", "p1", "p 2", "eggs"):
        os.makedirs(ap.var_path(d), exist_ok=True)
        os.chmod(ap.var_path(d), 0o755)


@pytest.fixture(scope="module")
def express(make_apache):
    ap = make_apache(EXPRESS, start=False, apps={"sees.wsgi": SEES, "preload.py": PRELOAD})
    prepare_dirs(ap)
    ap.start()
    return ap


def test_express_options_pass_configtest(express):
    rc, out = express.configtest()
    assert rc == 0, out


def test_quoted_values_reach_the_daemon_unquoted(express):
    r = requests.get(express.url("/sees"), timeout=10)
    assert r.status_code == 200, express.error_log()[-3000:]
    seen = dict(line.split("=", 1) for line in r.text.splitlines())
    var = express.var_dir
    assert seen["cwd"] == var + "/home dir"
    # python-path= entries, unquoted (home= is on sys.path too, in both modules).
    path = seen["path"].split(":")
    assert path[-2:] == [var + "/p1", var + "/p 2"], path
    assert not any("'" in p for p in path), path
    assert seen["LANG"] == "C.UTF-8"
    assert seen["LC_ALL"] == "C.UTF-8"
    # The title is cut to the length of Apache's own command line (both modules).
    assert len(seen["title"]) >= 10 and "(wsgi:localhost:8000:0)".startswith(seen["title"]), seen
    assert seen["group"] == "localhost:8000"
    # WSGIImportScript with a quoted process-group= ran in this daemon.
    assert seen["preloaded"] == "True"


@pytest.mark.mwrs_only("mod_wsgi 4.9.4 sets PYTHON_EGG_CACHE only when pkg_resources is used")
def test_quoted_python_eggs(express):
    r = requests.get(express.url("/sees"), timeout=10)
    seen = dict(line.split("=", 1) for line in r.text.splitlines())
    assert seen["eggs"] == express.var_dir + "/eggs"


@pytest.mark.parametrize(
    "line,names",
    [
        ("WSGIDaemonProcess g 'home=/tmp'", "'home"),
        ("WSGIDaemonProcess g \"threads=2\"", "\"threads"),
        ("WSGIScriptAlias /x @APPS@/sees.wsgi 'process-group=g'", "'process-group"),
        ("WSGIDaemonProcess g threads 2", "threads"),
    ],
)
def test_option_quoted_whole_fails_configtest(make_apache_fn, line, names):
    ap = make_apache_fn("WSGIDaemonProcess g\n" + line if "ScriptAlias" in line else line,
                        start=False, apps={"sees.wsgi": SEES})
    rc, out = ap.configtest()
    assert rc != 0, out
    assert "Syntax error on line" in out, out
    if not IS_MOD_WSGI:
        # Our message names the directive and the offending word.
        assert line.split()[0] in out, out
        assert names in out, out
