"""WSGI apps of the shared-state tests (tests/test_shared_*.py)."""


def two_kinds(script, group):
    """A cache `main`, and `script` served both by the embedded children
    (/e) and by a daemon group of 2 processes (/d)."""
    return (
        "WSGISharedCache main\n"
        "WSGIDaemonProcess %s processes=2 threads=4\n"
        "WSGIScriptAlias /e @APPS@/%s\n"
        "WSGIScriptAlias /d @APPS@/%s process-group=%s application-group=%%{GLOBAL}\n"
        % (group, script, script, group)
    )

COUNTER = r'''
import json, os, time
from urllib.parse import parse_qs
import mod_wsgi_rs

def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    op = environ.get("PATH_INFO", "").strip("/")
    cache = mod_wsgi_rs.cache(q.get("cache", "main"))
    if op == "incr":
        n = cache.incr(q.get("key", "hits"))
        body = {"n": n}
    elif op == "locked":
        key = q.get("key", "locked")
        with mod_wsgi_rs.lock("lk-" + key, timeout=30, cache=q.get("on")):
            n = int(cache.get(key, b"0")) + 1
            cache.set(key, str(n).encode())
        body = {"n": n}
    elif op == "get":
        v = cache.get(q["key"])
        body = {"v": None if v is None else v.decode()}
    elif op == "hold":
        with mod_wsgi_rs.lock(q["name"], cache=q.get("on")):
            cache.set("holding-" + q["name"], str(os.getpid()).encode())
            time.sleep(float(q.get("secs", "30")))
        body = {}
    elif op == "try":
        try:
            with mod_wsgi_rs.lock(q["name"], timeout=float(q["timeout"]), cache=q.get("on")):
                body = {"got": True}
        except mod_wsgi_rs.LockTimeout as e:
            body = {"got": False, "error": str(e)}
    elif op == "who":
        import mod_wsgi
        body = {}
    else:
        body = {}
    import mod_wsgi
    body.update(pid=os.getpid(), uid=os.getuid(), group=mod_wsgi.process_group,
                app_group=mod_wsgi.application_group)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
'''

API = r'''
import json, time, traceback
import mod_wsgi_rs

def check():
    c = mod_wsgi_rs.cache("main")
    out = {}
    c.clear()
    out["missing"] = c.get("nope")
    out["default"] = c.get("nope", b"dflt").decode()
    c.set("a", b"1")
    c.set(b"b\xff", b"\x00bin\xff")
    out["get_str"] = c.get("a").decode()
    out["get_bytes"] = c.get(b"b\xff") == b"\x00bin\xff"
    out["add_existing"] = c.add("a", b"2")
    out["add_new"] = c.add("new", b"x")
    out["after_add"] = c.get("a").decode()
    out["incr_missing"] = c.incr("ctr")
    out["incr_5"] = c.incr("ctr", 5)
    out["decr"] = c.incr("ctr", -2)
    out["ctr_raw"] = c.get("ctr").decode()
    try:
        c.incr("b\xff".encode("latin-1"))
        out["incr_bad"] = "no error"
    except ValueError as e:
        out["incr_bad"] = "ValueError"
    out["delete_yes"] = c.delete("a")
    out["delete_no"] = c.delete("a")
    c.set_many({"m1": b"v1", "m2": b"v2"})
    out["get_many"] = sorted((k, v.decode()) for k, v in c.get_many(["m1", "m2", "m3"]).items())
    out["keys_m"] = sorted(k.decode() for k in c.keys("m"))
    c.set("ttl", b"short", ttl=0.3)
    c.incr("ttlctr", ttl=0.3)
    out["ttl_before"] = c.get("ttl").decode()
    time.sleep(0.6)
    out["ttl_after"] = c.get("ttl")
    out["ttl_keys"] = [k.decode() for k in c.keys("ttl")]
    out["ttl_add_again"] = c.add("ttl", b"again")
    out["ttlctr_restart"] = c.incr("ttlctr")
    for bad in (lambda: c.set("k", "str value"), lambda: c.get(42)):
        try:
            bad()
            out.setdefault("types", []).append("no error")
        except TypeError:
            out.setdefault("types", []).append("TypeError")
    try:
        c.set("x" * 600, b"v")
        out["long_key"] = "no error"
    except ValueError:
        out["long_key"] = "ValueError"
    try:
        mod_wsgi_rs.cache("undefined")
        out["unknown"] = "no error"
    except mod_wsgi_rs.CacheError as e:
        out["unknown"] = str(e)
    st = c.stats()
    out["stats_keys"] = sorted(st)
    out["same_object"] = mod_wsgi_rs.cache("main") is c
    with mod_wsgi_rs.lock("api"):
        try:
            mod_wsgi_rs.lock("api").acquire()
            out["reentrant"] = "no error"
        except RuntimeError:
            out["reentrant"] = "RuntimeError"
        # cache= on an LMDB cache is this machine's lock of that name too
        for taken in (lambda: mod_wsgi_rs.lock("api", timeout=1, cache="main"), lambda: c.lock("api", timeout=1)):
            try:
                with taken():
                    out.setdefault("reentrant_cache", []).append("no error")
            except RuntimeError:
                out.setdefault("reentrant_cache", []).append("RuntimeError")
    c.clear()
    out["cleared"] = c.keys()
    return out

def application(environ, start_response):
    try:
        body = json.dumps(check())
    except Exception:
        body = json.dumps({"error": traceback.format_exc()})
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body.encode()]
'''

