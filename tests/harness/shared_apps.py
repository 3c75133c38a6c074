"""WSGI apps of the shared-state tests (tests/test_shared_state*.py)."""

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
        with mod_wsgi_rs.lock("lk-" + key, timeout=30):
            n = int(cache.get(key, b"0")) + 1
            cache.set(key, str(n).encode())
        body = {"n": n}
    elif op == "get":
        v = cache.get(q["key"])
        body = {"v": None if v is None else v.decode()}
    elif op == "hold":
        with mod_wsgi_rs.lock(q["name"]):
            cache.set("holding-" + q["name"], str(os.getpid()).encode())
            time.sleep(float(q.get("secs", "30")))
        body = {}
    elif op == "try":
        try:
            with mod_wsgi_rs.lock(q["name"], timeout=float(q["timeout"])):
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
