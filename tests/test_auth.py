"""Python in Apache's auth phases (issue 8): `WSGIAuthUserScript` as the
`wsgi` authn provider for mod_auth_basic and mod_auth_digest (also inside
`<AuthnProviderAlias>`), `WSGIAuthGroupScript` as the `wsgi-group` authz
provider, and `WSGIAccessScript`.  Everything goes through Apache's real
mod_auth_basic, mod_auth_digest, mod_authn_core, mod_authz_user and
mod_authz_core, and runs against both our module and Debian's mod_wsgi 4.9.4
(MWRS_TEST_MODULE=mod_wsgi)."""

import concurrent.futures
import json
import os
import subprocess
import time

import pytest
import requests

from conftest import IS_MOD_WSGI, reference_older_than
from harness.apache import assert_no_crash

AUTH_MODULES = [
    ("auth_basic_module", "mod_auth_basic.so"),
    ("auth_digest_module", "mod_auth_digest.so"),
    ("authn_core_module", "mod_authn_core.so"),
    ("authz_user_module", "mod_authz_user.so"),
]

# The app behind every protected location: reports who Apache says the user is.
WHOAMI = """
import json

def application(environ, start_response):
    out = {
        'app': 'whoami',
        'REMOTE_USER': environ.get('REMOTE_USER'),
        'AUTH_TYPE': environ.get('AUTH_TYPE'),
        'MWRS_SETENV_MARK': environ.get('MWRS_SETENV_MARK'),
        'HTTP_AUTHORIZATION': environ.get('HTTP_AUTHORIZATION'),
        'QUERY_STRING': environ.get('QUERY_STRING'),
    }
    body = json.dumps(out).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]
"""

USERS_SCRIPT = """
import hashlib, json, os

USERS = {
    'alice': 'secret',
    'bob': 'hunter2',
    'carol': 'carol-pw',
    'grpboom': 'gb',
    'bytesuser': 'bu',
    'latin': 'p\\u00e4ssword',
}

def _dump(environ, tag):
    out = {}
    for k, v in environ.items():
        out[k] = {'type': type(v).__name__,
                  'value': v if isinstance(v, str) else repr(v)}
    if 'mod_ssl.is_https' in environ:
        out['__is_https__'] = {'type': 'result', 'value': repr(environ['mod_ssl.is_https']())}
    if 'mod_ssl.var_lookup' in environ:
        out['__var_lookup__'] = {'type': 'result', 'value': repr(environ['mod_ssl.var_lookup']('HTTPS'))}
    path = os.path.join('@VAR@', 'auth-environ-%s.json' % tag)
    with open(path + '.tmp', 'w') as f:
        json.dump(out, f)
    os.rename(path + '.tmp', path)

def check_password(environ, user, password):
    if user == 'boom':
        raise RuntimeError('check-password-exploded-marker')
    if user == 'badtype':
        return 42
    if user == 'rename':
        return 'renamed-user' if password == 'pw' else False
    if user == 'envdump':
        _dump(environ, environ.get('QUERY_STRING') or 'basic')
        environ['wsgi.errors'].write('auth-script-wsgi-errors-marker\\n')
        return True
    if user not in USERS:
        return None
    return USERS[user] == password

def get_realm_hash(environ, user, realm):
    if user == 'boom':
        raise RuntimeError('get-realm-hash-exploded-marker')
    if user == 'envdump':
        _dump(environ, 'digest')
        return hashlib.md5(('envdump:%s:pw' % realm).encode()).hexdigest()
    if user not in USERS:
        return None
    return hashlib.md5(('%s:%s:%s' % (user, realm, USERS[user])).encode('latin-1')).hexdigest()
"""

# Only for <AuthnProviderAlias wsgi other-wsgi>: a different user database.
OTHER_SCRIPT = """
def check_password(environ, user, password):
    if user == 'dave':
        return password == 'other-pw'
    return None
"""

GROUPS_SCRIPT = """
GROUPS = {
    'alice': ['admins', 'staff'],
    'bob': ['staff'],
    'carol': ['ops'],
    'bytesuser': [b'admins'],
}

def groups_for_user(environ, user):
    if user == 'grpboom':
        raise KeyError('groups-for-user-exploded-marker')
    return GROUPS.get(user, [])
"""

