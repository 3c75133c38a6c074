"""Foundation (issue 2): WSGIScriptAlias matching, SCRIPT_NAME/PATH_INFO,
handlers, IfModule names, script loading and concurrency under each MPM."""

import concurrent.futures
import re
import subprocess

import pytest
import requests

from harness import apps
from harness.apache import assert_no_crash

CONF = """
MergeSlashes Off

WSGIScriptAlias /app @APPS@/env.wsgi
WSGIScriptAlias /hello @APPS@/hello.wsgi
# directory target: /w/NAME/extra -> script @APPS@/scripts/NAME
WSGIScriptAlias /w/ @APPS@/scripts/
# first match in config order wins, even against a longer later alias
WSGIScriptAlias /order @APPS@/first.wsgi
WSGIScriptAlias /order/deeper @APPS@/second.wsgi
# a mod_alias Alias below a WSGIScriptAlias
Alias /app/static @HTDOCS@/static
# slash runs inside the alias
WSGIScriptAlias /multi//seg @APPS@/env.wsgi

<IfModule mod_wsgi.c>
    WSGIScriptAlias /ifmod-c @APPS@/hello.wsgi
</IfModule>
<IfModule wsgi_module>
    WSGIScriptAlias /ifmod-w @APPS@/hello.wsgi
</IfModule>
<IfModule !mod_wsgi.c>
    WSGIScriptAlias /ifmod-not @APPS@/hello.wsgi
</IfModule>

Alias /h @ROOT@/handler
<Directory @ROOT@/handler>
    SetHandler wsgi-script
    Options +ExecCGI
</Directory>
Alias /hn @ROOT@/handler-noexec
<Directory @ROOT@/handler-noexec>
    SetHandler wsgi-script
    Options -ExecCGI
</Directory>
Alias /ah @ROOT@/addhandler
<Directory @ROOT@/addhandler>
    AddHandler wsgi-script .wsgi
    Options +ExecCGI
</Directory>
Alias /mt @ROOT@/mimetype
<Directory @ROOT@/mimetype>
    AddType application/x-httpd-wsgi .py
    Options +ExecCGI
</Directory>
"""

FIRST = """
def application(environ, start_response):
    body = ('first ' + environ['SCRIPT_NAME'] + ' ' + environ['PATH_INFO']).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
"""
SECOND = FIRST.replace("first ", "second ")


@pytest.fixture(scope="module")
def ap(make_apache):
    return make_apache(
        CONF,
        apps={
            "env.wsgi": apps.ENV,
            "hello.wsgi": apps.HELLO,
            "scripts/hello": apps.ENV,
            "first.wsgi": FIRST,
            "second.wsgi": SECOND,
        },
        files={
            "htdocs/static/style.css": "body {}\n",
            "handler/h.wsgi": apps.ENV,
            "handler-noexec/h.wsgi": apps.ENV,
            "addhandler/x.wsgi": apps.ENV,
            "addhandler/plain.txt": "just text\n",
            "mimetype/m.py": apps.HELLO,
        },
    )


def env(ap, path, **kw):
    r = requests.get(ap.url(path), timeout=10, **kw)
    assert r.status_code == 200, (path, r.status_code, r.text[:500])
    assert r.headers["Content-Type"] == "application/json"
    return {k: v["value"] for k, v in r.json().items()}


def test_hello(ap):
    r = requests.get(ap.url("/hello"), timeout=10)
    assert r.status_code == 200
    assert r.content == b"Hello World!\n"
    assert r.headers["Content-Type"] == "text/plain"
    assert r.headers["Content-Length"] == "13"


def test_configtest_ok(ap):
    rc, out = ap.configtest()
    assert rc == 0, out
    assert "Syntax OK" in out


@pytest.mark.parametrize("path", ["/ifmod-c", "/ifmod-w"])
def test_ifmodule_blocks_match(ap, path):
    r = requests.get(ap.url(path), timeout=10)
    assert r.status_code == 200
    assert r.content == b"Hello World!\n"


def test_negated_ifmodule_does_not_match(ap):
    assert requests.get(ap.url("/ifmod-not"), timeout=10).status_code == 404


