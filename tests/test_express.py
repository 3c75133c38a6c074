"""mod_wsgi_rs-express end to end: the command generates a server root and
runs the real Apache with the module.

Covers start-server for a script and for a package.module:callable app,
--url-alias static files, --reload-on-changes, the one-line explanations
(busy port, missing module, missing script) with their exit codes, Ctrl-C
(SIGINT) stopping Apache with exit status 0, setup-server with its apachectl
wrapper, and module-config.

Needs `cargo build --release` (target/release/mod_wsgi_rs-express and
libmod_wsgi_rs.so).
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

from harness import apache as _ap

EXPRESS = os.path.join(_ap.RELEASE_DIR, "mod_wsgi_rs-express")
PROG = "mod_wsgi_rs-express"

SCRIPT_APP = """\
import os

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("script cwd=%s" % os.getcwd()).encode()]
"""

MODULE_APP = """\
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"module VERSION"]
"""


@pytest.fixture(scope="module", autouse=True)
def _built():
    if not os.path.exists(EXPRESS):
        pytest.fail("%s not built; run `cargo build --release`" % EXPRESS, pytrace=False)


@pytest.fixture
def site():
    """A www-data readable directory with a script app, a package and static files."""
    d = tempfile.mkdtemp(prefix="mwrs-express-", dir="/tmp")
    os.makedirs(os.path.join(d, "pkg"))
    os.makedirs(os.path.join(d, "static"))
    with open(os.path.join(d, "hello.wsgi"), "w") as f:
        f.write(SCRIPT_APP)
    with open(os.path.join(d, "pkg", "__init__.py"), "w") as f:
        f.write("")
    with open(os.path.join(d, "pkg", "web.py"), "w") as f:
        f.write(MODULE_APP.replace("VERSION", "v1"))
    with open(os.path.join(d, "static", "a.txt"), "w") as f:
        f.write("static file\n")
    for root, dirs, files in os.walk(d):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    yield d
    if os.environ.get("MWRS_KEEP_ROOTS") != "1":
        shutil.rmtree(d, ignore_errors=True)


def express(*args, cwd=None, timeout=30):
    return subprocess.run(
        [EXPRESS, *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
    )


def module_args():
    return ["--module-path", _ap.module_path(_ap.default_module())]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def wait_http(port, served=None, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if served is not None and served.proc.poll() is not None:
            pytest.fail("express exited early (rc=%s):\n%s\n%s" % ((served.proc.returncode,) + served.output()))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"HEAD /static/ HTTP/1.0\r\n\r\n")
                if s.recv(5) == b"HTTP/":
                    return
        except OSError:
            pass
        time.sleep(0.05)
    pytest.fail("nothing answers on port %d" % port)


def apache_pids(conf):
    """Pids of processes whose command line names this httpd.conf."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if conf.encode() in cmd:
            pids.append(int(p))
    return pids


class Served:
    """A running `start-server`, stopped with SIGINT like Ctrl-C."""

    def __init__(self, site, app, *args, cwd=None):
        self.port = _ap.free_port()
        self.root = os.path.join(site, "root-%d" % self.port)
        self.conf = os.path.join(self.root, "httpd.conf")
        # Files in append mode rather than pipes: the reload monitor (a
        # child of Apache) may outlive Apache by a second and keep a pipe open.
        self.out_path = os.path.join(site, "out-%d" % self.port)
        self.err_path = os.path.join(site, "err-%d" % self.port)
        with open(self.out_path, "ab") as out, open(self.err_path, "ab") as err:
            self.proc = subprocess.Popen(
                [EXPRESS, "start-server", app, "--port", str(self.port), "--server-root", self.root,
                 *module_args(), *args],
                cwd=cwd or site,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
        wait_http(self.port, self)

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def output(self):
        with open(self.out_path) as out, open(self.err_path) as err:
            return out.read(), err.read()

    def interrupt(self, timeout=15):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=timeout)
        return (self.proc.returncode,) + self.output()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in apache_pids(self.conf):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def assert_stopped(served, rc, out, err):
    assert rc == 0, "express exited %r\nstdout:\n%s\nstderr:\n%s" % (rc, out, err)
    deadline = time.time() + 5
    while apache_pids(served.conf) and time.time() < deadline:
        time.sleep(0.05)
    assert apache_pids(served.conf) == [], "Apache processes left behind"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", served.port), timeout=1).close()
    log = open(os.path.join(served.root, "error_log")).read() if os.path.exists(
        os.path.join(served.root, "error_log")) else err
    assert _ap.crash_lines(log) == []


