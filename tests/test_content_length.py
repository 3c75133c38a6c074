"""One Content-Length per response (issue 13, deliverable 6), in both
modes: the value that limits the body is the one the client sees;
differing repeated values, negative or overflowing values are a 500
(WSGI-RS-E111) before anything is sent, so a keep-alive connection never
goes out of step."""

import pytest
import requests

pytestmark = pytest.mark.mwrs_only("Content-Length checks of issue 13")

APP = r"""
from urllib.parse import parse_qs
def application(environ, start_response):
    values = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)["cl"]
    start_response("200 OK", [("Content-Type", "text/plain")] +
                   [("Content-Length", v) for v in values])
    return [b"0123456789"]
"""

PIPELINE = (
    b"GET /cl?cl=%s HTTP/1.1\r\nHost: x\r\n\r\n"
    b"GET /cl?cl=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
)


@pytest.fixture(scope="module")
def ap(make_mode_apache):
    return make_mode_apache("WSGIScriptAlias /cl @APPS@/cl.wsgi\n", apps={"cl.wsgi": APP})


def responses(data):
    """Splits two pipelined responses (each with a Content-Length)."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        cl = [int(l.split(b":", 1)[1]) for l in lines if l.lower().startswith(b"content-length:")]
        assert len(cl) == 1, head
        out.append((lines[0], cl[0], rest[: cl[0]]))
        data = rest[cl[0]:]
    return out


def test_repeated_equal_values_send_one_header_and_that_many_bytes(ap):
    first, second = responses(ap.raw(PIPELINE % b"5&cl=5"))
    assert first == (b"HTTP/1.1 200 OK", 5, b"01234")
    assert second == (b"HTTP/1.1 200 OK", 3, b"012")


@pytest.mark.parametrize("values", [
    "5&cl=7",                 # differing repeated values
    "7&cl=5",
    "-1",                     # negative
    "9223372036854775808",    # 2**63: above Apache's signed length
    "18446744073709551616",   # 2**64
    "%2B5",                   # "+5": not a plain decimal
    "",
])
def test_invalid_values_are_a_500_before_anything_is_sent(ap, values):
    mark = ap.log_size()
    r = requests.get(ap.url("/cl?cl=" + values), timeout=10)
    assert r.status_code == 500
    assert b"0123456789"[:5] not in r.content
    assert ap.wait_log(r"WSGI-RS-E111\] start_response\(\) refused: (invalid|differing) Content-Length", mark), \
        ap.log_since(mark)
    # the connection stays in step: the 500 is whole (one Content-Length,
    # no byte of the app's body), then Apache closes it or answers the
    # next pipelined request correctly
    if values:
        got = responses(ap.raw(PIPELINE % values.encode()))
        assert got[0][0].endswith(b"500 Internal Server Error") and b"01234" not in got[0][2]
        assert got[1:] in ([], [(b"HTTP/1.1 200 OK", 3, b"012")]), got