# §2.3 table, WSGIScriptAlias /app .../env.wsgi (MergeSlashes Off)
@pytest.mark.parametrize(
    "path,script_name,path_info",
    [
        ("/app", "/app", ""),
        ("/app/", "/app", "/"),
        ("/app/a/b", "/app", "/a/b"),
        ("/app//a//b", "/app", "/a/b"),
        ("/app/a%20b", "/app", "/a b"),
        ("/app/caf%C3%A9", "/app", "/caf\u00c3\u00a9"),  # latin-1 decoded str
        ("/app/a%2Fb", None, None),  # encoded slash: Apache itself answers 404
        ("/multi/seg/x", "/multi/seg", "/x"),
        ("/multi///seg/x", "/multi/seg", "/x"),  # runs collapsed
    ],
)
def test_script_name_path_info(ap, path, script_name, path_info):
    if script_name is None:
        assert requests.get(ap.url(path), timeout=10).status_code == 404
        return
    e = env(ap, path)
    assert (e["SCRIPT_NAME"], e["PATH_INFO"]) == (script_name, path_info)
    assert e["mod_wsgi.script_name"] == script_name
    assert e["mod_wsgi.path_info"] == path_info
    assert e["REQUEST_URI"] == path  # raw, undecoded


def test_query_string_and_request_uri(ap):
    e = env(ap, "/app/x?a=1&b=%20")
    assert e["QUERY_STRING"] == "a=1&b=%20"
    assert e["REQUEST_URI"] == "/app/x?a=1&b=%20"
    e = env(ap, "/app/x")
    assert e["QUERY_STRING"] == ""


def test_alias_matches_whole_segments_only(ap):
    assert requests.get(ap.url("/apple"), timeout=10).status_code == 404
    assert requests.get(ap.url("/app.x"), timeout=10).status_code == 404
    assert requests.get(ap.url("/hellox"), timeout=10).status_code == 404


def test_first_alias_in_config_order_wins(ap):
    r = requests.get(ap.url("/order/deeper/x"), timeout=10)
    assert r.status_code == 200
    assert r.text == "first /order /deeper/x"


def test_mod_alias_below_script_alias_still_wins(ap):
    # mod_wsgi's translate_name runs after mod_alias's, so the static Alias
    # declared under the WSGIScriptAlias prefix serves the file.
    r = requests.get(ap.url("/app/static/style.css"), timeout=10)
    assert r.status_code == 200
    assert r.text == "body {}\n"
    assert r.headers["Content-Type"].startswith("text/css")


def test_directory_target(ap):
    e = env(ap, "/w/hello/extra")
    assert e["SCRIPT_NAME"] == "/w/hello"
    assert e["PATH_INFO"] == "/extra"
    assert e["SCRIPT_FILENAME"] == ap.app_path("scripts/hello")
    e = env(ap, "/w/hello")
    assert (e["SCRIPT_NAME"], e["PATH_INFO"]) == ("/w/hello", "")
    assert requests.get(ap.url("/w/missing"), timeout=10).status_code == 404


def test_script_loaded_as_module_with_file(ap):
    e = env(ap, "/app")
    mod = e["__module__"]
    assert mod["__file__"] == ap.app_path("env.wsgi")
    assert mod["__name__"].startswith("_mod_wsgi_")
    assert mod["argv"] == ["mod_wsgi"]
    assert e["SCRIPT_FILENAME"] == ap.app_path("env.wsgi")
    assert e["mod_wsgi.request_handler"] == "wsgi-script"


def test_distinct_scripts_get_distinct_module_names(ap):
    a = env(ap, "/app")["__module__"]["__name__"]
    b = env(ap, "/w/hello")["__module__"]["__name__"]
    assert a != b


def test_sethandler_with_execcgi(ap):
    e = env(ap, "/h/h.wsgi/more")
    assert e["SCRIPT_NAME"] == "/h/h.wsgi"
    assert e["PATH_INFO"] == "/more"
    assert e["mod_wsgi.request_handler"] == "wsgi-script"


