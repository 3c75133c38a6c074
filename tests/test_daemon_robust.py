"""Daemon mode robustness (issue 13, deliverables 3-6, 9's fault path):
responses of any size, no Apache worker blocked beyond the group's
timeouts, one Content-Length, request-timeout recovering the process,
and a killed or stopped daemon cleaned up after promptly. Real Apache,
run as root, under event and prefork."""

import threading
import time
import zlib

import pytest
import requests

from conftest import IS_MOD_WSGI  # noqa: F401

pytestmark = pytest.mark.mwrs_only("daemon-mode robustness of issue 13")

MPMS = ["event", "prefork"]

BIG = '''
import zlib
from urllib.parse import parse_qs
PATTERN = bytes(range(256)) * 4096            # 1 MiB
def application(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    mib = int(q.get("mib", ["64"])[0])
    how = q.get("how", ["one"])[0]
    if how == "stream":
        # a long streamed body with its (64-bit) Content-Length
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(mib << 20))])
        return (PATTERN for _ in range(mib))
    body = PATTERN * mib
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("X-Adler", str(zlib.adler32(body)))])
    return [body]
'''

WRITE = '''
import zlib
PATTERN = bytes(range(256)) * 4096
def application(environ, start_response):
    body = PATTERN * 64
    write = start_response("200 OK", [("X-Adler", str(zlib.adler32(body)))])
    write(body)          # one 64 MiB write() call
    return [b"!"]
'''


def group_conf(opts="threads=2", script="big.wsgi", alias="/big"):
    return (
        "WSGIDaemonProcess big %s display-name=%%{GROUP}\n"
        "WSGIScriptAlias %s @APPS@/%s process-group=big application-group=%%{GLOBAL}\n"
        % (opts, alias, script)
    )


def fetch_counting(url, timeout=120):
    """Streams the body: (status, headers, bytes, adler32), never holding it."""
    with requests.get(url, stream=True, timeout=timeout) as r:
        n, adler = 0, 1
        for chunk in r.iter_content(1 << 20):
            n += len(chunk)
            adler = zlib.adler32(chunk, adler)
        return r.status_code, r.headers, n, adler


@pytest.mark.parametrize("mpm", MPMS)
def test_64_mib_in_one_bytes_object_and_one_write(make_apache_fn, mpm):
    conf = group_conf() + "WSGIScriptAlias /write @APPS@/write.wsgi process-group=big\n"
    ap = make_apache_fn(conf, apps={"big.wsgi": BIG, "write.wsgi": WRITE}, mpm=mpm)
    status, headers, n, adler = fetch_counting(ap.url("/big?mib=64"))
    assert status == 200 and n == 64 << 20
    assert adler == int(headers["X-Adler"])
    status, headers, n, adler = fetch_counting(ap.url("/write"))
    assert status == 200 and n == (64 << 20) + 1
    assert zlib.adler32(b"!", int(headers["X-Adler"])) == adler
    log = ap.error_log()
    assert "WSGI-RS-E402" not in log and "WSGI-RS-E430" not in log, log[-2000:]


@pytest.mark.parametrize("mpm", MPMS)
def test_5_gib_streamed_body_with_its_content_length(make_apache_fn, mpm):
    ap = make_apache_fn(group_conf(), apps={"big.wsgi": BIG}, mpm=mpm)
    mib = 5 << 10
    status, headers, n, adler = fetch_counting(ap.url("/big?how=stream&mib=%d" % mib), timeout=300)
    assert status == 200
    assert int(headers["Content-Length"]) == 5 << 30
    assert n == 5 << 30
    # the same adler32 as mib copies of the pattern, computed without 5 GiB
    pattern = bytes(range(256)) * 4096
    want = 1
    for _ in range(mib):
        want = zlib.adler32(pattern, want)
    assert adler == want
    assert "WSGI-RS-E4" not in ap.error_log()
