"""Shared state across processes (issue 15): WSGISharedCache and the
mod_wsgi_rs module (cache, lock) from embedded children, daemon groups
(another user) and named sub-interpreters, against a real Apache."""

import os
import pwd
import struct
import time

import pytest
import requests

from harness.apache import assert_no_crash
from harness import shared_apps

pytestmark = pytest.mark.mwrs_only("mod_wsgi_rs's shared state (issue 15)")


def conf(extra=""):
    return (
        "WSGISharedCache main\n"
        "WSGIScriptAlias /c @APPS@/counter.wsgi\n" + extra
    )


def acl_users(path):
    """(tag, id) of the named-user entries of a file's POSIX ACL."""
    blob = os.getxattr(path, "system.posix_acl_access")
    entries = [struct.unpack_from("<HHI", blob, 4 + 8 * i) for i in range((len(blob) - 4) // 8)]
    return {(tag, uid) for tag, perm, uid in entries if tag == 2 and perm & 6 == 6}


def get(ap, path, **kw):
    r = requests.get(ap.url(path), timeout=30, **kw)
    assert r.status_code == 200, (r.status_code, r.text[:2000], ap.error_log()[-3000:])
    return r.json()


def test_api_semantics(make_apache_fn):
    ap = make_apache_fn(conf("WSGIScriptAlias /api @APPS@/api.wsgi\n"),
                        apps={"counter.wsgi": shared_apps.COUNTER, "api.wsgi": shared_apps.API})
    out = get(ap, "/api")
    assert "error" not in out, out.get("error")
    assert out["missing"] is None and out["default"] == "dflt"
    assert out["get_str"] == "1" and out["get_bytes"] is True
    assert out["add_existing"] is False and out["add_new"] is True and out["after_add"] == "1"
    assert (out["incr_missing"], out["incr_5"], out["decr"], out["ctr_raw"]) == (1, 6, 4, "4")
    assert out["incr_bad"] == "ValueError"
    assert out["delete_yes"] is True and out["delete_no"] is False
    assert out["get_many"] == [["m1", "v1"], ["m2", "v2"]]
    assert out["keys_m"] == ["m1", "m2"]
    assert out["ttl_before"] == "short"
    assert out["ttl_after"] is None and out["ttl_keys"] == []
    assert out["ttl_add_again"] is True and out["ttlctr_restart"] == 1
    assert out["types"] == ["TypeError", "TypeError"]
    assert out["long_key"] == "ValueError"
    assert "WSGISharedCache undefined" in out["unknown"] and "main" in out["unknown"]
    assert out["stats_keys"] == ["entries", "max_readers", "path", "readers", "size", "used_bytes"]
    assert out["same_object"] is True
    assert out["reentrant"] == "RuntimeError"
    assert out["reentrant_cache"] == ["RuntimeError", "RuntimeError"]
    assert out["cleared"] == []
    assert_no_crash(ap)


def test_files_owned_by_the_users_of_the_processes(make_apache_fn):
    if os.geteuid() != 0:
        pytest.skip("needs root: Apache's User and user= are only real as root")
    ap = make_apache_fn(
        conf("WSGIDaemonProcess other user=nobody group=nogroup threads=2\n"
             "WSGIScriptAlias /d @APPS@/counter.wsgi process-group=other application-group=%{GLOBAL}\n"),
        apps={"counter.wsgi": shared_apps.COUNTER})
    base = os.path.join(ap.run_dir, "wsgi-shared")
    www = pwd.getpwnam("www-data").pw_uid
    nobody = pwd.getpwnam("nobody").pw_uid
    for path in (base, os.path.join(base, "main"), os.path.join(base, "main", "data.mdb"),
                 os.path.join(base, "main", "lock.mdb"), os.path.join(base, "locks")):
        st = os.stat(path)
        assert st.st_uid == www, path
        assert st.st_mode & 0o007 == 0, (path, oct(st.st_mode))
        assert (2, nobody) in acl_users(path), path
    a = get(ap, "/c/incr?key=users")
    b = get(ap, "/d/incr?key=users")
    assert a["uid"] == www and b["uid"] == nobody and b["group"] == "other"
    assert sorted([a["n"], b["n"]]) == [1, 2]
    # the lock files a daemon running as nobody creates are usable by www-data
    assert get(ap, "/d/try?name=shared-lock&timeout=1")["got"] is True
    assert get(ap, "/c/try?name=shared-lock&timeout=1")["got"] is True


def test_every_kind_of_process_sees_the_same_data(make_apache_fn):
    ap = make_apache_fn(
        conf("WSGIDaemonProcess two processes=2 threads=4\n"
             "WSGIScriptAlias /d @APPS@/counter.wsgi process-group=two application-group=%{GLOBAL}\n"
             "WSGIScriptAlias /n @APPS@/counter.wsgi application-group=named\n"
             "WSGIScriptAlias /dn @APPS@/counter.wsgi process-group=two application-group=other\n"),
        apps={"counter.wsgi": shared_apps.COUNTER}, global_group=False)
    seen = set()
    for i in range(40):
        path = ("/c", "/d", "/n", "/dn")[i % 4]
        out = get(ap, path + "/incr?key=every")
        seen.add((out["pid"], out["group"], out["app_group"]))
    assert get(ap, "/c/get?key=every")["v"] == "40"
    assert {g for _, g, _ in seen} == {"", "two"}
    assert {a for _, _, a in seen} >= {"", "named", "other"}
    assert len({p for p, g, _ in seen if g == "two"}) == 2


@pytest.mark.parametrize("mpm", ["prefork", "event"])
def test_survives_restarts_and_kill(make_apache_fn, mpm):
    ap = make_apache_fn(conf(), apps={"counter.wsgi": shared_apps.COUNTER}, mpm=mpm,
                        name="shared-restart-" + mpm)
    for _ in range(5):
        get(ap, "/c/incr?key=kept")
    ap.graceful()
    get(ap, "/c/incr?key=kept")
    ap.restart()
    get(ap, "/c/incr?key=kept")
    for pid in ap.children():
        os.kill(pid, 9)
    deadline = time.time() + 20
    while True:
        try:
            out = get(ap, "/c/get?key=kept")
            break
        except (requests.RequestException, AssertionError):
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    assert out["v"] == "7"


def test_lock_timeout_and_release_by_kill(make_apache_fn):
    ap = make_apache_fn(
        conf("WSGIDaemonProcess holder processes=1 threads=2\n"
             "WSGIScriptAlias /h @APPS@/counter.wsgi process-group=holder application-group=%{GLOBAL}\n"),
        apps={"counter.wsgi": shared_apps.COUNTER})
    import threading
    def hold():
        try:
            requests.get(ap.url("/h/hold?name=L&secs=60"), timeout=90)
        except requests.RequestException:
            pass  # its daemon process is killed below

    t = threading.Thread(target=hold)
    t.daemon = True
    t.start()
    deadline = time.time() + 10
    while get(ap, "/c/get?key=holding-L")["v"] is None:
        assert time.time() < deadline
        time.sleep(0.1)
    holder = int(get(ap, "/c/get?key=holding-L")["v"])
    out = get(ap, "/c/try?name=L&timeout=0.3")
    assert out["got"] is False and "not acquired" in out["error"]
    os.kill(holder, 9)
    # the kernel released the dead holder's lock
    deadline = time.time() + 10
    while not get(ap, "/c/try?name=L&timeout=2")["got"]:
        assert time.time() < deadline


def test_full_store_raises_and_stays_usable(make_apache_fn):
    ap = make_apache_fn("WSGISharedCache tiny size=1M\nWSGIScriptAlias /f @APPS@/fill.wsgi\n",
                        apps={"fill.wsgi": shared_apps.FILL})
    out = get(ap, "/f")
    assert out["error"] and "is full" in out["error"], out
    assert 50 < out["written"] < 260
    assert out["keep"] == "kept" and out["last"] is True and out["ok_after_delete"] is True
    assert "[WSGI-RS-E701]" in ap.error_log()


@pytest.mark.parametrize("line, expect", [
    ("WSGISharedCache a\nWSGISharedCache a size=2M", "WSGISharedCache 'a' is defined twice"),
    ("WSGISharedCache a size=12Q", "size='12Q' is not a size"),
    ("WSGISharedCache a size=1K", "too small"),
    ("WSGISharedCache a relative/dir", "must be an absolute directory"),
    ("WSGISharedCache 'a/b'", "must be 1 to 64 letters"),
    ("WSGISharedCache a bogus=1", "unknown option 'bogus='"),
])
def test_bad_configuration_fails_configtest(make_apache_fn, line, expect):
    ap = make_apache_fn(line + "\n", start=False)
    ap.write_conf()
    rc, out = ap.configtest()
    assert rc != 0 and expect in out, out
    if "twice" in line or "twice" in expect:
        assert out.count("httpd.conf:") >= 2, out
