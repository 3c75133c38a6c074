"""Streaming responses (issue 3 §7, §8): an exception after the body started
must cut the connection promptly; a client disconnect stops iteration, calls
close() and is logged at info, not error."""

import os
import re
import socket
import time

import pytest
import requests

STREAM_APP = r"""
import os, time

VAR = '@VAR@'

class Stream:
    def __init__(self, tag, n, delay, fail_at=None):
        self.tag, self.n, self.delay, self.fail_at = tag, n, delay, fail_at
        self.sent = 0
    def __iter__(self):
        for i in range(self.n):
            if self.fail_at is not None and i == self.fail_at:
                raise RuntimeError('mid-stream-failure-%s' % self.tag)
            self.sent = i + 1
            yield (b'chunk-%06d\n' % i) * 100
            if self.delay:
                time.sleep(self.delay)
    def close(self):
        with open(os.path.join(VAR, 'closed-%s-%d' % (self.tag, self.sent)), 'w') as f:
            f.write(str(self.sent))

def application(environ, start_response):
    what = environ['PATH_INFO'].strip('/')
    tag = environ.get('QUERY_STRING', '')
    if what == 'fail-chunked':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return Stream(tag, 10, 0, fail_at=3)
    if what == 'fail-cl':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '100000')])
        return Stream(tag, 10, 0, fail_at=3)
    if what == 'fail-write':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        write(b'written-first\n')
        raise RuntimeError('mid-stream-failure-%s' % tag)
    if what == 'slow':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return Stream(tag, 400, 0.02)
    if what == 'ok':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return Stream(tag, 5, 0)
    start_response('404 Not Found', [('Content-Type', 'text/plain')])
    return [b'unknown']
"""


@pytest.fixture(scope="module")
def ap(make_mode_apache):
    # KeepAliveTimeout well above the promptness bound, so that a connection
    # that is merely left idle cannot pass for a cut one
    return make_mode_apache(
        "WSGIScriptAlias /s @APPS@/stream.wsgi\n",
        apps={"stream.wsgi": STREAM_APP},
        keepalive_timeout=8,
    )


def tag():
    return str(time.monotonic_ns())


def read_until_close(sock, limit=5.0):
    """Read until EOF/reset; returns (data, seconds, closed)."""
    t = time.time()
    data = b""
    sock.settimeout(0.2)
    while time.time() - t < limit:
        try:
            b = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data, time.time() - t, True
        if not b:
            return data, time.time() - t, True
        data += b
    return data, time.time() - t, False


def keepalive_request(ap, path):
    s = socket.create_connection((ap.host, ap.port), timeout=10)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    return s


def dechunk(body):
    """The payload of a complete chunked body, or None if it is not one."""
    out = b""
    while True:
        line, sep, rest = body.partition(b"\r\n")
        if not sep:
            return None
        size = int(line, 16)
        if size == 0:
            return out if rest == b"\r\n" else None
        if len(rest) < size + 2:
            return None
        out, body = out + rest[:size], rest[size + 2:]


def test_complete_stream_is_delimited_and_terminated(ap):
    """A finished stream ends so that a kept-alive client knows it has all
    of it: chunked, with its last chunk, in embedded mode (each block is
    passed on as it is yielded); in daemon mode the Apache child may find
    the whole response already received and pass it in one go, and Apache
    then sends it with a Content-Length."""
    expected = b"".join((b"chunk-%06d\n" % i) * 100 for i in range(5))
    s = keepalive_request(ap, "/s/ok?" + tag())
    try:
        data = b""
        s.settimeout(5)
        while True:
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep and b"Transfer-Encoding: chunked" in head and dechunk(body) is not None:
                assert dechunk(body) == expected
                break
            length = re.search(rb"\r\nContent-Length: (\d+)", head)
            if sep and length and len(body) >= int(length.group(1)):
                assert ap.mode == "daemon", head
                assert body == expected
                break
            b = s.recv(65536)
            assert b, data[-200:]
            data += b
    finally:
        s.close()


