"""The environ (issue 3 §1, inventory §2): keys, types, CGI variables, HTTPS,
Authorization, Proxy, invalid header names, trusted proxy headers,
WSGIScriptAliasMatch, WSGICallableObject / callable-object=, validator."""

import re
import socket
import time

import pytest
import requests

from harness import apps
from harness.apache import DAEMON_GROUP

CONF = """
WSGIScriptAlias /env @APPS@/env.wsgi
WSGIScriptAlias /pa @APPS@/env.wsgi
<Location /pa>
    WSGIPassAuthorization On
</Location>
WSGIScriptAlias /pa-opt @APPS@/env.wsgi pass-authorization=On
WSGIScriptAlias /cgipassauth @APPS@/env.wsgi
<Location /cgipassauth>
    CGIPassAuth On
</Location>
WSGIScriptAlias /https-on @APPS@/env.wsgi
<Location /https-on>
    SetEnv HTTPS on
</Location>
WSGIScriptAlias /https-1 @APPS@/env.wsgi
<Location /https-1>
    SetEnv HTTPS 1
</Location>
WSGIScriptAlias /setenv @APPS@/env.wsgi
<Location /setenv>
    SetEnv MWRS_CUSTOM custom-value
</Location>

# trusted proxy headers, peer always trusted (no WSGITrustedProxies)
WSGIScriptAlias /tp @APPS@/env.wsgi
<Location /tp>
    WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto X-Forwarded-Host X-Forwarded-Port X-Forwarded-Server X-Script-Name
</Location>
# trusted proxy list containing the test client
WSGIScriptAlias /tpl @APPS@/env.wsgi
<Location /tpl>
    WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto
    WSGITrustedProxies 127.0.0.1 10.0.0.0/8
</Location>
# trusted proxy list NOT containing the test client
WSGIScriptAlias /tpu @APPS@/env.wsgi
<Location /tpu>
    WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto
    WSGITrustedProxies 192.0.2.1
</Location>
WSGIScriptAlias /tpip @APPS@/env.wsgi
<Location /tpip>
    WSGITrustedProxyHeaders X-Real-IP X-Forwarded-HTTPS
</Location>

WSGIScriptAliasMatch ^/match/([a-z]+) @APPS@/match/$1.wsgi
WSGIScriptAliasMatch ^/rx/(admin|api) @APPS@/env.wsgi/$1

WSGIScriptAlias /callable-dir @APPS@/callables.wsgi
<Location /callable-dir>
    WSGICallableObject other
</Location>
WSGIScriptAlias /callable-opt @APPS@/callables.wsgi callable-object=third
WSGIScriptAlias /validated @APPS@/validated.wsgi
WSGIScriptAlias /valenv @APPS@/valenv.wsgi
"""

CALLABLES = """
def _make(name):
    def app(environ, start_response):
        body = (name + ' ' + environ['mod_wsgi.callable_object']).encode()
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [body]
    return app

application = _make('application')
other = _make('other')
third = _make('third')
"""

VALIDATED = """
from wsgiref.validate import validator

def raw_app(environ, start_response):
    n = int(environ.get('CONTENT_LENGTH') or 0)
    body = environ['wsgi.input'].read(n)
    out = b'method=' + environ['REQUEST_METHOD'].encode() + b' len=' + str(len(body)).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(out)))])
    return [out]

application = validator(raw_app)
"""

VALENV = """
from wsgiref.validate import validator
import types
_m = types.ModuleType('envapp')
_m.__file__ = '@APPS@/env.wsgi'
with open(_m.__file__) as f:
    exec(compile(f.read(), _m.__file__, 'exec'), _m.__dict__)
application = validator(_m.application)
"""

MATCH_APP = """
def application(environ, start_response):
    body = ('%s|%s|%s' % (__file__.rsplit('/', 1)[-1], environ['SCRIPT_NAME'],
                          environ['PATH_INFO'])).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
"""


