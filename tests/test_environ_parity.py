"""The environ under mod_wsgi_rs against Debian's mod_wsgi 4.9.4 for the same
requests, in embedded and in daemon mode (each module in the same mode): no
missing or extra key and no type difference, apart from the differences
listed (and explained) in KNOWN_DIFFERENCES."""

import os

import pytest
import requests

from harness import apps
from harness.apache import MOD_WSGI_REF, default_module, rs_module_path

CONF = """
WSGIScriptAlias /env @APPS@/env.wsgi
WSGIScriptAlias /pa @APPS@/env.wsgi
<Location /pa>
    WSGIPassAuthorization On
</Location>
WSGIScriptAlias /https @APPS@/env.wsgi
<Location /https>
    SetEnv HTTPS on
</Location>
"""

# key -> why it may differ.  Keep this list short and explained; the README
# lists the user-visible ones.
KNOWN_DIFFERENCES = {
    # (none so far: every key and type must match)
}

# Values that legitimately differ between two instances (ports, paths, clocks,
# per-process counters, object reprs); only their presence and type are compared.
VOLATILE = {
    "REMOTE_PORT", "SERVER_PORT", "HTTP_HOST", "mod_wsgi.listener_port",
    "mod_wsgi.request_id", "mod_wsgi.request_start", "mod_wsgi.script_start",
    "mod_wsgi.queue_start", "mod_wsgi.daemon_start",  # daemon mode's clocks
    "mod_wsgi.thread_id", "mod_wsgi.thread_requests", "mod_wsgi.total_requests",
    "mod_wsgi.version", "SERVER_SOFTWARE", "SERVER_SIGNATURE",
    "apache.version",  # build-time Apache version: Debian built mod_wsgi against 2.4.55
    "wsgi.input", "wsgi.errors", "wsgi.file_wrapper", "__module__",
}

REQUESTS = [
    ("GET", "/env", {}, None),
    ("GET", "/env/a%20b//c?x=1&y=%20", {"X-Custom": "v", "Accept-Language": "de"}, None),
    ("POST", "/env/post", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=1&b=2"),
    ("GET", "/pa/x", {"Authorization": "Basic dXNlcjpwYXNz"}, None),
    ("GET", "/https/x", {}, None),
]


@pytest.fixture(scope="module")
def pair(make_mode_apache):
    if default_module() == "mod_wsgi":
        pytest.skip("compares mod_wsgi_rs with mod_wsgi; suite runs against mod_wsgi (MWRS_TEST_MODULE)")
    for p in (MOD_WSGI_REF, rs_module_path()):
        if not os.path.exists(p):
            pytest.fail("parity test needs both modules; missing %s" % p)
    ours = make_mode_apache(CONF, apps={"env.wsgi": apps.ENV}, module="rs", name="parity-rs")
    ref = make_mode_apache(CONF, apps={"env.wsgi": apps.ENV}, module="mod_wsgi", name="parity-ref")
    return ours, ref


def fetch(ap, method, path, headers, body):
    r = requests.request(method, ap.url(path), headers=headers, data=body, timeout=10)
    assert r.status_code == 200, (ap, r.status_code, r.text[:300])
    return r.json()


def normalise(ap, v):
    if isinstance(v, str):
        return v.replace(ap.root, "@ROOT@").replace(str(ap.port), "@PORT@")
    return v


@pytest.mark.parametrize("method,path,headers,body", REQUESTS, ids=[r[0] + " " + r[1] for r in REQUESTS])
def test_environ_matches_mod_wsgi(pair, method, path, headers, body):
    ours, ref = pair
    a = fetch(ours, method, path, headers, body)
    b = fetch(ref, method, path, headers, body)
    problems = []
    for k in sorted(set(a) | set(b)):
        if k in KNOWN_DIFFERENCES:
            continue
        if k not in a:
            problems.append("missing in mod_wsgi_rs: %s = %r" % (k, b[k]))
            continue
        if k not in b:
            problems.append("extra in mod_wsgi_rs: %s = %r" % (k, a[k]))
            continue
        if a[k]["type"] != b[k]["type"]:
            problems.append("type of %s: ours %s, mod_wsgi %s" % (k, a[k]["type"], b[k]["type"]))
            continue
        if k in VOLATILE:
            continue
        va, vb = normalise(ours, a[k]["value"]), normalise(ref, b[k]["value"])
        if va != vb:
            problems.append("value of %s: ours %r, mod_wsgi %r" % (k, va, vb))
    assert not problems, "\n".join(problems)


def test_versions_shape(pair):
    ours, ref = pair
    a = fetch(ours, "GET", "/env", {}, None)
    b = fetch(ref, "GET", "/env", {}, None)
    for k in ("mod_wsgi.version", "apache.version", "wsgi.version"):
        assert a[k]["type"] == b[k]["type"] == "tuple"
    assert a["SERVER_SOFTWARE"]["value"].startswith("Apache/2.4")