ACCESS_SCRIPT = """
def allow_access(environ, host):
    what = environ.get('QUERY_STRING', '')
    if what == 'true':
        return True
    if what == 'false':
        return False
    if what == 'none':
        return None
    if what == 'raise':
        raise ValueError('allow-access-exploded-marker')
    if what == 'other':
        return 'yes please'
    if what == 'host':
        return host == '127.0.0.1' and environ.get('REMOTE_ADDR') == '127.0.0.1'
    return True
"""

# Stands for an auth script whose imports take a while (an ORM, LDAP, ...).
SLOW_IMPORT = """
import time
time.sleep(0.3)
"""

RELOAD_V1 = """
def check_password(environ, user, password):
    return user == 'reloader' and password == 'version-1'
"""

RELOAD_V2 = """
def check_password(environ, user, password):
    return user == 'reloader' and password == 'version-2'
"""

CONF = """
<AuthnProviderAlias wsgi other-wsgi>
    WSGIAuthUserScript @ROOT@/auth/other.py
</AuthnProviderAlias>

WSGIScriptAlias /basic @APPS@/whoami.wsgi
WSGIScriptAlias /digest @APPS@/whoami.wsgi
WSGIScriptAlias /alias @APPS@/whoami.wsgi
WSGIScriptAlias /groups @APPS@/whoami.wsgi
WSGIScriptAlias /access-basic @APPS@/whoami.wsgi
WSGIScriptAlias /access @APPS@/whoami.wsgi
WSGIScriptAlias /reload @APPS@/whoami.wsgi
WSGIScriptAlias /noscript @APPS@/whoami.wsgi
WSGIScriptAlias /cold @APPS@/whoami.wsgi

<Location /basic>
    AuthType Basic
    AuthName "mwrs-basic"
    AuthBasicProvider wsgi
    WSGIAuthUserScript @ROOT@/auth/users.py
    SetEnv MWRS_SETENV_MARK setenv-value
    Require valid-user
</Location>

<Location /digest>
    AuthType Digest
    AuthName "mwrs-digest"
    AuthDigestDomain /digest
    AuthDigestProvider wsgi
    WSGIAuthUserScript @ROOT@/auth/users.py
    Require valid-user
</Location>

<Location /alias>
    AuthType Basic
    AuthName "mwrs-alias"
    AuthBasicProvider other-wsgi
    Require valid-user
</Location>

<Location /groups>
    AuthType Basic
    AuthName "mwrs-groups"
    AuthBasicProvider wsgi
    WSGIAuthUserScript @ROOT@/auth/users.py
    WSGIAuthGroupScript @ROOT@/auth/groups.py
    WSGIGroupAuthoritative Off
    Require wsgi-group admins ops
</Location>

<Location /access>
    WSGIAccessScript @ROOT@/auth/access.py
    Require all granted
</Location>

<Location /access-basic>
    WSGIAccessScript @ROOT@/auth/access.py
    AuthType Basic
    AuthName "mwrs-access-basic"
    AuthBasicProvider wsgi
    WSGIAuthUserScript @ROOT@/auth/users.py
    Require valid-user
</Location>

<Location /reload>
    AuthType Basic
    AuthName "mwrs-reload"
    AuthBasicProvider wsgi
    WSGIAuthUserScript @ROOT@/auth/reload.py
    Require valid-user
</Location>

<Location /cold>
    AuthType Basic
    AuthName "mwrs-cold"
    AuthBasicProvider wsgi
    WSGIAuthUserScript @ROOT@/auth/users_cold.py
    Require valid-user
</Location>

<Location /noscript>
    AuthType Basic
    AuthName "mwrs-noscript"
    AuthBasicProvider wsgi
    Require valid-user
</Location>
"""


@pytest.fixture(scope="module")
def ap(make_apache):
    return make_apache(
        CONF,
        apps={"whoami.wsgi": WHOAMI},
        files={
            "auth/users.py": USERS_SCRIPT,
            "auth/other.py": OTHER_SCRIPT,
            "auth/groups.py": GROUPS_SCRIPT,
            "auth/access.py": ACCESS_SCRIPT,
            "auth/reload.py": RELOAD_V1,
            "auth/users_cold.py": SLOW_IMPORT + USERS_SCRIPT,
        },
        extra_modules=AUTH_MODULES,
        name="auth",
    )


def get(ap, path, auth=None, **kw):
    kw.setdefault("timeout", 10)
    return requests.get(ap.url(path), auth=auth, **kw)


def is_app(resp):
    try:
        return resp.json().get("app") == "whoami"
    except ValueError:
        return False