@pytest.mark.mod_wsgi_bug("an exception after the body started still ends the response cleanly")
def test_exception_mid_stream_chunked_cuts_connection(ap):
    t = tag()
    mark = ap.log_size()
    s = keepalive_request(ap, "/s/fail-chunked?" + t)
    try:
        data, secs, closed = read_until_close(s, limit=4)
    finally:
        s.close()
    assert b"Transfer-Encoding: chunked" in data
    assert b"chunk-000002" in data
    assert closed, "connection left open after a mid-stream exception"
    assert secs < 2.5, "connection closed only after %.1fs" % secs
    assert not data.endswith(b"0\r\n\r\n"), "response looks complete (terminating chunk sent)"
    assert ap.wait_log(r"RuntimeError: mid-stream-failure-" + t, mark), ap.log_since(mark)


def test_exception_mid_stream_logged_and_close_called(ap):
    t = tag()
    mark = ap.log_size()
    try:
        requests.get(ap.url("/s/fail-chunked?" + t), timeout=2.5).content
    except requests.RequestException:
        pass
    assert ap.wait_log(r"RuntimeError: mid-stream-failure-" + t, mark), ap.log_since(mark)
    deadline = time.time() + 3
    while time.time() < deadline and not os.path.exists(ap.var_path("closed-%s-3" % t)):
        time.sleep(0.05)
    assert os.path.exists(ap.var_path("closed-%s-3" % t)), os.listdir(ap.var_dir)


@pytest.mark.mod_wsgi_bug("an exception after the body started leaves the connection open")
def test_exception_mid_stream_content_length_cut(ap):
    t = tag()
    s = keepalive_request(ap, "/s/fail-cl?" + t)
    try:
        data, secs, closed = read_until_close(s, limit=4)
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Content-Length: 100000" in head
    assert len(body) < 100000
    assert closed and secs < 2.5, (closed, secs)


@pytest.mark.mod_wsgi_bug("an exception after write() still ends the response cleanly")
def test_exception_after_write_cuts_connection(ap):
    t = tag()
    s = keepalive_request(ap, "/s/fail-write?" + t)
    try:
        data, secs, closed = read_until_close(s, limit=4)
    finally:
        s.close()
    assert b"written-first" in data
    assert closed and secs < 2.5, (closed, secs)
    assert not data.endswith(b"0\r\n\r\n")


def test_keepalive_connection_reused_after_complete_stream(ap):
    s = requests.Session()
    for _ in range(3):
        r = s.get(ap.url("/s/ok?" + tag()), timeout=5)
        assert r.status_code == 200
        assert len(r.content) == 5 * 100 * 13
    s.close()


# ------------------------------------------------------------ disconnects


def _disconnect_midway(ap, t):
    s = socket.create_connection((ap.host, ap.port), timeout=10)
    s.sendall(("GET /s/slow?%s HTTP/1.1\r\nHost: x\r\n\r\n" % t).encode())
    got = b""
    while len(got) < 20000:
        b = s.recv(65536)
        if not b:
            break
        got += b
    # abortive close so the server's next writes fail quickly
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()
    return got


def _wait_closed(ap, t, timeout=6.0):
    deadline = time.time() + timeout
    rx = re.compile(r"closed-%s-(\d+)$" % t)
    while time.time() < deadline:
        for n in os.listdir(ap.var_dir):
            m = rx.match(n)
            if m:
                return int(m.group(1))
        time.sleep(0.05)
    return None


def test_client_disconnect_stops_iteration_and_calls_close(ap):
    t = tag()
    got = _disconnect_midway(ap, t)
    assert b"chunk-000000" in got
    sent = _wait_closed(ap, t)
    assert sent is not None, "close() not called after client disconnect"
    assert sent < 400, "iteration did not stop after the client went away"


def test_client_disconnect_not_logged_as_error(ap):
    t = tag()
    mark = ap.log_size()
    _disconnect_midway(ap, t)
    assert _wait_closed(ap, t) is not None
    # the request is over, and so is every error-log line it writes
    assert ap.wait_access_log(r"GET /s/slow\?%s " % t), ap.access_log()[-1000:]
    log = ap.log_since(mark)
    errors = [ln for ln in log.splitlines() if re.search(r"\[[a-z_]+:(error|crit|alert|emerg)\]", ln)]
    assert not errors, "\n".join(errors)