FILL = r'''
import json, os
import mod_wsgi_rs

def application(environ, start_response):
    c = mod_wsgi_rs.cache("tiny")
    c.set("keep", b"kept")
    written, error = 0, None
    try:
        for i in range(100000):
            c.set("fill-%d" % i, os.urandom(4000))
            written += 1
    except mod_wsgi_rs.CacheFull as e:
        error = str(e)
    body = {"written": written, "error": error, "keep": c.get("keep").decode(),
            "last": c.get("fill-%d" % (written - 1)) is not None,
            "ok_after_delete": None}
    c.delete("fill-0")
    c.set("small", b"x")
    body["ok_after_delete"] = c.get("small") == b"x"
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
'''

DJANGO = r'''
import json, time
import django
from django.conf import settings

settings.configure(
    SECRET_KEY="mwrs-shared-test", DEBUG=False, ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"],
    MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
    SESSION_ENGINE="django.contrib.sessions.backends.cache",
    CACHES={
        "default": {"BACKEND": "mod_wsgi_rs.django.SharedCache", "LOCATION": "main"},
        "prefixed": {"BACKEND": "mod_wsgi_rs.django.SharedCache", "LOCATION": "main",
                     "KEY_PREFIX": "pfx", "TIMEOUT": 60},
    },
    DATABASES={}, USE_TZ=True,
)
django.setup()

from django.core.cache import caches
from django.http import HttpResponse, JsonResponse
from django.urls import path


class Thing:
    def __init__(self, x):
        self.x = x

    def __eq__(self, other):
        return isinstance(other, Thing) and other.x == self.x


def check(request):
    c, p = caches["default"], caches["prefixed"]
    c.clear()
    out = {}
    c.set("key", "value")
    out["simple"] = c.get("key")
    out["add_existing"] = c.add("key", "other")
    out["add_new"] = c.add("addkey", "new")
    out["has_key"] = [c.has_key("key"), c.has_key("absent")]
    out["default"] = c.get("absent", "dflt")
    c.set("obj", {"a": [1, 2.5, None], "t": Thing(3)})
    out["pickled"] = c.get("obj") == {"a": [1, 2.5, None], "t": Thing(3)}
    c.set("num", 1)
    out["incr"] = [c.incr("num"), c.incr("num", 10), c.decr("num"), c.decr("num", 5), c.get("num")]
    try:
        c.incr("does_not_exist")
        out["incr_missing"] = "no error"
    except ValueError:
        out["incr_missing"] = "ValueError"
    c.set_many({"a": 1, "b": "bee", "c": [3]})
    out["get_many"] = c.get_many(["a", "b", "c", "nope"])
    c.delete_many(["a", "b"])
    out["after_delete_many"] = c.get_many(["a", "b", "c"])
    out["delete"] = [c.delete("c"), c.delete("c")]
    c.set("zero", "x", 0)
    out["timeout_zero"] = c.get("zero")
    c.set("forever", "x", None)
    c.set("short", "x", 1)
    out["touch"] = [c.touch("short", 60), c.touch("absent")]
    c.set("expires", "x", 1)
    time.sleep(1.3)
    out["expired"] = [c.get("expires"), c.get("short"), c.get("forever")]
    c.set("v", "one", version=1)
    c.set("v", "two", version=2)
    out["versions"] = [c.get("v", version=1), c.get("v", version=2), c.get("v")]
    c.incr_version("v", version=2)
    out["incr_version"] = [c.get("v", version=2), c.get("v", version=3)]
    p.set("key", "prefixed")
    out["prefix"] = [c.get("key"), p.get("key")]
    p.clear()
    out["prefix_clear"] = [c.get("key"), p.get("key")]
    out["get_or_set"] = [c.get_or_set("gos", "first"), c.get_or_set("gos", "second")]
    c.clear()
    out["clear"] = c.get("key")
    return JsonResponse(out)


def login(request, name):
    request.session["user"] = name
    return HttpResponse("ok")


def whoami(request):
    import mod_wsgi, os
    return JsonResponse({"user": request.session.get("user"), "pid": os.getpid(),
                         "group": mod_wsgi.process_group})


urlpatterns = [path("check/", check), path("login/<str:name>/", login), path("whoami/", whoami)]

from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
'''

