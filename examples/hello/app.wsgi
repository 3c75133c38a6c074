# The smallest WSGI application: served by `bash examples/serve hello`.
#
# mod_wsgi_rs loads this file as a module and calls its `application`
# callable (the name can be changed with WSGICallableObject or the
# callable-object= option of WSGIScriptAlias).


def application(environ, start_response):
    body = b"Hello, World!\n"
    start_response("200 OK", [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
    ])
    return [body]
