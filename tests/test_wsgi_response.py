"""start_response and the response (issue 3 §3, §4, §5, §6): validation,
exc_info, write(), Content-Length, repeated headers, HEAD/204/304,
WSGIMapHEADToGET, wsgi.errors / stdout / stderr, wsgi.file_wrapper."""

import gzip
import hashlib
import os
import re
import time

import pytest
import requests


RESP_APP = r"""
import io, os, sys

VAR = '@VAR@'

def _sr_ok(start_response, headers=None):
    start_response('200 OK', headers or [('Content-Type', 'text/plain')])

def application(environ, start_response):
    what = environ['PATH_INFO'].strip('/')
    qs = environ.get('QUERY_STRING', '')

    # ---- status / header validation
    if what == 'status':
        import urllib.parse
        status = urllib.parse.unquote(qs)
        start_response(status, [('Content-Type', 'text/plain')])
        return [b'status-body']
    if what == 'status-bytes':
        start_response(b'200 OK', [('Content-Type', 'text/plain')])
        return [b'status-body']
    if what == 'hdr':
        bad = {
            'crlf-value': [('X-Ok', 'fine'), ('X-Bad', 'v\r\nX-Injected: yes')],
            'lf-value': [('X-Bad', 'v\nX-Injected: yes')],
            'cr-value': [('X-Bad', 'v\rX-Injected: yes')],
            'ctl-value': [('X-Bad', 'v\x00w')],
            'space-name': [('X Injected', 'yes')],
            'colon-name': [('X-Injected:', 'yes')],
            'crlf-name': [('X-Injected\r\nX-Also', 'yes')],
            'empty-name': [('', 'yes')],
            'int-value': [('X-Injected', 5)],
            'bytes-name': [(b'X-Injected', 'yes')],
            'three-tuple': [('X-Injected', 'yes', 'extra')],
            'tuple-list': (('X-Injected', 'yes'),),
            'non-latin1': [('X-Injected', '\u20ac')],
        }[qs]
        start_response('200 OK', [('Content-Type', 'text/plain')] + bad
                       if isinstance(bad, list) else bad)
        return [b'header-body']

    # ---- exc_info / second start_response
    if what == 'second-sr':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        try:
            start_response('404 Not Found', [('Content-Type', 'text/plain')])
        except Exception as e:
            with open(os.path.join(VAR, 'second-sr-' + qs), 'w') as f:
                f.write(type(e).__name__)
            raise
        return [b'replaced']
    if what == 'excinfo-before-body':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('X-First', '1')])
        try:
            raise ValueError('handled')
        except ValueError:
            start_response('503 Service Unavailable', [('Content-Type', 'text/plain')],
                           sys.exc_info())
        return [b'error page']
    if what == 'excinfo-after-body':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        write(b'started')
        try:
            raise ValueError('after-body-%s' % qs)
        except ValueError:
            start_response('500 Oops', [('Content-Type', 'text/plain')], sys.exc_info())
        return [b'never']

    # ---- write()
    if what == 'write':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        write(b'a')
        write(b'bc')
        return [b'd', b'', b'ef']
    if what == 'write-only':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        for i in range(100):
            write(b'%03d\n' % i)
        return []
    if what == 'write-str':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        try:
            write('a str')
        except TypeError:
            return [b'TypeError']
        return [b'accepted str']

    # ---- Content-Length
    if what == 'cl-truncate':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '5')])
        return [b'0123', b'456789', b'more']
    if what == 'cl-bad':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', 'abc')])
        return [b'x']
    if what == 'two-cookies':
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('Set-Cookie', 'a=1; Path=/'), ('Set-Cookie', 'b=2; Path=/'),
                                  ('X-Multi', 'one'), ('X-Multi', 'two')])
        return [b'cookies']
    if what == 'www-auth':
        start_response('401 Unauthorized', [('Content-Type', 'text/plain'),
                                            ('WWW-Authenticate', 'Basic realm="mwrs"')])
        return [b'need auth']
    if what == 'status-body':
        code = qs
        start_response(code + ' X', [('Content-Type', 'text/plain')])
        return [b'this body must not be sent']
    if what == 'method':
        body = environ['REQUEST_METHOD'].encode()
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('X-Method', environ['REQUEST_METHOD'])])
        return [body]
    if what == 'ctype':
        start_response('200 OK', [('Content-Type', 'text/x-mwrs')])
        return [b'compress me ' * 2000]
    if what == 'big':
        n = int(qs)
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return [bytes(range(256)) * (n // 256)]
    if what == 'many':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'%05d' % i for i in range(20000)]
    if what == 'bytearray':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [bytearray(b'from bytearray')]

    # ---- logging
    if what == 'log':
        tag = qs
        environ['wsgi.errors'].write('errors-line-%s\n' % tag)
        environ['wsgi.errors'].write('partial-%s-' % tag)
        environ['wsgi.errors'].write('joined-%s\n' % tag)
        print('stdout-line-%s' % tag)
        print('stderr-line-%s' % tag, file=sys.stderr)
        sys.stderr.write('unflushed-%s' % tag)
        sys.stderr.flush()
        environ['wsgi.errors'].writelines(['wl1-%s\n' % tag, 'wl2-%s\n' % tag])
        _sr_ok(start_response)
        return [b'logged']
    if what == 'errors-attrs':
        e = environ['wsgi.errors']
        body = repr((e.name, e.encoding, e.line_buffering, sys.stdout.name, sys.stderr.name)).encode()
        _sr_ok(start_response)
        return [body]

    # ---- file wrapper
    if what == 'fw-file':
        f = open(os.path.join(VAR, 'data.bin'), 'rb')
        skip = int(qs or 0)
        f.seek(skip)
        fw = environ['wsgi.file_wrapper'](f, 4096)
        assert fw.filelike is f and fw.blksize == 4096
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return fw
    if what == 'fw-file-cl':
        f = open(os.path.join(VAR, 'data.bin'), 'rb')
        start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                                  ('Content-Length', '1000')])
        return environ['wsgi.file_wrapper'](f)
    if what == 'fw-bytesio':
        with open(os.path.join(VAR, 'data.bin'), 'rb') as f:
            data = f.read()
        class Tracked(io.BytesIO):
            def close(self):
                open(os.path.join(VAR, 'bytesio-closed-' + qs), 'w').close()
                io.BytesIO.close(self)
        fw = environ['wsgi.file_wrapper'](Tracked(data), 1000)
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return fw
    if what == 'fw-close':
        f = open(os.path.join(VAR, 'data.bin'), 'rb')
        fw = environ['wsgi.file_wrapper'](f)
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        class Watch:
            def __iter__(self):
                return iter(fw)
            def close(self):
                fw.close()
                open(os.path.join(VAR, 'fw-closed-%s-%s' % (qs, f.closed)), 'w').close()
        return fw if qs.startswith('direct') else Watch()
    if what == 'fw-type':
        fw = environ['wsgi.file_wrapper']
        body = repr((type(fw).__name__, fw.__name__)).encode()
        _sr_ok(start_response)
        return [body]

    # ---- daemon-mode CGI semantics: error override, 200 + Location
    if what == 'err-status':
        start_response(qs.replace('%20', ' '), [('Content-Type', 'text/plain'),
                                                ('X-App-Header', 'from-app')])
        return [b'app-error-body']
    if what == 'loc200':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('Location', qs),
                                  ('X-App-Header', 'from-app')])
        return [b'app-body-beside-location']
    if what == 'loc302':
        start_response('302 Found', [('Content-Type', 'text/plain'), ('Location', qs)])
        return [b'app-redirect-body']
    if what.startswith('target'):
        body = ('target method=%s uri=%s redirect_url=%s cl=%s' % (
            environ['REQUEST_METHOD'], environ['REQUEST_URI'], environ.get('REDIRECT_URL'),
            environ.get('CONTENT_LENGTH'))).encode()
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('Content-Length', str(len(body)))])
        return [body]

    # ---- file wrapper: where the bytes come from
    if what == 'fw-pid':
        _sr_ok(start_response)
        return [str(os.getpid()).encode()]
    if what == 'fw-big':
        # a real file: mod_wsgi sends it from the descriptor (the daemon
        # passes it to the Apache child), never by reading it in Python
        f = open(os.path.join(VAR, 'big.bin'), 'rb')
        f.seek(int(qs or 0))
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](f, 65536)
    if what == 'fw-big-nofileno':
        # the same file behind an object without fileno(): read in blocks
        class Reader:
            def __init__(self, f):
                self.f = f
            def read(self, n=-1):
                return self.f.read(n)
            def close(self):
                self.f.close()
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](Reader(open(os.path.join(VAR, 'big.bin'), 'rb')), 65536)

    _sr_ok(start_response)
    return [b'unknown']
"""

