"""WSGI app used by every contender in the benchmark (one file, routes by PATH_INFO).

Identical for mod_wsgi_rs, mod_wsgi 4.9.4, Granian and Gunicorn.  Flask and
Django are imported at load time so that no contender pays the import inside a
measured run.

Routes:
    /hello    13-byte body with Content-Length
    /100k     102,400-byte module-level constant
    /upload   reads CONTENT_LENGTH bytes from wsgi.input, returns the count
    /file10m  10 MiB file (tmpfs) through wsgi.file_wrapper (64 KiB blocks)
    /chunks   1,000 yielded 1 KiB chunks, no Content-Length
    /flask    Flask JSON view
    /django   Django template view
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else "/dev/shm/mwrs-bench/apps"
if HERE not in sys.path:
    sys.path.insert(0, HERE)
DATA = os.environ.get("MWRS_BENCH_DATA", "/dev/shm/mwrs-bench/data")
FILE10M = os.path.join(DATA, "10m.bin")

HELLO = b"Hello, world!"
BODY_100K = b"x" * 102400
CHUNK_1K = b"y" * 1024


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [HELLO]


def body_100k(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", "102400")])
    return [BODY_100K]


def upload(environ, start_response):
    n = int(environ.get("CONTENT_LENGTH") or 0)
    data = environ["wsgi.input"].read(n)
    out = str(len(data)).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
    return [out]


def _read_blocks(f, size):
    try:
        while True:
            b = f.read(size)
            if not b:
                break
            yield b
    finally:
        f.close()


def file10m(environ, start_response):
    f = open(FILE10M, "rb")
    size = os.fstat(f.fileno()).st_size
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        return wrapper(f, 65536)
    return _read_blocks(f, 65536)


def chunks(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    for _ in range(1000):
        yield CHUNK_1K


from flask_app import app as _flask_app  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_settings")
from django.core.wsgi import get_wsgi_application  # noqa: E402

_django_app = get_wsgi_application()

ROUTES = {
    "/hello": hello,
    "/100k": body_100k,
    "/upload": upload,
    "/file10m": file10m,
    "/chunks": chunks,
    "/flask": _flask_app,
    "/django": _django_app,
}


def _not_found(environ, start_response):
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"not found"]


def application(environ, start_response):
    return ROUTES.get(environ.get("PATH_INFO", ""), _not_found)(environ, start_response)
