"""App for bench/profile.sh: /hello, /upload, /big (100 KB) and /chunks (1,000 x 1 KiB yields), the
same functions as app.py's,
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


CHUNK = b"c" * 1024


def chunks(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    for _ in range(1000):
        yield CHUNK


ROUTES = {"/hello": hello, "/upload": upload, "/big": big, "/chunks": chunks}


def application(environ, start_response):
    return ROUTES[environ.get("PATH_INFO", "")](environ, start_response)