CONF = """
WSGIScriptAlias /r @APPS@/resp.wsgi
WSGIScriptAlias /head-on @APPS@/resp.wsgi
<Location /head-on>
    WSGIMapHEADToGET On
</Location>
WSGIScriptAlias /head-off @APPS@/resp.wsgi
<Location /head-off>
    WSGIMapHEADToGET Off
</Location>
WSGIScriptAlias /sendfile @APPS@/resp.wsgi
<Location /sendfile>
    EnableSendfile On
    WSGIEnableSendfile On
</Location>
AddOutputFilterByType DEFLATE text/x-mwrs
WSGIScriptAlias /override @APPS@/resp.wsgi
<Location /override>
    WSGIErrorOverride On
</Location>
ErrorDocument 404 "mwrs-errdoc-404"
ErrorDocument 503 /errdoc.html
"""

DATA = bytes((i * 7 + 3) % 256 for i in range(300000))
# large enough that reading it in the daemon would show in its I/O counters
BIG = os.urandom(1 << 20) * 8


@pytest.fixture(scope="module")
def ap(make_mode_apache):
    a = make_mode_apache(
        CONF,
        apps={"resp.wsgi": RESP_APP},
        extra_modules=[("filter_module", "mod_filter.so"), ("deflate_module", "mod_deflate.so")],
        start=False,
    )
    a.write_file("var/data.bin", DATA)
    a.write_file("var/big.bin", BIG)
    a.write_file("htdocs/errdoc.html", "mwrs-errdoc-503-page\n")
    a.write_file("htdocs/static.txt", "static-target-body\n")
    return a.start()