FAULT = r'''
import json, os
import mod_wsgi_rs

def application(environ, start_response):
    cache = mod_wsgi_rs.cache("main")
    op = environ.get("PATH_INFO", "").strip("/")
    torn = 0
    blob = cache.get("blob")
    if blob is not None and blob.count(blob[:1]) != len(blob):
        torn = 1
    if op == "incr":
        n = cache.incr("inc")
    elif op == "locked":
        with mod_wsgi_rs.lock("fault", timeout=60):
            n = int(cache.get("lck", b"0")) + 1
            cache.set("lck", str(n).encode())
    elif op == "final":
        with mod_wsgi_rs.lock("fault", timeout=5):
            n = [int(cache.get("inc", b"0")), int(cache.get("lck", b"0"))]
    else:
        n = None
    cache.set("blob", bytes([os.getpid() % 251]) * 3000)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"n": n, "torn": torn, "pid": os.getpid()}).encode()]
'''

FLASK = r'''
import os, time
from flask import Flask, jsonify
from flask_caching import Cache

app = Flask(__name__)
cache = Cache(app, config={"CACHE_TYPE": "mod_wsgi_rs.flask.SharedCache",
                           "CACHE_SHARED_NAME": "main", "CACHE_KEY_PREFIX": "fl-"})

@app.route("/ops")
def ops():
    cache.clear()
    out = {}
    cache.set("k", {"x": [1, 2]})
    out["get"] = cache.get("k")
    out["add"] = [cache.add("k", 1), cache.add("k2", 1)]
    out["has"] = [cache.has("k"), cache.has("nope")]
    out["inc"] = [cache.cache.inc("n"), cache.cache.inc("n", 4), cache.cache.dec("n")]
    cache.set_many({"a": 1, "b": "two"})
    out["many"] = cache.get_many("a", "b", "c")
    out["delete"] = [cache.delete("a"), cache.delete("a")]
    cache.set("short", "v", timeout=1)
    time.sleep(1.3)
    out["expired"] = cache.get("short")
    return jsonify(out)

@app.route("/inc")
def inc():
    return jsonify(n=cache.cache.inc("hits"), pid=os.getpid())

@app.route("/cached")
@cache.cached(timeout=60)
def cached():
    return jsonify(pid=os.getpid(), at=time.time())

application = app
'''