@pytest.fixture(scope="module")
def ap(make_mode_apache):
    return make_mode_apache(
        CONF,
        apps={
            "env.wsgi": apps.ENV,
            "callables.wsgi": CALLABLES,
            "validated.wsgi": VALIDATED,
            "valenv.wsgi": VALENV,
            "match/alpha.wsgi": MATCH_APP,
            "match/beta.wsgi": MATCH_APP,
        },
    )


def environ(ap, path, headers=None, raw=False):
    r = requests.get(ap.url(path), headers=headers or {}, timeout=10)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    d = r.json()
    return d if raw else {k: v["value"] for k, v in d.items()}


def raw_environ(ap, path, header_lines):
    req = "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%s\r\n" % (
        path,
        "".join(h + "\r\n" for h in header_lines),
    )
    data = ap.raw(req.encode("latin-1"))
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), data[:300]
    import json

    return {k: v["value"] for k, v in json.loads(body).items()}


# --------------------------------------------------------------- keys & types

EXPECTED_TYPES = {
    "wsgi.version": "tuple",
    "wsgi.url_scheme": "str",
    "wsgi.input": None,  # mod_wsgi.Input; type name checked separately
    "wsgi.errors": "TextIOWrapper",
    "wsgi.multithread": "bool",
    "wsgi.multiprocess": "bool",
    "wsgi.run_once": "bool",
    "wsgi.input_terminated": "bool",
    "wsgi.file_wrapper": "type",
    "apache.version": "tuple",
    "mod_wsgi.version": "tuple",
    "mod_wsgi.process_group": "str",
    "mod_wsgi.application_group": "str",
    "mod_wsgi.callable_object": "str",
    "mod_wsgi.request_handler": "str",
    "mod_wsgi.handler_script": "str",
    "mod_wsgi.script_reloading": "str",
    "mod_wsgi.enable_sendfile": "str",
    "mod_wsgi.ignore_activity": "str",
    "mod_wsgi.listener_host": "str",
    "mod_wsgi.listener_port": "str",
    "mod_wsgi.script_name": "str",
    "mod_wsgi.path_info": "str",
    "mod_wsgi.request_id": "str",
    "mod_wsgi.request_start": "str",
    "mod_wsgi.script_start": "str",
    "mod_wsgi.thread_id": "int",
    "mod_wsgi.thread_requests": "int",
    "mod_wsgi.total_requests": "int",
}

CGI_KEYS = [
    "SERVER_SOFTWARE", "SERVER_NAME", "SERVER_ADDR", "SERVER_PORT", "REMOTE_ADDR",
    "REMOTE_PORT", "DOCUMENT_ROOT", "REQUEST_SCHEME", "CONTEXT_PREFIX",
    "CONTEXT_DOCUMENT_ROOT", "SERVER_ADMIN", "SCRIPT_FILENAME", "SERVER_PROTOCOL",
    "REQUEST_METHOD", "QUERY_STRING", "REQUEST_URI", "SCRIPT_NAME", "PATH_INFO",
    "GATEWAY_INTERFACE", "SERVER_SIGNATURE", "HTTP_HOST",
]


