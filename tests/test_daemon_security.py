"""Daemon mode security and isolation (issue 13): groups are unique and
their sockets cannot collide, a daemon runs only what Apache's
configuration routes to it, privileges and the process environment are
those of the group's user, and the Apache child trusts a daemon no more
than it must. Run as root (as CI does) so user= and the attacker's uid
are real; see docs/security.md for the threat model."""

import glob
import grp
import os
import pwd
import re
import socket
import struct
import subprocess
import sys
import textwrap
import time

import pytest
import requests

from conftest import IS_MOD_WSGI  # noqa: F401

pytestmark = [
    pytest.mark.mwrs_only("daemon-mode isolation guarantees of issue 13"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: user= and other uids must be real"),
]

WHO = '''
import os, pwd
def application(environ, start_response):
    body = "%s %d %s" % (environ.get("mod_wsgi.process_group"), os.getuid(), os.getpid())
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
'''


def lines_of(ap, needle):
    """The (1-based) line numbers of the configuration holding ``needle``."""
    with open(ap.conf_path) as f:
        return [i + 1 for i, line in enumerate(f.read().splitlines()) if needle in line]


# ------------------------------------------------ 1. unique groups and sockets

def test_duplicate_group_in_two_virtual_hosts_fails_configtest(make_apache_fn):
    conf = """
    <VirtualHost *:*>
        ServerName one.example
        WSGIDaemonProcess app user=www-data
        WSGIScriptAlias / @APPS@/who.wsgi process-group=app
    </VirtualHost>
    <VirtualHost *:*>
        ServerName two.example
        WSGIDaemonProcess app user=nobody
        WSGIScriptAlias / @APPS@/who.wsgi process-group=app
    </VirtualHost>
    """
    ap = make_apache_fn(conf, start=False, apps={"who.wsgi": WHO})
    rc, out = ap.configtest()
    assert rc != 0, out
    assert "WSGI-RS-E430" in out, out
    first, second = lines_of(ap, "WSGIDaemonProcess app")
    assert "%s:%d" % (ap.conf_path, first) in out, out
    assert "%s:%d" % (ap.conf_path, second) in out, out
    assert "WSGIDaemonProcess app" in out and "rename one" in out, out


def test_duplicate_group_in_one_server_names_both_lines(make_apache_fn):
    conf = "WSGIDaemonProcess app\nWSGIDaemonProcess app threads=2\n"
    ap = make_apache_fn(conf, start=False)
    rc, out = ap.configtest()
    assert rc != 0, out
    first, second = lines_of(ap, "WSGIDaemonProcess app")
    assert "WSGI-RS-E430" in out and "%s:%d" % (ap.conf_path, first) in out, out
    assert "%s:%d" % (ap.conf_path, second) in out, out


def test_names_alike_once_made_file_safe_get_their_own_sockets(make_apache_fn):
    conf = """
    WSGIDaemonProcess a.b user=www-data
    WSGIDaemonProcess a_b user=nobody
    WSGIScriptAlias /dot @APPS@/who.wsgi process-group=a.b
    WSGIScriptAlias /under @APPS@/who.wsgi process-group=a_b
    """
    ap = make_apache_fn(conf, apps={"who.wsgi": WHO})
    nobody = pwd.getpwnam("nobody").pw_uid
    www = pwd.getpwnam("www-data").pw_uid
    for _ in range(6):
        g, uid, _pid = requests.get(ap.url("/dot"), timeout=10).text.split()
        assert (g, int(uid)) == ("a.b", www)
        g, uid, _pid = requests.get(ap.url("/under"), timeout=10).text.split()
        assert (g, int(uid)) == ("a_b", nobody)
    socks = glob.glob(os.path.join(ap.run_dir, "wsgi.*.sock"))
    assert len(socks) == 2, socks


# ------------------------------------- 2. a daemon runs only what it is routed

EVIL = '''
open("@VAR@/evil-ran", "w").write("ran")
def application(environ, start_response):
    open("@VAR@/evil-ran", "w").write("called")
    start_response("200 OK", [])
    return [b"pwned"]
'''


def _bytes(b):
    return struct.pack("<I", len(b)) + b


def forged_request(script, group=b""):
    """A request frame as an Apache child would send it, but with a proof
    made up by the sender (it does not know the group's secret)."""
    head = bytes([0])  # flags: http, no reloading, no body
    head += b"\x00" * 32  # proof
    for text in (script.encode(), b"application", group, b"wsgi-script", b"127.0.0.1", b"forged-1"):
        head += _bytes(text)
    head += struct.pack("<I", 80)
    now = int(time.time() * 1e6)
    head += struct.pack("<qqqI", 0, now, now, os.getpid())  # mtime, request/queue start, sender
    pairs = [(b"REQUEST_METHOD", b"GET"), (b"REMOTE_USER", b"admin"), (b"SCRIPT_FILENAME", script.encode())]
    head += struct.pack("<I", len(pairs)) + b"".join(_bytes(k) + _bytes(v) for k, v in pairs)
    return b"Q" + struct.pack("<I", len(head)) + head + b"b" + struct.pack("<I", 0)


ATTACK = r'''
import os, pwd, socket, struct, sys
pw = pwd.getpwnam(sys.argv[1])
os.setgroups([]); os.setgid(pw.pw_gid); os.setuid(pw.pw_uid)
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
try:
    s.connect(sys.argv[2])
except OSError as e:
    print("connect-failed", e.errno); sys.exit(0)
s.sendall(bytes.fromhex(sys.argv[3]))
data = b""
while True:
    try:
        chunk = s.recv(65536)
    except OSError:
        break
    if not chunk:
        break
    data += chunk
kinds = []
while len(data) >= 5:
    n = struct.unpack("<I", data[1:5])[0]
    kinds.append((chr(data[0]), data[5:5 + n][:4].hex()))
    data = data[5 + n:]
print(kinds)
'''


def attack(ap, user, sock, frame):
    out = subprocess.run([sys.executable, "-c", ATTACK, user, sock, frame.hex()],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture
def guarded_group(make_apache_fn):
    conf = """
    WSGIDaemonProcess app user=nobody processes=1 threads=2
    WSGIScriptAlias /who @APPS@/who.wsgi process-group=app application-group=%{GLOBAL}
    """
    ap = make_apache_fn(conf, apps={"who.wsgi": WHO})
    ap.write_file("evil/evil.wsgi", EVIL)
    r = requests.get(ap.url("/who"), timeout=10)
    assert r.status_code == 200 and r.text.startswith("app "), r.text
    (sock,) = glob.glob(os.path.join(ap.run_dir, "wsgi.*.sock"))
    return ap, sock


def test_a_request_made_up_by_apaches_user_runs_nothing(guarded_group):
    ap, sock = guarded_group
    evil = ap.path("evil/evil.wsgi")
    mark = ap.log_size()
    got = attack(ap, "www-data", sock, forged_request(evil))
    # the daemon answered an error frame (403) and nothing else
    assert got == "[('R', '%s')]" % struct.pack("<I", 403).hex(), got
    assert not os.path.exists(ap.var_path("evil-ran"))
    m = ap.wait_log(r"WSGI-RS-E431.*refused a request for script '%s'" % re.escape(evil), mark)
    assert m, ap.log_since(mark)
    assert "nothing was loaded" in ap.log_since(mark)
    # the group still serves what the configuration routes to it
    assert requests.get(ap.url("/who"), timeout=10).status_code == 200


def test_a_peer_that_is_not_apaches_user_is_refused(guarded_group):
    ap, sock = guarded_group
    os.chmod(sock, 0o666)  # as a careless operator might; SO_PEERCRED still holds
    mark = ap.log_size()
    got = attack(ap, "nobody", sock, forged_request(ap.path("evil/evil.wsgi")))
    assert got.startswith("[('R'"), got
    assert ap.wait_log(r"WSGI-RS-E432.*refused a connection from uid %d" % pwd.getpwnam("nobody").pw_uid, mark), \
        ap.log_since(mark)
    assert not os.path.exists(ap.var_path("evil-ran"))


def test_the_socket_is_not_open_to_other_users(guarded_group):
    ap, sock = guarded_group
    st = os.stat(sock)
    assert st.st_mode & 0o077 == 0, oct(st.st_mode)
    assert st.st_uid == pwd.getpwnam("www-data").pw_uid
    # bound in a private directory and renamed into place; nothing left over
    assert not [n for n in os.listdir(ap.run_dir) if n.startswith(".wsgi-")], os.listdir(ap.run_dir)
    got = attack(ap, "nobody", sock, forged_request(ap.path("evil/evil.wsgi")))
    assert got.startswith("connect-failed"), got


# ------------------------------------------------------------- 3. privileges

@pytest.mark.parametrize("opts,needle", [
    ("user=no-such-user-13", "user=no-such-user-13 names no user"),
    ("group=no-such-group-13", "group=no-such-group-13 names no group"),
    ("supplementary-groups=www-data,no-such-group-13", "supplementary-groups=no-such-group-13 names no group"),
    ("script-user=no-such-user-13", "script-user=no-such-user-13 names no user"),
    ("user=root", "user=root is root"),
    ("user=#0", "user=#0 is root"),
    ("chroot=/srv", "WSGI-RS-E435"),
])
def test_bad_identities_and_chroot_fail_configtest_on_their_line(make_apache_fn, opts, needle):
    ap = make_apache_fn("WSGIDaemonProcess app %s\n" % opts, start=False)
    rc, out = ap.configtest()
    assert rc != 0, out
    assert needle in out, out
    (line,) = lines_of(ap, "WSGIDaemonProcess app")
    assert "Syntax error on line %d of %s" % (line, ap.conf_path) in out, out


def test_script_user_refuses_scripts_owned_by_someone_else(make_apache_fn):
    conf = """
    WSGIDaemonProcess app user=nobody script-user=www-data
    WSGIScriptAlias /mine @APPS@/mine.wsgi process-group=app
    WSGIScriptAlias /theirs @APPS@/theirs.wsgi process-group=app
    """
    ap = make_apache_fn(conf, apps={"mine.wsgi": WHO, "theirs.wsgi": WHO})
    www = pwd.getpwnam("www-data")
    os.chown(ap.app_path("mine.wsgi"), www.pw_uid, www.pw_gid)
    assert requests.get(ap.url("/mine"), timeout=10).status_code == 200
    mark = ap.log_size()
    r = requests.get(ap.url("/theirs"), timeout=10)
    assert r.status_code == 403, r.text
    assert ap.wait_log(r"WSGI-RS-E434.*theirs\.wsgi' is not owned by the user .*script-user=www-data; owner 0", mark), \
        ap.log_since(mark)


def test_script_group_is_enforced(make_apache_fn):
    conf = """
    WSGIDaemonProcess app script-group=nogroup
    WSGIScriptAlias /x @APPS@/who.wsgi process-group=app
    """
    ap = make_apache_fn(conf, apps={"who.wsgi": WHO})
    mark = ap.log_size()
    assert requests.get(ap.url("/x"), timeout=10).status_code == 403
    assert ap.wait_log(r"WSGI-RS-E434.*script-group=nogroup", mark), ap.log_since(mark)
    os.chown(ap.app_path("who.wsgi"), 0, grp.getgrnam("nogroup").gr_gid)
    assert requests.get(ap.url("/x"), timeout=10).status_code == 200


def _wsgi_processes(pids):
    """Those of ``pids`` still alive (zombies count as gone) and titled wsgi."""
    alive = []
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def _descendants(root):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_nothing_of_ours_outlives_a_killed_parent(make_apache_fn):
    conf = """
    WSGIDaemonProcess app user=nobody processes=2 threads=2
    WSGIDaemonProcess other processes=1 threads=1
    WSGIScriptAlias /x @APPS@/who.wsgi process-group=app
    """
    ap = make_apache_fn(conf, apps={"who.wsgi": WHO})
    assert requests.get(ap.url("/x"), timeout=10).status_code == 200
    parent = ap.pid()
    ours = [p for p in _descendants(parent) if _cmdline(p).startswith("wsgi")]
    # two supervisors, three daemons
    assert len(ours) == 5, [(p, _cmdline(p)) for p in _descendants(parent)]
    os.kill(parent, 9)
    deadline = time.time() + 15
    while _wsgi_processes(ours) and time.time() < deadline:
        time.sleep(0.1)
    assert not _wsgi_processes(ours), [(p, _cmdline(p)) for p in _wsgi_processes(ours)]


# ------------------------------------------------------- 4. clean environment

ENVIRON = '''
import json, os
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"env": dict(os.environ), "home": os.path.expanduser("~"), "uid": os.getuid()}).encode()]
'''


@pytest.mark.parametrize("home_opt", ["", "home=@VAR@"])
def test_daemon_environment_is_its_users_own(make_apache_fn, monkeypatch, home_opt):
    # what a root shell reached through sudo looks like
    monkeypatch.setenv("HOME", "/root")
    monkeypatch.setenv("USER", "root")
    monkeypatch.setenv("LOGNAME", "root")
    monkeypatch.setenv("SUDO_USER", "mwrs-admin")
    monkeypatch.setenv("SUDO_UID", "4242")
    monkeypatch.setenv("MAIL", "/var/mail/root")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/0")
    monkeypatch.setenv("PYTHONUSERBASE", "/root/.local")
    monkeypatch.setenv("MWRS_OPERATOR_SETTING", "kept")
    conf = """
    WSGIDaemonProcess app user=nobody %s
    WSGIScriptAlias /env @APPS@/env.wsgi process-group=app
    """ % home_opt
    ap = make_apache_fn(conf, apps={"env.wsgi": ENVIRON})
    got = requests.get(ap.url("/env"), timeout=10).json()
    env = got["env"]
    nobody = pwd.getpwnam("nobody")
    home = ap.var_dir if home_opt else nobody.pw_dir
    assert got["uid"] == nobody.pw_uid
    assert env.get("HOME") == home and got["home"] == home, env
    assert env.get("USER") == "nobody" and env.get("LOGNAME") == "nobody", env
    for k, v in env.items():
        assert not k.startswith(("SUDO_", "XDG_")) and k != "MAIL", (k, v)
        assert "/root" not in v and "mwrs-admin" not in v, (k, v)
    assert env.get("MWRS_OPERATOR_SETTING") == "kept"


# ------------------------------------ 5. the child trusts the daemon no more

def _frame(kind, payload=b""):
    return kind + struct.pack("<I", len(payload)) + payload


def _read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


class FakeDaemon:
    """Stands in for a group's daemon at its socket path: reads the
    child's request, then answers what ``answer(conn)`` sends."""

    def __init__(self, path, answer):
        import threading
        os.unlink(path)
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(path)
        os.chmod(path, 0o666)
        self.srv.listen(5)
        self.srv.settimeout(20)
        self.answer = answer
        self.result = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        conn, _ = self.srv.accept()
        with conn:
            while True:
                kind, n = struct.unpack("<cI", _read_exact(conn, 5))
                _read_exact(conn, n)
                if kind == b"b":
                    break
            self.result = self.answer(conn)

    def join(self):
        self.thread.join(30)
        self.srv.close()
        return self.result


@pytest.fixture
def fake_group(make_apache_fn):
    conf = """
    WSGIDaemonProcess app processes=1 threads=1
    WSGIScriptAlias /x @APPS@/who.wsgi process-group=app
    """
    ap = make_apache_fn(conf, apps={"who.wsgi": WHO})
    assert requests.get(ap.url("/x"), timeout=10).status_code == 200
    (sock,) = glob.glob(os.path.join(ap.run_dir, "wsgi.*.sock"))
    return ap, sock


@pytest.mark.parametrize("status", [0, 0xFFFFFFFF, 0xFFFFFFFD, 200, 302])
def test_an_error_frame_status_outside_4xx_5xx_is_a_502(fake_group, status):
    ap, sock = fake_group
    mark = ap.log_size()

    def answer(conn):
        conn.sendall(_frame(b"A", struct.pack("<I", 4242)) + _frame(b"R", struct.pack("<I", status) + b"x"))

    fake = FakeDaemon(sock, answer)
    r = requests.get(ap.url("/x"), timeout=15)
    fake.join()
    assert r.status_code == 502, (r.status_code, r.text[:200])
    shown = struct.unpack("<i", struct.pack("<I", status))[0]
    assert ap.wait_log(r"WSGI-RS-E437\] .*sent status %d in an error frame" % shown, mark), ap.log_since(mark)


def test_a_response_status_outside_http_is_a_502(fake_group):
    ap, sock = fake_group
    mark = ap.log_size()

    def answer(conn):
        start = struct.pack("<I", 700) + _bytes(b"700 Odd") + struct.pack("<I", 0)
        conn.sendall(_frame(b"A", struct.pack("<I", 4242)) + _frame(b"S", start) + _frame(b"E"))

    fake = FakeDaemon(sock, answer)
    r = requests.get(ap.url("/x"), timeout=15)
    fake.join()
    assert r.status_code == 502
    assert ap.wait_log(r"WSGI-RS-E437\] .*sent HTTP status 700", mark), ap.log_since(mark)


def test_a_descriptor_on_a_frame_that_carries_no_file_is_closed_at_once(fake_group):
    ap, sock = fake_group
    import select

    def answer(conn):
        rd, wr = os.pipe()
        conn.sendall(_frame(b"A", struct.pack("<I", 4242)))
        start = struct.pack("<I", 200) + _bytes(b"200 OK") + struct.pack("<I", 1) + _bytes(b"X-A") + _bytes(b"1")
        socket.send_fds(conn, [_frame(b"S", start)], [wr])
        os.close(wr)
        # EOF on the pipe: every copy of its write end is closed, the
        # child's included, while the response is still open
        ready, _, _ = select.select([rd], [], [], 10)
        closed = bool(ready) and os.read(rd, 1) == b""
        os.close(rd)
        conn.sendall(_frame(b"D", b"body") + _frame(b"E"))
        return closed

    fake = FakeDaemon(sock, answer)
    r = requests.get(ap.url("/x"), timeout=20)
    closed = fake.join()
    assert (r.status_code, r.text) == (200, "body")
    assert closed is True


def test_socket_prefix_in_an_open_directory_without_sticky_bit_fails_configtest(make_apache_fn):
    ap = make_apache_fn("WSGIDaemonProcess app\n", start=False)
    d = ap.path("open")
    os.makedirs(d)
    os.chmod(d, 0o777)
    ap.server_conf = 'WSGISocketPrefix "%s/wsgi"\n' % d
    rc, out = ap.configtest()
    assert rc != 0, out
    assert "WSGI-RS-E436" in out and d in out and "sticky" in out, out
    os.chmod(d, 0o1777)
    rc, out = ap.configtest()
    assert rc == 0, out


def test_a_logged_uri_carries_no_raw_newline(make_apache_fn):
    conf = """
    SetEnv WSGI_G no-such-group
    WSGIDaemonProcess app
    WSGIScriptAlias /u @APPS@/who.wsgi process-group=%{ENV:WSGI_G}
    """
    ap = make_apache_fn(conf, apps={"who.wsgi": WHO})
    mark = ap.log_size()
    r = requests.get(ap.url("/u/a%0aINJECTED-LINE%0d%1b[31m"), timeout=10)
    assert r.status_code == 500
    assert ap.wait_log(r"WSGI-RS-E403", mark), ap.log_since(mark)
    log = ap.log_since(mark)
    for line in log.splitlines():
        assert not line.startswith("INJECTED-LINE"), log
        assert "\x1b" not in line and "\r" not in line, repr(line)
    assert "INJECTED-LINE" in log


# ------------------------ 4b. libpq in a daemon: TLS to a local PostgreSQL

PG_APP = '''
import json, psycopg2
def application(environ, start_response):
    out = {}
    for mode in ("require", "prefer"):
        try:
            c = psycopg2.connect(host="127.0.0.1", port=@PGPORT@, user="postgres", dbname="postgres",
                                 sslmode=mode, connect_timeout=10)
            cur = c.cursor()
            cur.execute("select ssl, version from pg_stat_ssl where pid = pg_backend_pid()")
            out[mode] = list(cur.fetchone())
            c.close()
        except Exception as e:
            out[mode] = "error: %s" % e
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(out).encode()]
'''


def _as_postgres(cmd, **kw):
    pg = pwd.getpwnam("postgres")

    def drop():
        os.setgroups([])
        os.setgid(pg.pw_gid)
        os.setuid(pg.pw_uid)

    return subprocess.run(cmd, preexec_fn=drop, capture_output=True, text=True, timeout=120, **kw)


@pytest.fixture
def tls_postgres():
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        pytest.skip("PostgreSQL server not installed (Debian package postgresql; scripts/install-deps)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pytest.skip("psycopg2 not installed (Debian package python3-psycopg2; scripts/install-deps)")
    bindir = os.path.dirname(bins[-1])
    pg = pwd.getpwnam("postgres")
    import shutil
    import tempfile
    top = tempfile.mkdtemp(prefix="mwrs-pg-", dir="/tmp")
    os.chmod(top, 0o755)
    d = top + "/pg"
    os.makedirs(d)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", d + "/server.key", "-out", d + "/server.crt"],
                   check=True, capture_output=True, timeout=60)
    for root, dirs, files in os.walk(d):
        for n in dirs + files + ["."]:
            os.chown(os.path.join(root, n), pg.pw_uid, pg.pw_gid)
    os.chmod(d + "/server.key", 0o600)
    out = _as_postgres([bindir + "/initdb", "-D", d + "/data", "-A", "trust", "-U", "postgres"])
    assert out.returncode == 0, out.stdout + out.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    opts = ("-c ssl=on -c ssl_cert_file=%s/server.crt -c ssl_key_file=%s/server.key "
            "-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s" % (d, d, port, d))
    out = _as_postgres([bindir + "/pg_ctl", "start", "-w", "-D", d + "/data", "-l", d + "/log", "-o", opts])
    assert out.returncode == 0, out.stdout + out.stderr + open(d + "/log").read()
    yield port
    _as_postgres([bindir + "/pg_ctl", "stop", "-m", "immediate", "-D", d + "/data"])
    shutil.rmtree(top, ignore_errors=True)


def test_libpq_in_a_daemon_connects_with_tls(make_apache_fn, monkeypatch, tls_postgres):
    # Apache started from root's environment: HOME=/root, which libpq would
    # search for ~/.postgresql (unreadable to nobody) and then fail or
    # silently drop TLS
    monkeypatch.setenv("HOME", "/root")
    conf = """
    WSGIDaemonProcess app user=nobody
    WSGIScriptAlias /pg @APPS@/pg.wsgi process-group=app
    """
    ap = make_apache_fn(conf, apps={"pg.wsgi": PG_APP.replace("@PGPORT@", str(tls_postgres))})
    got = requests.get(ap.url("/pg"), timeout=60).json()
    assert got["require"][0] is True, got
    assert got["prefer"][0] is True, got
    assert got["require"][1].startswith("TLS"), got
