"""WSGISharedCache NAME redis://host:port/db (issue 15, point 5): the same
API and the same counting under faults against a real Redis server
(Debian's redis-server) started by the test."""

import os
import signal
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest
import requests

from harness import shared_apps
from harness.apache import free_port
import test_shared_faults

pytestmark = pytest.mark.mwrs_only("mod_wsgi_rs's shared state (issue 15)")


@pytest.fixture
def redis_url():
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    port = free_port()
    d = tempfile.mkdtemp(prefix="mwrs-redis-")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", d, "--maxmemory", "64mb"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            break
        except OSError:
            assert time.time() < deadline, "redis-server did not start"
            time.sleep(0.05)
    yield "redis://127.0.0.1:%d/3" % port
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(d, ignore_errors=True)


def test_api_semantics_on_redis(make_apache_fn, redis_url):
    ap = make_apache_fn(
        "WSGISharedCache main %s\nWSGIScriptAlias /api @APPS@/api.wsgi\n"
        "WSGIDaemonProcess r processes=2 threads=4\n"
        "WSGIScriptAlias /d @APPS@/counter.wsgi process-group=r application-group=%%{GLOBAL}\n"
        "WSGIScriptAlias /c @APPS@/counter.wsgi\n" % redis_url,
        apps={"api.wsgi": shared_apps.API, "counter.wsgi": shared_apps.COUNTER},
        name="shared-redis-api")
    r = requests.get(ap.url("/api"), timeout=30)
    assert r.status_code == 200, ap.error_log()[-3000:]
    out = r.json()
    assert "error" not in out, out.get("error")
    assert out["get_str"] == "1" and out["get_bytes"] is True
    assert out["add_existing"] is False and out["add_new"] is True
    assert (out["incr_missing"], out["incr_5"], out["decr"], out["ctr_raw"]) == (1, 6, 4, "4")
    assert out["incr_bad"] == "ValueError"
    assert out["delete_yes"] is True and out["delete_no"] is False
    assert out["get_many"] == [["m1", "v1"], ["m2", "v2"]] and out["keys_m"] == ["m1", "m2"]
    assert out["ttl_after"] is None and out["ttl_keys"] == [] and out["ttlctr_restart"] == 1
    assert out["types"] == ["TypeError", "TypeError"] and out["long_key"] == "ValueError"
    assert out["cleared"] == []
    for i in range(20):
        r = requests.get(ap.url(("/c", "/d")[i % 2] + "/incr?key=both"), timeout=30)
        assert r.status_code == 200
    # the data is in Redis, under the cache's namespace
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    cli = subprocess.run(["redis-cli", "-p", str(port), "-n", "3", "GET", "mwrs:main:both"],
                         capture_output=True, text=True)
    assert cli.stdout.strip() == "20"


def test_unreachable_redis_is_a_clear_error(make_apache_fn):
    port = free_port()
    ap = make_apache_fn("WSGISharedCache main redis://127.0.0.1:%d/0\n"
                        "WSGIScriptAlias /c @APPS@/counter.wsgi\n" % port,
                        apps={"counter.wsgi": shared_apps.COUNTER}, name="shared-redis-down")
    r = requests.get(ap.url("/c/incr"), timeout=30)
    assert r.status_code == 500
    assert "[WSGI-RS-E702] shared cache 'main' cannot be opened" in ap.error_log()


def test_counting_under_kills_and_restarts_on_redis(make_apache_fn, redis_url):
    test_shared_faults.run_fault_test(make_apache_fn, "WSGISharedCache main %s\n" % redis_url,
                                      "shared-faults-redis")


def _two_hosts(make_apache_fn, redis_url, lease=""):
    conf = ("WSGISharedCache main %s%s\nWSGIScriptAlias /c @APPS@/counter.wsgi\n"
            % (redis_url, lease))
    return [make_apache_fn(conf, apps={"counter.wsgi": shared_apps.COUNTER},
                           name="shared-redis-host%d" % i) for i in (1, 2)]


def test_redis_lock_serialises_two_hosts(make_apache_fn, redis_url):
    """lock(..., cache=<redis cache>) + get/set from two Apache instances
    (two hosts sharing one Redis), 16 clients at once: every 200 is
    exactly one increment. Without cache= (each instance's own flock
    files) the same run loses updates."""
    hosts = _two_hosts(make_apache_fn, redis_url)
    urls = [h.url("/c/locked?key=two&on=main") for h in hosts]
    ok = []

    def client(i):
        with requests.Session() as s:
            for j in range(25):
                r = s.get(urls[(i + j) % 2], timeout=60)
                if r.status_code == 200:
                    ok.append(r.json()["n"])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ok) == 400, [h.error_log()[-2000:] for h in hosts]
    # every answer saw a different value, and the last one is the count
    assert sorted(ok) == list(range(1, 401))
    final = requests.get(hosts[0].url("/c/get?key=two"), timeout=30).json()["v"]
    assert final == "400"


def test_redis_lock_is_renewed_and_freed_after_its_holder_dies(make_apache_fn, redis_url):
    """A holder keeps the lock past its lease (renewals); kill -9 of the
    holder frees it once the lease runs out, with no one releasing it."""
    a, b = _two_hosts(make_apache_fn, redis_url, lease=" lock-lease=2")
    holder = threading.Thread(target=lambda: _quiet_get(a.url("/c/hold?name=x&on=main&secs=120")))
    holder.start()
    deadline = time.time() + 30
    pid = None
    while pid is None and time.time() < deadline:
        pid = requests.get(b.url("/c/get?key=holding-x"), timeout=30).json()["v"]
        time.sleep(0.05)
    assert pid, a.error_log()[-2000:]
    time.sleep(3)  # longer than the 2 s lease: only renewals keep it held
    r = requests.get(b.url("/c/try?name=x&on=main&timeout=0"), timeout=30).json()
    assert r["got"] is False and "not acquired" in r["error"], r
    os.kill(int(pid), signal.SIGKILL)
    r = requests.get(b.url("/c/try?name=x&on=main&timeout=10"), timeout=30).json()
    assert r["got"] is True, r
    holder.join(30)


def _quiet_get(url):
    try:
        requests.get(url, timeout=150)
    except requests.RequestException:
        pass  # the holder's process is killed on purpose