def test_wsgi_and_mod_wsgi_keys_and_types(ap):
    d = environ(ap, "/env/x?y=1", raw=True)
    for k, t in EXPECTED_TYPES.items():
        assert k in d, "missing environ key %s" % k
        if t:
            assert d[k]["type"] == t, (k, d[k])
    v = {k: x["value"] for k, x in d.items()}
    assert v["wsgi.version"] == "(1, 0)"
    assert v["wsgi.url_scheme"] == "http"
    if ap.mode == "daemon":
        # the daemon group's threads=15, whatever the MPM of the Apache children
        assert v["wsgi.multithread"] is True
    else:
        assert v["wsgi.multithread"] is (ap.mpm != "prefork")  # threaded MPMs only
    assert v["wsgi.run_once"] is False
    assert v["wsgi.input_terminated"] is True
    assert "FileWrapper" in v["wsgi.file_wrapper"]
    assert re.fullmatch(r"\(2, 4, \d+\)", v["apache.version"]), v["apache.version"]
    assert re.fullmatch(r"\(\d+, \d+, \d+\)", v["mod_wsgi.version"])
    assert v["mod_wsgi.process_group"] == (DAEMON_GROUP if ap.mode == "daemon" else "")
    assert v["mod_wsgi.callable_object"] == "application"
    assert v["mod_wsgi.request_handler"] == "wsgi-script"
    assert v["mod_wsgi.handler_script"] == ""
    assert v["mod_wsgi.listener_host"] == "127.0.0.1"
    assert v["mod_wsgi.listener_port"] == str(ap.port)
    assert v["mod_wsgi.request_id"]
    assert re.fullmatch(r"\d{16}", v["mod_wsgi.request_start"]), v["mod_wsgi.request_start"]
    assert re.fullmatch(r"\d{16}", v["mod_wsgi.script_start"])
    assert int(v["mod_wsgi.script_start"]) >= int(v["mod_wsgi.request_start"])
    assert abs(int(v["mod_wsgi.request_start"]) / 1e6 - time.time()) < 60
    assert d["wsgi.errors"]["value"].find("<wsgi.errors>") >= 0


