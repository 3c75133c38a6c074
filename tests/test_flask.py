"""A real Flask app (Debian's python3-flask) served through the module: JSON,
form POST, multipart upload, cookies + session, redirect, streaming, 404 --
and the same answers as under mod_wsgi 4.9.4, in embedded and in daemon mode."""

import hashlib
import os

import pytest
import requests

from harness.apache import MOD_WSGI_REF, default_module, rs_module_path

FLASK_APP = r'''
import hashlib
from flask import Flask, jsonify, request, session, redirect, url_for, Response, abort

app = Flask(__name__)
app.secret_key = b'mwrs-test-secret'

@app.route('/json', methods=['GET', 'POST'])
def json_view():
    if request.method == 'POST':
        data = request.get_json()
        return jsonify(received=data, script_root=request.script_root, path=request.path)
    return jsonify(hello='world', n=[1, 2, 3], args=request.args.to_dict())

@app.route('/form', methods=['POST'])
def form():
    return 'name=%s;tags=%s' % (request.form['name'], ','.join(request.form.getlist('tag')))

@app.route('/upload', methods=['POST'])
def upload():
    f = request.files['file']
    data = f.read()
    return jsonify(filename=f.filename, size=len(data), sha=hashlib.sha256(data).hexdigest(),
                   field=request.form.get('field'))

@app.route('/session/set/<value>')
def session_set(value):
    session['value'] = value
    resp = Response('set')
    resp.set_cookie('plain', 'cookie-' + value)
    return resp

@app.route('/session/get')
def session_get():
    return jsonify(value=session.get('value'), plain=request.cookies.get('plain'))

@app.route('/redirect')
def redir():
    return redirect(url_for('json_view', via='redirect'))

@app.route('/stream')
def stream():
    def gen():
        for i in range(50):
            yield 'line %d\n' % i
    return Response(gen(), mimetype='text/plain')

@app.route('/abort')
def aborted():
    abort(403)
'''

WSGI = """
import sys
sys.path.insert(0, '@APPS@')
from flaskapp import app as application
"""

CONF = "WSGIScriptAlias /flask @APPS@/flask.wsgi\n"


def make(make_apache, module):
    return make_apache(
        CONF, apps={"flaskapp.py": FLASK_APP, "flask.wsgi": WSGI}, module=module, name="flask-" + module
    )


@pytest.fixture(scope="module")
def ap(make_mode_apache):
    return make(make_mode_apache, default_module())


UPLOAD = os.urandom(300000)


def scenario(ap):
    """Run every request; returns a list of comparable (name, status, body, headers)."""
    s = requests.Session()
    u = ap.url
    out = []

    def rec(name, r, headers=()):
        out.append((name, r.status_code, r.content, tuple(r.headers.get(h) for h in headers)))
        return r

    rec("json-get", s.get(u("/flask/json?a=1"), timeout=10), ("Content-Type",))
    rec("json-post", s.post(u("/flask/json"), json={"k": [1, "two", None]}, timeout=10), ("Content-Type",))
    rec("form", s.post(u("/flask/form"), data={"name": "Zo\u00eb", "tag": ["a", "b"]}, timeout=10))
    rec(
        "upload",
        s.post(
            u("/flask/upload"),
            files={"file": ("blob.bin", UPLOAD, "application/octet-stream")},
            data={"field": "value"},
            timeout=30,
        ),
    )
    rec("session-set", s.get(u("/flask/session/set/abc"), timeout=10))
    rec("session-get", s.get(u("/flask/session/get"), timeout=10))
    rec("redirect", s.get(u("/flask/redirect"), allow_redirects=False, timeout=10), ("Location",))
    rec("redirect-follow", s.get(u("/flask/redirect"), timeout=10))
    rec("stream", s.get(u("/flask/stream"), timeout=10), ("Content-Type", "Transfer-Encoding"))
    rec("404", s.get(u("/flask/missing"), timeout=10))
    rec("403", s.get(u("/flask/abort"), timeout=10))
    rec("head", s.head(u("/flask/json"), timeout=10), ("Content-Type", "Content-Length"))
    s.close()
    return out


def test_flask_behaviour(ap):
    res = {name: (st, body, h) for name, st, body, h in scenario(ap)}
    assert res["json-get"][0] == 200
    assert res["json-get"][2] == ("application/json",)
    import json

    assert json.loads(res["json-get"][1]) == {"hello": "world", "n": [1, 2, 3], "args": {"a": "1"}}
    j = json.loads(res["json-post"][1])
    assert j == {"received": {"k": [1, "two", None]}, "script_root": "/flask", "path": "/json"}
    assert res["form"][:2] == (200, "name=Zo\u00eb;tags=a,b".encode("utf-8"))
    up = json.loads(res["upload"][1])
    assert up == {
        "filename": "blob.bin",
        "size": len(UPLOAD),
        "sha": hashlib.sha256(UPLOAD).hexdigest(),
        "field": "value",
    }
    assert res["session-set"][:2] == (200, b"set")
    assert json.loads(res["session-get"][1]) == {"value": "abc", "plain": "cookie-abc"}
    assert res["redirect"][0] == 302
    assert res["redirect"][2][0].endswith("/flask/json?via=redirect")
    assert json.loads(res["redirect-follow"][1])["args"] == {"via": "redirect"}
    assert res["stream"][0] == 200
    assert res["stream"][1] == "".join("line %d\n" % i for i in range(50)).encode()
    assert res["stream"][2][1] == "chunked"
    assert res["404"][0] == 404
    assert res["403"][0] == 403
    assert res["head"][0] == 200 and res["head"][1] == b""


def test_flask_same_as_mod_wsgi(make_mode_apache, ap):
    if ap.module == "mod_wsgi":
        pytest.skip("comparison needs mod_wsgi_rs: suite runs against mod_wsgi (MWRS_TEST_MODULE)")
    if not os.path.exists(MOD_WSGI_REF) or not os.path.exists(rs_module_path()):
        pytest.fail("both modules are needed for the comparison")
    ref = make(make_mode_apache, "mod_wsgi")  # in the same mode as ap
    ours = scenario(ap)
    theirs = scenario(ref)
    assert [x[0] for x in ours] == [x[0] for x in theirs]
    diffs = [(a, b) for a, b in zip(ours, theirs) if a != b]
    assert not diffs, "\n".join("%r\n  vs mod_wsgi %r" % (a[:2] + (a[2][:200], a[3]), b[:2] + (b[2][:200], b[3])) for a, b in diffs)