def test_script_app_static_alias_busy_port_and_ctrl_c(site):
    s = Served(site, "hello.wsgi", "--url-alias", "/static", os.path.join(site, "static"))
    try:
        assert get(s.url("/")) == (200, ("script cwd=%s" % site).encode())
        assert get(s.url("/static/a.txt")) == (200, b"static file\n")

        busy = express("start-server", "hello.wsgi", "--port", str(s.port), *module_args(), cwd=site)
        assert busy.returncode == 1
        assert busy.stderr.decode() == (
            "%s: port %d on 127.0.0.1 is already in use; pick another with --port\n" % (PROG, s.port)
        )

        rc, out, err = s.interrupt()
        assert "%s: serving %s on http://127.0.0.1:%d/" % (PROG, os.path.join(site, "hello.wsgi"), s.port) in out
        assert "%s: error log: %s" % (PROG, os.path.join(s.root, "error_log")) in out
        assert_stopped(s, rc, out, err)
    finally:
        s.kill()


def test_module_app_reloads_on_changes(site):
    # One process: after the first request only a restart can show v2.
    s = Served(site, "pkg.web:app", "--reload-on-changes", "--processes", "1", "--threads", "2")
    try:
        assert get(s.url("/")) == (200, b"module v1")
        web = os.path.join(site, "pkg", "web.py")
        old = os.stat(web).st_mtime
        with open(web, "w") as f:
            f.write(MODULE_APP.replace("VERSION", "v2"))
        # a different mtime for the edit, whatever the file system's granularity
        os.utime(web, (old + 2, old + 2))
        deadline = time.time() + 10
        body = None
        while time.time() < deadline:
            try:
                body = get(s.url("/"))[1]
            except OSError:
                body = None
            if body == b"module v2":
                break
            time.sleep(0.2)
        assert body == b"module v2"
        assert "pkg/web.py changed; restarting Apache gracefully" in s.output()[1]

        rc, out, err = s.interrupt()
        assert "serving pkg.web:app on http://127.0.0.1:%d/" % s.port in out
        assert "reloading when .py/.wsgi files change under %s" % os.path.join(site, "pkg") in out
        # apache_pids() also matches the reload monitor (its arguments name
        # the conf): it must be gone too.
        assert_stopped(s, rc, out, err)
    finally:
        s.kill()


def test_one_line_failures(site):
    port = str(_ap.free_port())
    p = express("start-server", "nosuchpkg.web:app", "--port", port, *module_args(), cwd=site)
    assert p.returncode == 1
    err = p.stderr.decode()
    assert err.count("\n") == 1 and "cannot import 'nosuchpkg.web'" in err and "--python-path" in err

    p = express("start-server", "missing.wsgi", "--port", port, *module_args(), cwd=site)
    assert p.returncode == 1
    assert p.stderr.decode() == "%s: cannot read WSGI script %s: No such file or directory\n" % (
        PROG, os.path.join(site, "missing.wsgi"))

    p = express("start-server", "hello.wsgi", "--port", "nope", cwd=site)
    assert p.returncode == 2 and "not a valid number" in p.stderr.decode()
    p = express("start-server", "--help")
    assert p.returncode == 0 and b"--url-alias URL DIR" in p.stdout


def test_setup_server_and_apachectl(site):
    port = _ap.free_port()
    root = os.path.join(site, "setup-root")
    p = express("setup-server", "pkg.web:app", "--port", str(port), "--server-root", root,
                *module_args(), cwd=site)
    assert p.returncode == 0, p.stderr
    ctl = os.path.join(root, "apachectl")
    assert ("apachectl: %s" % ctl) in p.stdout.decode()
    assert os.access(ctl, os.X_OK)
    run = lambda *a: subprocess.run([ctl, *a], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    assert b"Syntax OK" in run("configtest").stdout
    try:
        assert run("start").returncode == 0
        wait_http(port)
        assert get("http://127.0.0.1:%d/" % port) == (200, b"module v1")
    finally:
        assert run("stop").returncode == 0
    conf = os.path.join(root, "httpd.conf")
    deadline = time.time() + 10
    while apache_pids(conf) and time.time() < deadline:
        time.sleep(0.05)
    assert apache_pids(conf) == []
    assert _ap.crash_lines(open(os.path.join(root, "error_log")).read()) == []


def test_module_config():
    so = _ap.rs_module_path()
    p = express("module-config", "--module-path", so)
    assert p.returncode == 0
    assert 'LoadModule wsgi_module "%s"' % os.path.realpath(so) in p.stdout.decode() or \
        'LoadModule wsgi_module "%s"' % so in p.stdout.decode()