def get(ap, path, **kw):
    return requests.get(ap.url(path), timeout=10, **kw)


def raw_get(ap, path, method="GET", extra=""):
    return ap.raw(
        ("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n" % (method, path, extra)).encode()
    )


def split_response(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    return lines[0], lines[1:], body


def dechunk(body):
    out = b""
    complete = False
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            complete = True
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out, complete


# ------------------------------------------------------------- status checks


def test_valid_status_passes_through(ap):
    r = get(ap, "/r/status?299%20Custom%20Reason")
    assert r.status_code == 299
    assert r.reason == "Custom Reason"


@pytest.mark.parametrize("status", ["abc", "20 OK", "2000 OK", "200", "200OK", "x200 OK"])
def test_invalid_status_is_500(ap, status):
    mark = ap.log_size()
    r = get(ap, "/r/status?" + requests.utils.quote(status))
    assert r.status_code == 500, status
    assert "status-body" not in r.text
    assert ap.wait_log(r"(ValueError|TypeError|RuntimeError).*status|status.*(invalid|must)", mark), (
        ap.log_since(mark)
    )


def test_bytes_status_is_500(ap):
    mark = ap.log_size()
    r = get(ap, "/r/status-bytes")
    assert r.status_code == 500
    assert ap.wait_log(r"TypeError", mark), ap.log_since(mark)


@pytest.mark.parametrize(
    "case",
    [
        "crlf-value", "lf-value", "cr-value", "space-name",
        pytest.param("colon-name", marks=pytest.mark.mod_wsgi_bug(
            "daemon mode: a header name ending in ':' reaches the child's CGI header scanner, "
            "which takes the name before the first colon", mode="daemon")),
        "crlf-name", "empty-name", "int-value", "bytes-name", "three-tuple", "tuple-list",
        "non-latin1",
    ],
)
def test_bad_headers_are_500_and_not_on_wire(ap, case):
    mark = ap.log_size()
    data = raw_get(ap, "/r/hdr?" + case)
    status, headers, body = split_response(data)
    assert " 500 " in status, (case, status)
    low = data.lower()
    assert b"x-injected" not in low, (case, data[:500])
    assert b"x-bad" not in low
    assert b"header-body" not in data
    assert ap.wait_log(r"(ValueError|TypeError|invalid)", mark), ap.log_since(mark)


@pytest.mark.mod_wsgi_bug("control characters (NUL) in header values are passed to the client")
def test_control_char_in_header_value_is_500(ap):
    mark = ap.log_size()
    data = raw_get(ap, "/r/hdr?ctl-value")
    status, headers, body = split_response(data)
    assert " 500 " in status, status
    assert b"x-bad" not in data.lower()
    assert ap.wait_log(r"(ValueError|TypeError|invalid)", mark), ap.log_since(mark)


# ---------------------------------------------------------------- exc_info


@pytest.mark.mod_wsgi_bug("a second start_response without exc_info silently replaces the status")
def test_second_start_response_without_exc_info_raises(ap):
    tag = str(time.monotonic_ns())
    r = get(ap, "/r/second-sr?" + tag)
    assert r.status_code == 500
    assert "replaced" not in r.text
    p = ap.var_path("second-sr-" + tag)
    deadline = time.time() + 3
    while not os.path.exists(p) and time.time() < deadline:
        time.sleep(0.05)
    with open(p) as f:
        assert f.read() == "RuntimeError"


def test_exc_info_before_body_replaces_status(ap):
    r = get(ap, "/r/excinfo-before-body")
    assert r.status_code == 503
    assert r.text == "error page"
    assert "X-First" not in r.headers


def test_exc_info_after_body_reraises(ap):
    mark = ap.log_size()
    tag = str(time.monotonic_ns())
    data = raw_get(ap, "/r/excinfo-after-body?" + tag)
    status, headers, body = split_response(data)
    assert status.startswith("HTTP/1.1 200")
    assert b"never" not in body
    assert ap.wait_log(r"ValueError: after-body-" + tag, mark), ap.log_since(mark)


# ------------------------------------------------------------------- write()


def test_write_callable(ap):
    assert get(ap, "/r/write").content == b"abcdef"
    assert get(ap, "/r/write-only").content == b"".join(b"%03d\n" % i for i in range(100))


def test_write_rejects_str(ap):
    assert get(ap, "/r/write-str").content == b"TypeError"


# ------------------------------------------------------------ Content-Length


def test_content_length_enforced_truncates(ap):
    # two pipelined requests on one connection: the second response must parse,
    # i.e. no extra bytes after the declared 5
    req = b"GET /r/cl-truncate HTTP/1.1\r\nHost: x\r\n\r\nGET /r/write HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data = ap.raw(req)
    first, _, rest = data.partition(b"\r\n\r\n")
    assert b"Content-Length: 5" in first
    assert rest[:5] == b"01234"
    assert rest[5:].startswith(b"HTTP/1.1 200"), rest[:100]
    assert data.endswith(b"abcdef") or b"abcdef" in dechunk(rest[5:].partition(b"\r\n\r\n")[2])[0]


def test_content_length_requests(ap):
    r = get(ap, "/r/cl-truncate")
    assert r.content == b"01234"


def test_content_length_invalid_is_500(ap):
    mark = ap.log_size()
    assert get(ap, "/r/cl-bad").status_code == 500
    assert ap.wait_log(r"ValueError|Content-Length", mark), ap.log_since(mark)


def test_repeated_headers_kept(ap):
    data = raw_get(ap, "/r/two-cookies")
    status, headers, body = split_response(data)
    cookies = [h for h in headers if h.lower().startswith("set-cookie:")]
    assert cookies == ["Set-Cookie: a=1; Path=/", "Set-Cookie: b=2; Path=/"]
    multi = [h.split(":", 1)[1].strip() for h in headers if h.lower().startswith("x-multi:")]
    if ap.mode == "daemon":
        # by design, as in mod_wsgi: the child reads the daemon's headers as
        # httpd reads a CGI script's, merging repeats (Set-Cookie excepted);
        # the same meaning in HTTP
        assert multi == ["one, two"]
    else:
        assert multi == ["one", "two"]


def test_www_authenticate_on_401(ap):
    r = get(ap, "/r/www-auth")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="mwrs"'
    assert r.text == "need auth"


def test_content_type_goes_through_apache(ap):
    # AddOutputFilterByType only fires when Content-Type is set through Apache
    r = get(ap, "/r/ctype", headers={"Accept-Encoding": "gzip"}, stream=True)
    raw = r.raw.read(decode_content=False)
    assert r.headers.get("Content-Encoding") == "gzip", r.headers
    assert gzip.decompress(raw) == b"compress me " * 2000


# ------------------------------------------------------- HEAD, 204, 304


def test_head_has_no_body(ap):
    data = raw_get(ap, "/r/method", method="HEAD")
    status, headers, body = split_response(data)
    assert status.startswith("HTTP/1.1 200")
    assert body == b""


@pytest.mark.parametrize("code", ["204", "304"])
def test_no_body_statuses(ap, code):
    data = raw_get(ap, "/r/status-body?" + code)
    status, headers, body = split_response(data)
    assert status.startswith("HTTP/1.1 " + code)
    assert body == b""
    assert not [h for h in headers if h.lower().startswith("transfer-encoding")]


@pytest.mark.mod_wsgi_bug("an unset WSGIMapHEADToGET behaves as Off, not the documented Auto")
def test_map_head_to_get_auto_default(ap):
    # AddOutputFilterByType puts mod_filter's harness first in the output
    # chain, so the documented default (Auto) presents HEAD as GET to let
    # the filter see the whole body; the body still does not reach the client.
    r = requests.head(ap.url("/r/method"), timeout=10)
    assert r.headers["X-Method"] == "GET"
    assert r.content == b""


def test_map_head_to_get_auto_without_content_filters(make_apache_fn, mode):
    # No filter below the protocol level: Auto leaves HEAD alone.
    a = make_apache_fn(
        "WSGIScriptAlias /r @APPS@/resp.wsgi\nWSGIMapHEADToGET Auto\n",
        apps={"resp.wsgi": RESP_APP},
        mode=mode,
    )
    r = requests.head(a.url("/r/method"), timeout=10)
    assert r.headers["X-Method"] == "HEAD"


def test_map_head_to_get_on(ap):
    r = requests.head(ap.url("/head-on/method"), timeout=10)
    assert r.headers["X-Method"] == "GET"
    assert r.content == b""


def test_map_head_to_get_off(ap):
    r = requests.head(ap.url("/head-off/method"), timeout=10)
    assert r.headers["X-Method"] == "HEAD"


# ----------------------------------------------------------- big responses


def test_large_single_bytes(ap):
    n = 10 * 1024 * 1024
    r = get(ap, "/r/big?%d" % n)
    assert len(r.content) == n
    assert hashlib.sha256(r.content).hexdigest() == hashlib.sha256(bytes(range(256)) * (n // 256)).hexdigest()


def test_many_small_items(ap):
    r = get(ap, "/r/many")
    assert r.content == b"".join(b"%05d" % i for i in range(20000))


def test_bytearray_item(ap):
    # PEP 3333 says bytes, and mod_wsgi 4.9.4 accepts only bytes objects:
    # a clean 500 naming the type, never garbage.
    mark = ap.log_size()
    r = get(ap, "/r/bytearray")
    assert r.status_code == 500
    assert b"from bytearray" not in r.content
    assert ap.wait_log(r"TypeError.*bytearray", mark), ap.log_since(mark)


# ----------------------------------------------------------------- logging


def test_wsgi_errors_and_std_streams_go_to_error_log(ap):
    tag = str(time.monotonic_ns())
    mark = ap.log_size()
    assert get(ap, "/r/log?" + tag).content == b"logged"
    for pat in [
        "errors-line-" + tag,
        "partial-%s-joined-%s" % (tag, tag),
        "stdout-line-" + tag,
        "stderr-line-" + tag,
        "unflushed-" + tag,
        "wl1-" + tag,
        "wl2-" + tag,
    ]:
        # each message ends its own log line
        assert ap.wait_log(r"(?m)" + re.escape(pat) + r"\s*$", mark, timeout=3), (pat, ap.log_since(mark))
    log = ap.log_since(mark)
    # each message is one line of its own, tagged with the client during a
    # request (mod_wsgi's daemon says [remote ...]: its request has no client
    # connection of its own)
    line = [ln for ln in log.splitlines() if "errors-line-" + tag in ln][0]
    assert re.search(r"\[(client|remote) 127\.0\.0\.1:\d+\]", line), line
    joined = [ln for ln in log.splitlines() if "partial-" + tag in ln]
    assert len(joined) == 1 and joined[0].rstrip().endswith("joined-" + tag)


def test_wsgi_errors_attributes(ap):
    t = get(ap, "/r/errors-attrs").text
    assert t == "('<wsgi.errors>', 'utf-8', True, '<stdout>', '<stderr>')"


# ------------------------------------------------------------- file wrapper


def test_file_wrapper_type(ap):
    assert get(ap, "/r/fw-type").text == "('type', 'FileWrapper')"


@pytest.mark.parametrize("prefix", ["/r", "/sendfile"])
def test_file_wrapper_real_file(ap, prefix):
    r = get(ap, prefix + "/fw-file")
    assert r.status_code == 200
    assert r.content == DATA
    assert r.headers["Content-Length"] == str(len(DATA))


def test_file_wrapper_content_length_from_tell(ap):
    r = get(ap, "/r/fw-file?1000")
    assert r.headers["Content-Length"] == str(len(DATA) - 1000)
    assert r.content == DATA[1000:]


def test_file_wrapper_app_content_length_limits(ap):
    r = get(ap, "/r/fw-file-cl")
    assert r.headers["Content-Length"] == "1000"
    assert r.content == DATA[:1000]


def test_file_wrapper_bytesio_fallback(ap):
    tag = str(time.monotonic_ns())
    r = get(ap, "/r/fw-bytesio?" + tag)
    assert r.status_code == 200
    assert r.content == DATA
    deadline = time.time() + 3
    p = ap.var_path("bytesio-closed-" + tag)
    while not os.path.exists(p) and time.time() < deadline:
        time.sleep(0.05)
    assert os.path.exists(p), "FileWrapper.close() did not close the file-like"


def test_file_wrapper_close_closes_file(ap):
    tag = str(time.monotonic_ns())
    r = get(ap, "/r/fw-close?" + tag)
    assert r.content == DATA
    deadline = time.time() + 3
    p = ap.var_path("fw-closed-%s-True" % tag)
    while not os.path.exists(p) and time.time() < deadline:
        time.sleep(0.05)
    assert os.path.exists(p), os.listdir(ap.var_dir)


def io_bytes(pid):
    """Bytes the process has moved through read(2)/write(2) and friends so far."""
    with open("/proc/%d/io" % pid) as f:
        counters = dict(ln.split(": ") for ln in f.read().splitlines())
    return int(counters["rchar"]) + int(counters["wchar"])


@pytest.mark.daemon_only("in embedded mode the Apache child that runs the app sends the file itself")
@pytest.mark.mwrs_only("issue 5: mod_wsgi 4.9.4's daemon copies the file's bytes through its socket")
@pytest.mark.parametrize("prefix,skip", [("/r", 0), ("/r", 3000000), ("/sendfile", 0)])
def test_file_wrapper_descriptor_passed_to_apache_child(ap, prefix, skip):
    # The daemon hands the open file to the Apache child (SCM_RIGHTS), which
    # sends it: the bytes are right, Content-Length is size - tell(), and the
    # daemon process itself neither reads nor writes the file's bytes.
    pid = int(get(ap, "/r/fw-pid").text)  # processes=1: the group's only process
    before = io_bytes(pid)
    r = get(ap, "%s/fw-big?%d" % (prefix, skip))
    moved = io_bytes(pid) - before
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(len(BIG) - skip)
    assert hashlib.sha256(r.content).hexdigest() == hashlib.sha256(BIG[skip:]).hexdigest()
    assert moved < len(BIG) // 8, "the daemon moved %d bytes itself" % moved


@pytest.mark.daemon_only("in embedded mode there is no daemon process whose I/O could be counted")
def test_file_wrapper_without_fileno_goes_through_the_daemon(ap):
    # The counters the test above relies on do see the bytes when the daemon
    # reads the file in Python and writes the blocks to the Apache child.
    pid = int(get(ap, "/r/fw-pid").text)
    before = io_bytes(pid)
    r = get(ap, "/r/fw-big-nofileno")
    moved = io_bytes(pid) - before
    assert r.status_code == 200
    assert hashlib.sha256(r.content).hexdigest() == hashlib.sha256(BIG).hexdigest()
    assert moved >= 2 * len(BIG)


# ---------------------------------------------------------- WSGIErrorOverride


@pytest.mark.daemon_only("WSGIErrorOverride applies to daemon-mode responses only (as in mod_wsgi)")
@pytest.mark.parametrize(
    "status,body",
    [
        ("404 Not Found", b"mwrs-errdoc-404"),  # ErrorDocument 404 "text"
        ("503 Busy", b"mwrs-errdoc-503-page\n"),  # ErrorDocument 503 /local-url
    ],
)
def test_error_override_uses_apache_error_document(ap, status, body):
    r = get(ap, "/override/err-status?" + status.replace(" ", "%20"))
    assert r.status_code == int(status[:3])
    assert r.content == body
    assert "X-App-Header" not in r.headers


@pytest.mark.daemon_only("WSGIErrorOverride applies to daemon-mode responses only (as in mod_wsgi)")
def test_error_override_500_gets_apache_page(ap):
    r = get(ap, "/override/err-status?500%20Oops")
    assert r.status_code == 500
    assert b"app-error-body" not in r.content
    assert b"Internal Server Error" in r.content  # Apache's own 500 page


def test_error_override_leaves_success_alone(ap):
    r = get(ap, "/override/err-status?200%20OK")
    assert (r.status_code, r.content) == (200, b"app-error-body")
    assert r.headers["X-App-Header"] == "from-app"


def test_error_status_without_override_keeps_app_body(ap):
    r = get(ap, "/r/err-status?404%20Not%20Found")
    assert (r.status_code, r.content) == (404, b"app-error-body")
    assert r.headers["X-App-Header"] == "from-app"


@pytest.mark.embedded_only("WSGIErrorOverride has no effect in embedded mode (as in mod_wsgi)")
def test_error_override_ignored_in_embedded_mode(ap):
    r = get(ap, "/override/err-status?404%20Not%20Found")
    assert (r.status_code, r.content) == (404, b"app-error-body")
    assert r.headers["X-App-Header"] == "from-app"


# ------------------------------------------------- 200 + Location: /local


@pytest.mark.daemon_only("the CGI rule (200 + a local Location is an internal redirect) is daemon mode's")
def test_200_local_location_is_internal_redirect(ap):
    r = get(ap, "/r/loc200?/static.txt", allow_redirects=False)
    assert r.status_code == 200
    assert r.content == b"static-target-body\n"
    assert "Location" not in r.headers
    assert "X-App-Header" not in r.headers


@pytest.mark.daemon_only("the CGI rule (200 + a local Location is an internal redirect) is daemon mode's")
def test_internal_redirect_turns_post_into_get_without_body(ap):
    r = requests.post(ap.url("/r/loc200?/r/target?a=1"), data=b"x" * 1000, timeout=10,
                      allow_redirects=False)
    assert r.status_code == 200
    assert r.content == b"target method=GET uri=/r/loc200?/r/target?a=1 redirect_url=/r/loc200 cl=None"


@pytest.mark.embedded_only("embedded mode passes a 200 with Location through as the app sent it (as mod_wsgi)")
def test_200_local_location_passes_through_in_embedded_mode(ap):
    r = get(ap, "/r/loc200?/static.txt", allow_redirects=False)
    assert (r.status_code, r.content) == (200, b"app-body-beside-location")
    assert r.headers["Location"] == "/static.txt"


@pytest.mark.parametrize("location", ["http://example.com/", "relative"])
def test_200_non_local_location_passes_through(ap, location):
    r = get(ap, "/r/loc200?" + location, allow_redirects=False)
    assert (r.status_code, r.content) == (200, b"app-body-beside-location")
    assert r.headers["Location"] == location


def test_302_location_is_sent_to_the_client(ap):
    r = get(ap, "/r/loc302?/static.txt", allow_redirects=False)
    assert (r.status_code, r.content) == (302, b"app-redirect-body")
    assert r.headers["Location"] == "/static.txt"
