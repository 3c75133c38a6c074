"""A small Flask application: JSON in and out, and an HTML form.

Served by `bash examples/serve flask` through app.wsgi.  Uses Debian's
python3-flask (2.2); nothing here is specific to mod_wsgi_rs.

Routes:
  GET  /               plain-text greeting
  GET  /api/info       JSON describing the request (method, path, query, mount point)
  POST /api/echo       echoes a JSON body back as {"received": ...}; 400 if it is not JSON
  GET  /form           an HTML form
  POST /form           greets the submitted name (HTML), 400 when it is empty
"""

import html
import os
import sys

from flask import Flask, abort, jsonify, request

app = Flask(__name__)


@app.get("/")
def index():
    return "Hello from Flask!\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


@app.get("/api/info")
def info():
    return jsonify(
        method=request.method,
        path=request.path,
        script_root=request.script_root,
        args=request.args.to_dict(flat=False),
        remote_addr=request.remote_addr,
        pid=os.getpid(),
        python=sys.version.split()[0],
        server=request.environ.get("SERVER_SOFTWARE", ""),
    )


@app.post("/api/echo")
def echo():
    data = request.get_json(silent=True)
    if data is None:
        return jsonify(error="expected a JSON body (Content-Type: application/json)"), 400
    return jsonify(received=data)


FORM = """<!doctype html>
<title>Flask form</title>
<form method="post" action="{action}">
  <label>Your name <input name="name"></label>
  <button type="submit">Send</button>
</form>
"""


@app.route("/form", methods=["GET", "POST"])
def form():
    if request.method == "GET":
        return FORM.format(action=html.escape(request.script_root + "/form"))
    name = request.form.get("name", "").strip()
    if not name:
        abort(400, "the form field 'name' is required")
    return f"<!doctype html>\n<p>Hello, {html.escape(name)}!</p>\n"
