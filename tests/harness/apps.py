"""WSGI application sources shared by several test modules."""

HELLO = """
def application(environ, start_response):
    body = b'Hello World!\\n'
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
"""

# Dumps the environ as JSON: {key: {"type": type name, "value": str/int/bool/None or repr}}
# plus module-level facts under "__module__".
ENV = """
import json, sys

def _v(v):
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return repr(v)

def application(environ, start_response):
    out = {k: {'type': type(v).__name__, 'value': _v(v)} for k, v in environ.items()}
    out['__module__'] = {'type': 'dict', 'value': {
        '__file__': globals().get('__file__'),
        '__name__': __name__,
        'argv': list(getattr(sys, 'argv', [])),
    }}
    body = json.dumps(out, sort_keys=True).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]
"""

# Echoes QUERY_STRING (used for concurrency correctness checks).
ECHO_QS = """
def application(environ, start_response):
    body = ('qs=' + environ.get('QUERY_STRING', '')).encode('latin-1')
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
"""
