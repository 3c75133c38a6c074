"""The cluster example: one Flask app on two Apache hosts behind
mod_proxy_balancer, with its counters, a cross-host lock and its users'
sessions in Redis through mod_wsgi_rs's shared-state API
(`WSGISharedCache cluster redis://...`). Any host can serve any request:
taking one host away loses no count and logs nobody out."""

import json
import secrets

import mod_wsgi_rs
from flask import Flask, abort, jsonify, request, session
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

CACHE = "cluster"  # the WSGISharedCache name in the hosts' configuration

app = Flask(__name__)


class SharedSession(CallbackDict, SessionMixin):
    def __init__(self, initial=None, sid=None):
        def on_update(_):
            self.modified = True

        super().__init__(initial, on_update)
        self.sid = sid
        self.modified = False


class SharedSessions(SessionInterface):
    """Sessions kept in the shared cache under `session:<id>`; the cookie
    holds only the random id, so every host sees the same session."""

    ttl = 3600

    def open_session(self, app, request):
        cache = mod_wsgi_rs.cache(CACHE)
        sid = request.cookies.get(app.config["SESSION_COOKIE_NAME"])
        if sid:
            raw = cache.get("session:" + sid)
            if raw is not None:
                return SharedSession(json.loads(raw), sid)
        return SharedSession(sid=secrets.token_urlsafe(24))

    def save_session(self, app, session, response):
        if not session.modified:
            return
        mod_wsgi_rs.cache(CACHE).set(
            "session:" + session.sid, json.dumps(dict(session)).encode(), ttl=self.ttl)
        response.set_cookie(app.config["SESSION_COOKIE_NAME"], session.sid,
                            httponly=True, samesite="Lax")


app.session_interface = SharedSessions()


def host():
    return request.environ.get("SERVER_ADDR", "?")


@app.route("/")
def index():
    return "Hello from the cluster (host %s)\n" % host()


@app.route("/login")
def login():
    user = request.args.get("user", "")
    if not user.isalnum():
        abort(400)
    session["user"] = user
    return jsonify(user=user, host=host())


@app.route("/count")
def count():
    user = session.get("user")
    if user is None:
        abort(401)
    cache = mod_wsgi_rs.cache(CACHE)
    hits = cache.incr("hits")  # atomic on the Redis server
    # a read-modify-write made safe across hosts by a lock on the server
    with cache.lock("visits-" + user, timeout=10):
        visits = int(cache.get("visits:" + user, b"0")) + 1
        cache.set("visits:" + user, str(visits).encode())
    return jsonify(user=user, hits=hits, visits=visits, host=host())


@app.route("/stats")
def stats():
    cache = mod_wsgi_rs.cache(CACHE)
    return jsonify(hits=int(cache.get("hits", b"0")),
                   visits={k.decode()[7:]: int(cache.get(k)) for k in cache.keys("visits:")})
