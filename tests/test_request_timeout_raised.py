"""An application that raises mod_wsgi.RequestTimeout itself before its
response starts gets 504 and one info line (WSGI-RS-I441), not a 500
with a traceback, in both modes, as mod_wsgi 6 answers (issue 14,
upstream suite's `response` file)."""

import pytest
import requests

pytestmark = pytest.mark.mwrs_only("mod_wsgi.RequestTimeout is a 6.x feature")

APP = '''
import mod_wsgi
def application(environ, start_response):
    if environ["PATH_INFO"] == "/after":
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"started"
    raise mod_wsgi.RequestTimeout("raised-by-app-on-purpose")
'''


@pytest.mark.parametrize("conf", [
    "WSGIScriptAlias /t @APPS@/t.wsgi\n",
    "WSGIDaemonProcess rt processes=1 threads=2\n"
    "WSGIScriptAlias /t @APPS@/t.wsgi process-group=rt application-group=%{GLOBAL}\n",
], ids=["embedded", "daemon"])
def test_raised_request_timeout_is_a_504_without_traceback(make_apache_fn, conf):
    ap = make_apache_fn(conf, apps={"t.wsgi": APP})
    r = requests.get(ap.url("/t"), timeout=10)
    assert r.status_code == 504
    assert ap.wait_log(r"WSGI-RS-I441\] request \S+ of WSGI script '%s' ended by mod_wsgi.RequestTimeout"
                       % ap.app_path("t.wsgi"))
    assert "raised-by-app-on-purpose" not in ap.error_log()
    # Once the response has started it can only be cut, and is logged.
    r = requests.get(ap.url("/t/after"), timeout=10, stream=True)
    assert r.status_code == 200
    try:
        r.content
    except requests.exceptions.ChunkedEncodingError:
        pass  # the cut response
    assert ap.wait_log(r"RequestTimeout: raised-by-app-on-purpose")
