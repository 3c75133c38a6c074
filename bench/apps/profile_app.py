"""App for bench/profile.sh: /hello, /upload and /big (100 KB), the same functions as app.py's,
without Flask and Django (which would only slow valgrind's start-up)."""

HELLO = b"Hello, world!"
BIG = b"x" * 102400


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [HELLO]


def upload(environ, start_response):
    n = int(environ.get("CONTENT_LENGTH") or 0)
    data = environ["wsgi.input"].read(n)
    out = str(len(data)).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
    return [out]


def big(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BIG)))])
    return [BIG]


ROUTES = {"/hello": hello, "/upload": upload, "/big": big}


def application(environ, start_response):
    return ROUTES[environ.get("PATH_INFO", "")](environ, start_response)