# --------------------------------------------------------------- Basic auth


def test_basic_right_password(ap):
    r = get(ap, "/basic", ("alice", "secret"))
    assert r.status_code == 200, r.text
    assert r.json()["REMOTE_USER"] == "alice"
    assert r.json()["AUTH_TYPE"] == "Basic"


def test_basic_no_credentials_challenges(ap):
    r = get(ap, "/basic")
    assert r.status_code == 401
    assert r.headers.get("WWW-Authenticate", "").startswith('Basic realm="mwrs-basic"')


def test_basic_wrong_password(ap):
    mark = ap.log_size()
    r = get(ap, "/basic", ("alice", "wrong"))
    assert r.status_code == 401
    assert not is_app(r)
    # mod_auth_basic's own message for AUTH_DENIED
    assert ap.wait_log(r"AH01617: user alice: authentication failure", mark)


def test_basic_unknown_user(ap):
    mark = ap.log_size()
    r = get(ap, "/basic", ("nobody", "secret"))
    assert r.status_code == 401
    assert not is_app(r)
    # AUTH_USER_NOT_FOUND, not AUTH_DENIED
    assert ap.wait_log(r"AH01618: user nobody not found", mark)


@pytest.mark.skipif(reference_older_than("5.0.1"), reason="mod_wsgi 4.9.4 segfaults the Apache child "
                    "on non-UTF-8 Basic credentials (fixed in 5.0.1)")
def test_basic_latin1_credentials(ap):
    # requests encodes str Basic credentials as latin-1; the script gets the
    # user and password decoded as latin-1.
    r = get(ap, "/basic", ("latin", "p\u00e4ssword"))
    assert r.status_code == 200, r.text
    assert r.json()["REMOTE_USER"] == "latin"
    assert get(ap, "/basic", ("latin", "passwort")).status_code == 401


def test_basic_replacement_user_name(ap):
    r = get(ap, "/basic", ("rename", "pw"))
    assert r.status_code == 200, r.text
    assert r.json()["REMOTE_USER"] == "renamed-user"
    assert get(ap, "/basic", ("rename", "nope")).status_code == 401


def test_basic_exception_denies_with_traceback(ap):
    mark = ap.log_size()
    r = get(ap, "/basic", ("boom", "whatever"))
    assert r.status_code == 500
    assert not is_app(r)
    assert ap.wait_log(r"check-password-exploded-marker", mark)
    log = ap.log_since(mark)
    assert "Traceback (most recent call last)" in log
    assert "RuntimeError" in log
    if not IS_MOD_WSGI:
        assert "[WSGI-RS-E502]" in log
    assert_no_crash(ap, mark)
    # the child that ran the failing script still authenticates correctly
    assert get(ap, "/basic", ("alice", "secret")).status_code == 200


def test_basic_bad_return_type_denies(ap):
    mark = ap.log_size()
    r = get(ap, "/basic", ("badtype", "x"))
    assert r.status_code == 500
    assert not is_app(r)
    if not IS_MOD_WSGI:
        assert ap.wait_log(r"\[WSGI-RS-E502\].*check_password", mark)


def test_provider_without_script_is_an_error(ap):
    mark = ap.log_size()
    r = get(ap, "/noscript", ("alice", "secret"))
    assert r.status_code == 500
    assert not is_app(r)
    if not IS_MOD_WSGI:
        assert ap.wait_log(r"\[WSGI-RS-E501\]", mark)


# -------------------------------------------------------------- auth environ


def _read_json(ap, name, timeout=5.0):
    p = ap.var_path(name)
    deadline = time.time() + timeout
    while not os.path.exists(p) and time.time() < deadline:
        time.sleep(0.05)
    with open(p) as f:
        return json.load(f)