def test_sethandler_without_execcgi_is_forbidden(ap):
    mark = ap.log_size()
    r = requests.get(ap.url("/hn/h.wsgi"), timeout=10)
    assert r.status_code == 403
    assert "application/json" not in r.headers.get("Content-Type", "")
    assert ap.wait_log(r"ExecCGI|Options", mark), ap.log_since(mark)


def test_addhandler(ap):
    e = env(ap, "/ah/x.wsgi")
    assert e["SCRIPT_NAME"] == "/ah/x.wsgi"
    r = requests.get(ap.url("/ah/plain.txt"), timeout=10)
    assert r.status_code == 200
    assert r.text == "just text\n"


def test_mime_type_handler(ap):
    r = requests.get(ap.url("/mt/m.py"), timeout=10)
    assert r.status_code == 200
    assert r.content == b"Hello World!\n"


def test_no_crash_in_log(ap):
    assert_no_crash(ap)


# ----------------------------------------------------------- WSGIScriptAlias /


@pytest.fixture(scope="module")
def root_alias(make_apache):
    return make_apache(
        """
        WSGIScriptAlias / @APPS@/env.wsgi
        """,
        apps={"env.wsgi": apps.ENV},
        name="rootalias",
    )


@pytest.mark.parametrize(
    "path,script_name,path_info",
    [("/", "", "/"), ("/x/y", "", "/x/y"), ("/x%20y/", "", "/x y/")],
)
def test_root_alias(root_alias, path, script_name, path_info):
    e = env(root_alias, path)
    assert (e["SCRIPT_NAME"], e["PATH_INFO"]) == (script_name, path_info)


# ------------------------------------------------------------------ concurrency


def run_ab(url, concurrency=32, n=2000):
    p = subprocess.run(
        ["ab", "-q", "-k", "-s", "20", "-c", str(concurrency), "-n", str(n), url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=120,
    )
    out = p.stdout.decode("utf-8", "replace")
    assert p.returncode == 0, out
    return out


def ab_field(out, name):
    m = re.search(r"^%s:\s+(\d+)" % re.escape(name), out, re.M)
    return int(m.group(1)) if m else None


# Two children that can each hold all 32 connections: the event MPM closes
# keep-alive connections of a child it considers over its connection limit,
# which ab counts as failed requests.
THREADED_32 = """
StartServers 2
ServerLimit 2
ThreadsPerChild 64
MaxRequestWorkers 128
MinSpareThreads 1
MaxSpareThreads 128
"""

PREFORK_32 = """
StartServers 36
MinSpareServers 4
MaxSpareServers 48
ServerLimit 48
MaxRequestWorkers 48
"""


@pytest.mark.parametrize("mpm", ["event", "worker", "prefork"])
def test_concurrent_keepalive(make_apache_fn, mpm):
    ap = make_apache_fn(
        """
        WSGIScriptAlias /hello @APPS@/hello.wsgi
        WSGIScriptAlias /echo @APPS@/echo.wsgi
        """,
        mpm=mpm,
        # prefork: one process per concurrent keep-alive connection up front
        mpm_conf=PREFORK_32 if mpm == "prefork" else THREADED_32,
        apps={"hello.wsgi": apps.HELLO, "echo.wsgi": apps.ECHO_QS},
        name="conc-" + mpm,
    )
    out = run_ab(ap.url("/hello"))
    assert ab_field(out, "Complete requests") == 2000, out
    assert ab_field(out, "Failed requests") == 0, out
    assert "Non-2xx responses" not in out, out
    assert ab_field(out, "Keep-Alive requests") >= 1900, out

    # body correctness under concurrency: every response belongs to its request
    def worker(i):
        s = requests.Session()
        bad = []
        for j in range(15):
            qs = "w%d-r%d" % (i, j)
            r = s.get(ap.url("/echo?" + qs), timeout=20)
            if r.status_code != 200 or r.text != "qs=" + qs:
                bad.append((qs, r.status_code, r.text[:100]))
        s.close()
        return bad

    with concurrent.futures.ThreadPoolExecutor(32) as ex:
        bad = [b for res in ex.map(worker, range(32)) for b in res]
    assert not bad, bad[:5]
    assert_no_crash(ap)