def test_cgi_variables(ap):
    d = environ(ap, "/env/p?q=1", raw=True)
    for k in CGI_KEYS:
        assert k in d, "missing CGI variable %s" % k
        assert d[k]["type"] == "str", (k, d[k])
    v = {k: x["value"] for k, x in d.items()}
    assert v["SERVER_PORT"] == str(ap.port)
    assert v["SERVER_NAME"] == "127.0.0.1"
    assert v["REMOTE_ADDR"] == "127.0.0.1"
    assert v["REQUEST_METHOD"] == "GET"
    assert v["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert v["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert v["REQUEST_SCHEME"] == "http"
    assert v["SCRIPT_FILENAME"] == ap.app_path("env.wsgi")
    assert v["HTTP_HOST"] == "127.0.0.1:%d" % ap.port
    assert v["SERVER_SOFTWARE"].startswith("Apache/2.4")
    assert "PATH" not in v
    assert "HTTPS" not in v
    assert "CONTENT_LENGTH" not in v  # GET without body


def test_request_id_matches_access_log(ap):
    v = environ(ap, "/env/rid")
    rid = v["mod_wsgi.request_id"]
    deadline = time.time() + 5
    while time.time() < deadline and rid not in ap.access_log():
        time.sleep(0.05)
    assert re.search(r'"GET /env/rid HTTP/1.1" 200 \d+ %s' % re.escape(rid), ap.access_log())


def test_multiprocess_flag(ap):
    assert environ(ap, "/env")["wsgi.multiprocess"] is True


def test_setenv_values_present(ap):
    assert environ(ap, "/setenv")["MWRS_CUSTOM"] == "custom-value"


def test_request_headers_become_http_vars(ap):
    v = environ(ap, "/env", headers={"X-Custom-Thing": "abc", "Accept-Language": "fr"})
    assert v["HTTP_X_CUSTOM_THING"] == "abc"
    assert v["HTTP_ACCEPT_LANGUAGE"] == "fr"


def test_header_latin1_value(ap):
    v = raw_environ(ap, "/env", [b"X-Latin: caf\xe9".decode("latin-1")])
    assert v["HTTP_X_LATIN"] == "caf\u00e9"


# ----------------------------------------------------------------- https


@pytest.mark.parametrize("path", ["/https-on", "/https-1"])
def test_https_becomes_url_scheme(ap, path):
    v = environ(ap, path)
    assert v["wsgi.url_scheme"] == "https"
    assert "HTTPS" not in v


# ---------------------------------------------------------- Authorization

AUTH = {"Authorization": "Basic dXNlcjpwYXNz"}


def test_authorization_hidden_by_default(ap):
    v = environ(ap, "/env", headers=AUTH)
    assert "HTTP_AUTHORIZATION" not in v
    v = raw_environ(ap, "/env", ["Proxy-Authorization: Basic eHg6eXk="])
    assert "HTTP_PROXY_AUTHORIZATION" not in v


def test_authorization_passed_with_directive(ap):
    assert environ(ap, "/pa", headers=AUTH)["HTTP_AUTHORIZATION"] == AUTH["Authorization"]


def test_authorization_passed_with_alias_option(ap):
    assert environ(ap, "/pa-opt", headers=AUTH)["HTTP_AUTHORIZATION"] == AUTH["Authorization"]


def test_authorization_passed_with_cgipassauth(ap):
    assert environ(ap, "/cgipassauth", headers=AUTH)["HTTP_AUTHORIZATION"] == AUTH["Authorization"]


# ------------------------------------------------------- Proxy / bad names


def test_proxy_header_never_passed(ap):
    v = raw_environ(ap, "/env", ["Proxy: http://evil.example:8080/"])
    assert "HTTP_PROXY" not in v
    v = raw_environ(ap, "/pa", ["Proxy: http://evil.example:8080/"])
    assert "HTTP_PROXY" not in v


def test_invalid_header_names_dropped(ap):
    # X_Forwarded_For would map to the same HTTP_X_FORWARDED_FOR as the real
    # header: it must be dropped, never override or spoof.
    v = raw_environ(
        ap,
        "/env",
        ["X_Spoof: bad", "X-Spoof: good", "X.Dot: bad", "X_Only_Underscore: bad"],
    )
    assert v["HTTP_X_SPOOF"] == "good"
    assert "HTTP_X_ONLY_UNDERSCORE" not in v
    assert not [k for k in v if "DOT" in k]
    v = raw_environ(ap, "/env", ["X_Only_Underscore: bad"])
    assert "HTTP_X_ONLY_UNDERSCORE" not in v


# --------------------------------------------------------- trusted proxies


def test_trusted_proxy_headers_no_list(ap):
    v = environ(
        ap,
        "/tp/x",
        headers={
            "X-Forwarded-For": "203.0.113.7, 10.0.0.1",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "public.example",
            "X-Forwarded-Port": "8443",
            "X-Forwarded-Server": "front.example",
            "X-Script-Name": "/mount",
            "X-Real-IP": "198.51.100.9",  # same category as XFF, not trusted: deleted
            "X-Forwarded-Scheme": "http",  # synonym of the trusted scheme header: deleted
        },
    )
    assert v["REMOTE_ADDR"] == "203.0.113.7"
    assert v["wsgi.url_scheme"] == "https"
    assert v["HTTP_HOST"] == "public.example"
    assert v["SERVER_PORT"] == "8443"
    assert v["SERVER_NAME"] == "front.example"
    assert v["SCRIPT_NAME"] == "/mount"
    assert v["PATH_INFO"] == "/x"
    assert v["mod_wsgi.mount_point"] == "/mount"
    assert v["mod_wsgi.script_name"] == "/tp"
    assert "HTTP_X_REAL_IP" not in v
    assert "HTTP_X_FORWARDED_SCHEME" not in v


@pytest.mark.mod_wsgi_bug("empty X-Forwarded-For entries are not skipped (REMOTE_ADDR becomes '')")
def test_trusted_proxy_xff_empty_entries_ignored(ap):
    v = environ(ap, "/tp/x", headers={"X-Forwarded-For": ",, 203.0.113.7, 10.0.0.1"})
    assert v["REMOTE_ADDR"] == "203.0.113.7"


def test_trusted_proxy_not_sent_means_untouched(ap):
    v = environ(ap, "/tp/x")
    assert v["REMOTE_ADDR"] == "127.0.0.1"
    assert v["wsgi.url_scheme"] == "http"
    assert v["SCRIPT_NAME"] == "/tp"
    assert "mod_wsgi.mount_point" not in v


def test_trusted_proxy_list_chain_from_right(ap):
    v = environ(
        ap,
        "/tpl",
        headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.7, 10.1.2.3", "X-Forwarded-Proto": "https"},
    )
    # 10.1.2.3 is a trusted proxy (10.0.0.0/8): the client is the entry before it
    assert v["REMOTE_ADDR"] == "203.0.113.7"
    assert v["HTTP_X_FORWARDED_FOR"].replace(" ", "").startswith("203.0.113.7")
    assert v["wsgi.url_scheme"] == "https"


def test_untrusted_peer_headers_deleted(ap):
    v = environ(
        ap,
        "/tpu",
        headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Real-IP": "1.2.3.4"},
    )
    assert v["REMOTE_ADDR"] == "127.0.0.1"
    assert v["wsgi.url_scheme"] == "http"
    assert "HTTP_X_FORWARDED_FOR" not in v
    assert "HTTP_X_FORWARDED_PROTO" not in v
    assert "HTTP_X_REAL_IP" not in v


def test_categories_not_listed_pass_through(ap):
    v = environ(ap, "/tpl", headers={"X-Forwarded-Host": "h.example", "X-Script-Name": "/m"})
    assert v["HTTP_X_FORWARDED_HOST"] == "h.example"
    assert v["HTTP_X_SCRIPT_NAME"] == "/m"
    assert v["SCRIPT_NAME"] == "/tpl"


def test_x_real_ip_and_forwarded_https(ap):
    v = environ(ap, "/tpip", headers={"X-Real-IP": "198.51.100.9", "X-Forwarded-HTTPS": "On"})
    assert v["REMOTE_ADDR"] == "198.51.100.9"
    assert v["wsgi.url_scheme"] == "https"
    v = environ(ap, "/tpip", headers={"X-Forwarded-HTTPS": "0"})
    assert v["wsgi.url_scheme"] == "http"


# ---------------------------------------------------- WSGIScriptAliasMatch


def test_script_alias_match_substitution(ap):
    r = requests.get(ap.url("/match/alpha/rest"), timeout=10)
    assert r.status_code == 200
    assert r.text == "alpha.wsgi|/match/alpha|/rest"
    r = requests.get(ap.url("/match/beta"), timeout=10)
    assert r.text == "beta.wsgi|/match/beta|"
    assert requests.get(ap.url("/match/gamma"), timeout=10).status_code == 404
    assert requests.get(ap.url("/match/123"), timeout=10).status_code == 404


def test_script_alias_match_path_info_from_target(ap):
    # target @APPS@/env.wsgi/$1: the file is the script, the rest is PATH_INFO,
    # and SCRIPT_NAME is what of r->uri precedes PATH_INFO
    v = environ(ap, "/rx/admin/x")
    assert v["SCRIPT_FILENAME"] == ap.app_path("env.wsgi")
    assert v["PATH_INFO"] == "/admin/x"
    assert v["SCRIPT_NAME"] == "/rx"


# ---------------------------------------------------------- callable object


def test_callable_object_directive(ap):
    r = requests.get(ap.url("/callable-dir"), timeout=10)
    assert r.status_code == 200
    assert r.text == "other other"


def test_callable_object_alias_option(ap):
    r = requests.get(ap.url("/callable-opt"), timeout=10)
    assert r.status_code == 200
    assert r.text == "third third"


# --------------------------------------------------------------- validator


def test_wsgiref_validator_get_and_post(ap):
    mark = ap.log_size()
    r = requests.get(ap.url("/validated"), timeout=10)
    assert r.status_code == 200, r.text
    assert r.text == "method=GET len=0"
    r = requests.post(ap.url("/validated"), data=b"x" * 1000, timeout=10)
    assert r.status_code == 200, r.text
    assert r.text == "method=POST len=1000"
    r = requests.head(ap.url("/validated"), timeout=10)
    assert r.status_code == 200
    log = ap.log_since(mark)
    assert "AssertionError" not in log
    assert "WSGIWarning" not in log


def test_validator_wraps_full_environ(ap):
    # validator() checks every environ key type (CGI vars must be str, etc.)
    mark = ap.log_size()
    r = requests.get(ap.url("/valenv/a?b=c"), timeout=10)
    assert r.status_code == 200, (r.status_code, ap.log_since(mark)[-2000:])
    assert r.json()["SCRIPT_NAME"]["value"] == "/valenv"
    assert "AssertionError" not in ap.log_since(mark)