def test_auth_environ_contents(ap):
    mark = ap.log_size()
    r = get(ap, "/basic/sub?envbasic", ("envdump", "pw"), headers={"X-Mwrs-Marker": "hdr-value"})
    assert r.status_code == 200, r.text
    # SetEnv is in effect for the application ...
    assert r.json()["MWRS_SETENV_MARK"] == "setenv-value"
    env = _read_json(ap, "auth-environ-envbasic.json")
    # ... but never reaches the auth script; neither does Authorization
    assert "MWRS_SETENV_MARK" not in env
    assert "HTTP_AUTHORIZATION" not in env
    assert not any("AUTHORIZATION" in k for k in env)
    # request headers and CGI variables are there
    assert env["HTTP_X_MWRS_MARKER"]["value"] == "hdr-value"
    assert env["REQUEST_METHOD"]["value"] == "GET"
    assert env["QUERY_STRING"]["value"] == "envbasic"
    assert env["REQUEST_URI"]["value"] == "/basic/sub?envbasic"
    assert env["REMOTE_ADDR"]["value"] == "127.0.0.1"
    assert env["SERVER_PORT"]["value"] == str(ap.port)
    # mod_wsgi keys
    assert env["apache.version"]["type"] == "tuple"
    assert env["mod_wsgi.version"]["type"] == "tuple"
    assert env["mod_wsgi.process_group"]["value"] == ""
    assert env["mod_wsgi.application_group"]["value"] == ""
    assert "wsgi.errors" in env
    assert "apache.request_rec" not in env  # WSGIPassApacheRequest is off
    # what the script writes to wsgi.errors reaches the error log
    assert ap.wait_log(r"auth-script-wsgi-errors-marker", mark)


# The keys (other than HTTP_*) mod_wsgi 4.9.4 gives an auth script (§3.4);
# REMOTE_HOST only appears with HostnameLookups.
MOD_WSGI_AUTH_KEYS = {
    "DOCUMENT_ROOT", "PATH_INFO", "QUERY_STRING", "REMOTE_ADDR", "REMOTE_PORT",
    "REQUEST_METHOD", "REQUEST_URI", "SCRIPT_NAME", "SERVER_ADDR", "SERVER_ADMIN",
    "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "SERVER_SIGNATURE", "SERVER_SOFTWARE",
    "apache.version", "mod_ssl.is_https", "mod_ssl.var_lookup", "mod_wsgi.application_group",
    "mod_wsgi.process_group", "mod_wsgi.script_reloading", "mod_wsgi.version", "wsgi.errors",
}


def test_auth_environ_has_documented_keys(ap):
    """Every key §3.4 lists is there, PATH_INFO even when empty."""
    r = get(ap, "/basic?envkeys", ("envdump", "pw"))
    assert r.status_code == 200
    env = _read_json(ap, "auth-environ-envkeys.json")
    missing = sorted(
        k for k in MOD_WSGI_AUTH_KEYS - {"mod_wsgi.script_reloading"} if k not in env
    )
    assert not missing, missing
    assert env["PATH_INFO"]["value"] == ""
    assert env["SCRIPT_NAME"]["value"] == "/basic"
    # the mod_ssl callables work without mod_ssl: plain HTTP
    assert env["__is_https__"]["value"] in ("False", "0")
    assert env["__var_lookup__"]["value"] in ("None", "''")


def test_auth_environ_has_no_extra_keys(ap):
    """Nothing beyond mod_wsgi's cut-down set: in particular no REMOTE_USER /
    AUTH_TYPE for a user whose password has not been checked yet, and none of
    the application-only keys."""
    r = get(ap, "/basic/extra?envextra", ("envdump", "pw"))
    assert r.status_code == 200
    env = _read_json(ap, "auth-environ-envextra.json")
    extra = sorted(
        k for k in env
        if not k.startswith("HTTP_") and not k.startswith("__")
        and k not in MOD_WSGI_AUTH_KEYS | {"REMOTE_HOST"}
    )
    assert not extra, extra


# ---------------------------------------------------------------- Digest auth


