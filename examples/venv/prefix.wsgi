# Shows which Python environment the application runs in.  Served at /prefix
# by examples/venv/serve: with WSGIPythonHome pointing at a virtualenv,
# sys.prefix is the virtualenv and sys.base_prefix is /usr.
import sys


def application(environ, start_response):
    body = (
        "sys.prefix=%s\nsys.base_prefix=%s\nsys.executable=%s\n"
        % (sys.prefix, sys.base_prefix, sys.executable)
    ).encode("utf-8")
    start_response("200 OK", [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
    ])
    return [body]
