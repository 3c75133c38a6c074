"""Preloading in daemon mode (issue 14): a script alias naming both
process-group= and application-group=, and a WSGIImportScript naming a
group, are loaded as each daemon process starts, before it accepts a
request; a process that replaces one (maximum-requests) takes requests
only once they are loaded; a broken preload is logged at once and tried
again on the first request."""

import os
import time

import pytest
import requests

pytestmark = pytest.mark.mwrs_only("daemon preloading of issue 14")

# At load: which process, and whether it runs in the process's main
# thread (a preload) or in a request thread (a load on first use).
RECORDER = '''
import os, threading
PRELOADED = threading.current_thread() is threading.main_thread()
_path = os.path.join("@VAR@", "loaded.%s.%d" % (@TAG@, os.getpid()))
with open(_path + ".tmp", "w") as f:
    f.write("preloaded" if PRELOADED else "on-request")
os.rename(_path + ".tmp", _path)  # whole, for the test's listing
SERVED = [0]
def application(environ, start_response):
    SERVED[0] += 1
    body = "%d %s %d" % (os.getpid(), PRELOADED, SERVED[0])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
'''

BROKEN = '''
import os
if not os.path.exists(os.path.join("@VAR@", "fixed")):
    raise RuntimeError("preload-broken-on-purpose")
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"loaded after all"]
'''


def recorder(tag):
    return RECORDER.replace("@TAG@", repr(tag))


def loads(ap, tag):
    """{pid: 'preloaded' | 'on-request'} for the script tagged `tag`."""
    out = {}
    for name in os.listdir(ap.var_dir):
        if name.startswith("loaded.%s." % tag) and not name.endswith(".tmp"):
            with open(ap.var_path(name)) as f:
                out[int(name.rsplit(".", 1)[1])] = f.read()
    return out


def wait_loads(ap, tag, count, timeout=20):
    deadline = time.time() + timeout
    while len(loads(ap, tag)) < count and time.time() < deadline:
        time.sleep(0.05)
    return loads(ap, tag)


def test_alias_with_both_groups_loads_at_start_and_after_recycling(make_apache_fn):
    ap = make_apache_fn(
        "WSGIDaemonProcess pre processes=1 threads=2 maximum-requests=3\n"
        "WSGIScriptAlias /pre @APPS@/pre.wsgi process-group=pre application-group=%{GLOBAL}\n",
        apps={"pre.wsgi": recorder("pre")},
    )
    # No request yet: the daemon process has loaded the script.
    first = wait_loads(ap, "pre", 1)
    assert list(first.values()) == ["preloaded"], first
    assert ap.wait_log(r"WSGI-RS-I110\] Loading WSGI script '%s'" % ap.app_path("pre.wsgi")), ap.error_log()[-2000:]
    (pid1,) = first
    # maximum-requests=3 recycles it; the first request the replacement
    # serves finds the script loaded in its main thread before it.
    # (A process may serve a few more requests while it begins to
    # recycle: ask until two replacements have answered.)
    seen = {}
    for _ in range(400):
        pid, preloaded, served = requests.get(ap.url("/pre"), timeout=10).text.split()
        seen.setdefault(int(pid), []).append((preloaded, int(served)))
        if len(seen) >= 3:
            break
    new = [p for p in seen if p != pid1]
    assert len(new) >= 2, seen
    for pid in new:
        assert seen[pid][0] == ("True", 1), seen
    assert set(loads(ap, "pre").values()) == {"preloaded"}, loads(ap, "pre")
    assert "recycling (maximum-requests)" in ap.error_log()


def test_import_script_and_alias_match_without_backreference(make_apache_fn):
    ap = make_apache_fn(
        "WSGIDaemonProcess imp processes=2 threads=2\n"
        "WSGIImportScript @APPS@/imp.wsgi process-group=imp application-group=%{GLOBAL}\n"
        "WSGIScriptAliasMatch ^/m/(.*) @APPS@/match.wsgi process-group=imp application-group=%{GLOBAL}\n"
        "WSGIScriptAliasMatch ^/b/(.*)$ @APPS@/$1.wsgi process-group=imp application-group=%{GLOBAL}\n",
        apps={"imp.wsgi": recorder("imp"), "match.wsgi": recorder("match"), "back.wsgi": recorder("back")},
    )
    assert set(wait_loads(ap, "imp", 2).values()) == {"preloaded"}
    assert set(wait_loads(ap, "match", 2).values()) == {"preloaded"}
    # A target built from the URL cannot be known before a request.
    assert loads(ap, "back") == {}
    pid, preloaded, _ = requests.get(ap.url("/b/back"), timeout=10).text.split()
    assert preloaded == "False" and loads(ap, "back") == {int(pid): "on-request"}


def test_alias_with_one_group_only_loads_on_first_request(make_apache_fn):
    ap = make_apache_fn(
        "WSGIDaemonProcess lazy processes=1 threads=2\n"
        "WSGIScriptAlias /lazy @APPS@/lazy.wsgi process-group=lazy\n",
        apps={"lazy.wsgi": recorder("lazy")},
    )
    assert requests.get(ap.url("/lazy"), timeout=10).text.split()[1] == "False"
    assert list(loads(ap, "lazy").values()) == ["on-request"]


def test_broken_preload_is_logged_at_once_and_retried_on_first_request(make_apache_fn):
    ap = make_apache_fn(
        "WSGIDaemonProcess broken processes=1 threads=2\n"
        "WSGIScriptAlias /broken @APPS@/broken.wsgi process-group=broken application-group=%{GLOBAL}\n",
        apps={"broken.wsgi": BROKEN},
    )
    m = ap.wait_log(r"WSGI-RS-E104\] Failed to preload WSGI script '%s'" % ap.app_path("broken.wsgi"), timeout=20)
    assert m, ap.error_log()[-2000:]
    assert ap.wait_log(r"Traceback \(most recent call last\)")
    assert ap.wait_log(r"RuntimeError: preload-broken-on-purpose")
    open(ap.var_path("fixed"), "w").close()
    r = requests.get(ap.url("/broken"), timeout=10)
    assert r.status_code == 200 and r.text == "loaded after all"