def curl_digest(ap, path, user, password):
    p = subprocess.run(
        ["curl", "-s", "--digest", "-u", "%s:%s" % (user, password),
         "-o", "-", "-w", "\n%{http_code}", ap.url(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=15,
    )
    body, _, code = p.stdout.decode("utf-8", "replace").rpartition("\n")
    return int(code), body


def test_digest_right_password(ap):
    code, body = curl_digest(ap, "/digest", "alice", "secret")
    assert code == 200, body
    out = json.loads(body)
    assert out["REMOTE_USER"] == "alice"
    assert out["AUTH_TYPE"] == "Digest"


def test_digest_challenge(ap):
    r = get(ap, "/digest")
    assert r.status_code == 401
    assert r.headers.get("WWW-Authenticate", "").startswith('Digest realm="mwrs-digest"')


def test_digest_wrong_password(ap):
    code, body = curl_digest(ap, "/digest", "alice", "wrong")
    assert code == 401
    assert '"app": "whoami"' not in body


def test_digest_unknown_user(ap):
    mark = ap.log_size()
    code, body = curl_digest(ap, "/digest", "nobody", "secret")
    assert code == 401
    assert '"app": "whoami"' not in body
    assert ap.wait_log(r"user `nobody' in realm `mwrs-digest' not found", mark)


def test_digest_with_requests_client(ap):
    from requests.auth import HTTPDigestAuth

    r = get(ap, "/digest?x=1", HTTPDigestAuth("bob", "hunter2"))
    assert r.status_code == 200, r.text
    assert r.json()["REMOTE_USER"] == "bob"
    assert get(ap, "/digest", HTTPDigestAuth("bob", "hunter3")).status_code == 401


def test_digest_exception_denies_with_traceback(ap):
    mark = ap.log_size()
    code, body = curl_digest(ap, "/digest", "boom", "x")
    assert code == 500
    assert '"app": "whoami"' not in body
    assert ap.wait_log(r"get-realm-hash-exploded-marker", mark)
    assert "Traceback (most recent call last)" in ap.log_since(mark)
    assert_no_crash(ap, mark)


def test_digest_auth_environ(ap):
    code, body = curl_digest(ap, "/digest?digestenv", "envdump", "pw")
    assert code == 200, body
    env = _read_json(ap, "auth-environ-digest.json")
    assert "HTTP_AUTHORIZATION" not in env
    assert env["QUERY_STRING"]["value"] == "digestenv"
    assert "wsgi.errors" in env


# ------------------------------------------------------- AuthnProviderAlias


def test_provider_alias_uses_its_own_script(ap):
    r = get(ap, "/alias", ("dave", "other-pw"))
    assert r.status_code == 200, r.text
    assert r.json()["REMOTE_USER"] == "dave"
    assert get(ap, "/alias", ("dave", "secret")).status_code == 401
    # users of the main script are unknown here
    assert get(ap, "/alias", ("alice", "secret")).status_code == 401


# -------------------------------------------------------------------- groups


@pytest.mark.parametrize("user,password", [("alice", "secret"), ("carol", "carol-pw"), ("bytesuser", "bu")])
def test_group_member_granted(ap, user, password):
    r = get(ap, "/groups", (user, password))
    assert r.status_code == 200, r.text
    assert r.json()["REMOTE_USER"] == user


def test_group_non_member_denied(ap):
    mark = ap.log_size()
    r = get(ap, "/groups", ("bob", "hunter2"))
    # mod_authz_core turns AUTHZ_DENIED for an authenticated user into 401
    assert r.status_code == 401
    assert not is_app(r)
    assert ap.wait_log(r"AH01631: user bob: authorization failure for \"/groups\"", mark)
    if not IS_MOD_WSGI:
        assert ap.wait_log(r"\[WSGI-RS-E503\].*'bob'", mark)


def test_group_wrong_password_never_reaches_groups(ap):
    assert get(ap, "/groups", ("alice", "bad")).status_code == 401
    # no user at all: AUTHZ_DENIED_NO_USER makes Apache challenge
    r = get(ap, "/groups")
    assert r.status_code == 401
    assert r.headers.get("WWW-Authenticate", "").startswith('Basic realm="mwrs-groups"')


def test_group_exception_denies_with_traceback(ap):
    mark = ap.log_size()
    r = get(ap, "/groups", ("grpboom", "gb"))
    # ours: a server error; mod_wsgi 4.9.4 answers as if no group matched
    assert r.status_code == (401 if IS_MOD_WSGI else 500)
    assert not is_app(r)
    assert ap.wait_log(r"groups-for-user-exploded-marker", mark)
    log = ap.log_since(mark)
    assert "Traceback (most recent call last)" in log
    assert "KeyError" in log
    if not IS_MOD_WSGI:
        assert "[WSGI-RS-E502]" in log


@pytest.mark.mod_wsgi_bug("an exception in groups_for_user() becomes AUTHZ_DENIED (401), "
                          "not AUTHZ_GENERAL_ERROR (500)")
def test_group_exception_is_server_error(ap):
    r = get(ap, "/groups", ("grpboom", "gb"))
    assert r.status_code == 500


# -------------------------------------------------------------- access script


def test_access_true(ap):
    r = get(ap, "/access?true")
    assert r.status_code == 200
    assert is_app(r)


def test_access_false_forbidden(ap):
    mark = ap.log_size()
    r = get(ap, "/access?false")
    assert r.status_code == 403
    assert not is_app(r)
    if not IS_MOD_WSGI:
        assert ap.wait_log(r"\[WSGI-RS-E504\]", mark)
    else:
        assert ap.wait_log(r"[Cc]lient denied by server configuration", mark)


def test_access_none_declines(ap):
    # DECLINED: mod_authz_core's `Require all granted` decides
    r = get(ap, "/access?none")
    assert r.status_code == 200
    assert is_app(r)


def test_access_raise_denies_with_traceback(ap):
    mark = ap.log_size()
    r = get(ap, "/access?raise")
    # ours: a server error; mod_wsgi 4.9.4 answers as if access were denied
    assert r.status_code == (403 if IS_MOD_WSGI else 500)
    assert not is_app(r)
    assert ap.wait_log(r"allow-access-exploded-marker", mark)
    assert "Traceback (most recent call last)" in ap.log_since(mark)
    if not IS_MOD_WSGI:
        assert "[WSGI-RS-E502]" in ap.log_since(mark)


def test_access_other_value_denies(ap):
    mark = ap.log_size()
    r = get(ap, "/access?other")
    # ours: a server error (E502); mod_wsgi 4.9.4 answers as if access were denied
    assert r.status_code == (403 if IS_MOD_WSGI else 500)
    assert not is_app(r)
    if not IS_MOD_WSGI:
        assert ap.wait_log(r"\[WSGI-RS-E502\].*allow_access", mark)
    else:
        assert ap.wait_log(r"must a boolean or None", mark)


@pytest.mark.mod_wsgi_bug("an exception or a non-bool result in allow_access() gives 403, not 500")
@pytest.mark.parametrize("what", ["raise", "other"])
def test_access_script_error_is_server_error(ap, what):
    assert get(ap, "/access?" + what).status_code == 500


def test_access_host_argument(ap):
    r = get(ap, "/access?host")
    assert r.status_code == 200


def test_access_false_wins_over_valid_credentials(ap):
    r = get(ap, "/access-basic?false", ("alice", "secret"))
    assert r.status_code == 403
    assert not is_app(r)


def test_access_true_still_requires_auth(ap):
    # Apache 2.4 (Satisfy All): the access checker allowing does not skip authn
    assert get(ap, "/access-basic?true").status_code == 401
    r = get(ap, "/access-basic?true", ("alice", "secret"))
    assert r.status_code == 200
    assert r.json()["REMOTE_USER"] == "alice"


# -------------------------------------------------------------------- reload


def test_auth_script_reloaded_when_changed(ap):
    url = "/reload"
    assert get(ap, url, ("reloader", "version-1")).status_code == 200
    assert get(ap, url, ("reloader", "version-2")).status_code == 401
    p = ap.write_file("auth/reload.py", RELOAD_V2)
    future = time.time() + 10
    os.utime(p, (future, future))
    # every child (and every thread) must now see version 2
    for _ in range(8):
        assert get(ap, url, ("reloader", "version-2")).status_code == 200
        assert get(ap, url, ("reloader", "version-1")).status_code == 401


# --------------------------------------------------------------- concurrency


CASES = [
    ("alice", "secret", 200, "alice"),
    ("bob", "hunter2", 200, "bob"),
    ("bob", "wrong", 401, None),
    ("nobody", "x", 401, None),
    ("rename", "pw", 200, "renamed-user"),
]


@pytest.mark.parametrize("location", ["/basic", "/cold"])
def test_50_concurrent_auth_requests(ap, location):
    """50 concurrent requests with a mix of credentials.  /cold's script has
    not been loaded yet and takes a moment to import: no request may see a
    half-executed script."""
    mark = ap.log_size()

    def one(i):
        user, pw, status, remote = CASES[i % len(CASES)]
        r = requests.get(ap.url("%s?n=%d" % (location, i)), auth=(user, pw), timeout=20)
        got_user = r.json()["REMOTE_USER"] if r.status_code == 200 else None
        got_qs = r.json()["QUERY_STRING"] if r.status_code == 200 else None
        return i, (r.status_code, got_user, got_qs), (status, remote, "n=%d" % i if status == 200 else None)

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as ex:
        results = list(ex.map(one, range(50)))
    wrong = [(i, got, want) for i, got, want in results if got != want]
    assert not wrong, wrong
    assert_no_crash(ap, mark)


def test_no_crash(ap):
    assert_no_crash(ap)
