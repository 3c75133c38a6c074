"""Every example runs through its own one command (issue 7).

Each test starts the command an operator types (``bash examples/serve NAME``
or ``bash examples/venv/serve``) in the background, in a session of its own,
on a free port and a fresh server root, with the install and build steps
skipped (the module under test is passed as MWRS_MODULE_PATH, so
MWRS_TEST_MODULE=mod_wsgi runs the examples on Debian's mod_wsgi 4.9.4).
It waits for the URL to answer, checks the bodies and the printed URL line,
stops the command with SIGINT (Ctrl-C) sent to its process group, and checks
that nothing it started (Apache, its children, daemon processes and their
supervisors) is left running.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest

from harness import apache as _ap
from conftest import MODULE

EXAMPLES = os.path.join(_ap.REPO_ROOT, "examples")

# name -> the one command (relative to the repository root)
COMMANDS = {
    "hello": ["bash", "examples/serve", "hello"],
    "flask": ["bash", "examples/serve", "flask"],
    "django": ["bash", "examples/serve", "django"],
    "venv": ["bash", "examples/venv/serve"],
    "daemon": ["bash", "examples/serve", "daemon"],
    "cluster": ["bash", "examples/cluster/serve"],
}


# Directories of files to copy, not served (documented in examples/README.md).
FILES_ONLY = {"monitoring"}


def test_every_example_is_covered():
    dirs = {d for d in os.listdir(EXAMPLES) if os.path.isdir(os.path.join(EXAMPLES, d))} - FILES_ONLY
    assert dirs == set(COMMANDS), "examples/ and COMMANDS differ: %s" % (dirs ^ set(COMMANDS))
    readme = open(os.path.join(EXAMPLES, "README.md")).read()
    for cmd in COMMANDS.values():
        assert "`%s`" % " ".join(cmd) in readme, "examples/README.md does not document %s" % cmd
    for d in FILES_ONLY:
        assert "`%s/`" % d in readme, "examples/README.md does not mention %s/" % d


def _get(url, timeout=10):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def _procs_mentioning(text):
    """PIDs (not zombies) whose command line contains ``text``."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        if text in cmd and st[st.rindex(")") + 2] != "Z":
            out.append((int(d), cmd.strip()))
    return out


def _in_group(pgid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(d))
    return out


class Served:
    """One example command running in the background."""

    def __init__(self, name, tmp):
        self.name = name
        self.port = _ap.free_port()
        self.root = os.path.join(tmp, "root")
        os.makedirs(self.root)  # empty: serve may take it over
        env = dict(os.environ)
        env.update(
            PORT=str(self.port),
            MWRS_SKIP_INSTALL="1",
            MWRS_SKIP_BUILD="1",
            MWRS_MODULE_PATH=_ap.module_path(MODULE),
            MWRS_SERVE_ROOT=self.root,
            MWRS_VENV=os.path.join(tmp, "venv"),
            MWRS_LOG_LEVEL="info",
            MWRS_REDIS_PORT=str(_ap.free_port()),  # the cluster example's redis-server
        )
        self.output = b""
        self.proc = subprocess.Popen(
            COMMANDS[name],
            cwd=_ap.REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pgid = self.proc.pid
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for chunk in iter(lambda: self.proc.stdout.read1(65536), b""):
            self.output += chunk

    def text(self):
        return self.output.decode("utf-8", "replace")

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self._reader.join(2)
                pytest.fail("%s exited with %s before answering:\n%s"
                            % (" ".join(COMMANDS[self.name]), self.proc.returncode, self.text()))
            try:
                return _get(self.url("/"), timeout=5)
            except OSError as e:
                last = e
            time.sleep(0.1)
        pytest.fail("%s: %s not answering after %ss (%r):\n%s"
                    % (self.name, self.url("/"), timeout, last, self.text()))

    def stop(self):
        """Ctrl-C to the whole process group; returns the exit status."""
        if self.proc.poll() is None:
            # the same httpd race at stop as in harness/apache.py
            _ap.wait_closing_connections(self.port)
            try:
                os.killpg(self.pgid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                pass
        rc = self.proc.poll()
        # anything still there (Apache children, daemon processes) gets a
        # few seconds to finish its own shutdown
        deadline = time.time() + 10
        while time.time() < deadline and (_in_group(self.pgid) or _procs_mentioning(self.root)):
            time.sleep(0.1)
        left = sorted(set(_in_group(self.pgid)) | {p for p, _ in _procs_mentioning(self.root)})
        return rc, left

    def kill(self):
        for pid in [self.pgid] + [p for p, _ in _procs_mentioning(self.root)]:
            try:
                os.killpg(pid, signal.SIGKILL) if pid == self.pgid else os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


@pytest.fixture
def serve(request):
    tmp = tempfile.mkdtemp(prefix="mwrs-example-", dir="/tmp")
    os.chmod(tmp, 0o755)
    started = []

    def run(name):
        s = Served(name, tmp)
        started.append(s)
        return s

    yield run
    for s in started:
        s.kill()
    if os.environ.get("MWRS_KEEP_ROOTS") != "1":
        shutil.rmtree(tmp, ignore_errors=True)


def _check_stopped(s):
    running = s.text()
    bad = _ap.crash_lines(running)
    assert not bad, "%s crashed while serving:\n%s" % (s.name, "\n".join(bad))
    rc, left = s.stop()
    assert rc is not None, "%s did not exit after SIGINT:\n%s" % (s.name, s.text()[-3000:])
    assert not left, "%s left processes running after SIGINT: %s" % (
        s.name, [c for p, c in _procs_mentioning(s.root)] or left)
    bad = _ap.crash_lines(s.text()[len(running):])
    if bad and MODULE == "mod_wsgi":
        # seen once in many runs: mod_wsgi 4.9.4 with Python 3.11 can crash
        # while its children exit; that is not what this test is about
        pytest.xfail("mod_wsgi 4.9.4 crashed at shutdown: %s" % bad[:3])
    assert not bad, "%s crashed while stopping:\n%s" % (s.name, s.text()[-3000:])
    assert rc == 0, "%s exited with %s after SIGINT:\n%s" % (s.name, rc, s.text()[-3000:])


def _check_url_line(s):
    line = "==> serving examples/%s at http://127.0.0.1:%d/" % (s.name, s.port)
    assert line in s.text().splitlines(), "no URL line %r in:\n%s" % (line, s.text())


def test_hello(serve):
    s = serve("hello")
    status, headers, body = s.wait_ready()
    assert (status, body) == (200, b"Hello, World!\n")
    _check_url_line(s)
    _check_stopped(s)


def test_flask(serve):
    s = serve("flask")
    status, _, body = s.wait_ready()
    assert (status, body) == (200, b"Hello from Flask!\n")
    status, _, body = _get(s.url("/api/info?a=1"))
    info = json.loads(body)
    assert status == 200 and info["args"] == {"a": ["1"]} and info["script_root"] == ""
    req = urllib.request.Request(s.url("/api/echo"), data=b'{"x": [1, 2]}',
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert json.loads(r.read()) == {"received": {"x": [1, 2]}}
    assert _get(s.url("/nothing"))[0] == 404
    _check_url_line(s)
    _check_stopped(s)


def test_django(serve):
    s = serve("django")
    status, _, body = s.wait_ready()
    assert (status, body) == (200, b"Hello from Django!\n")
    status, headers, body = _get(s.url("/api/info?q=1"))
    info = json.loads(body)
    assert status == 200 and info["path"] == "/api/info" and info["visits"] == 1
    assert "sessionid=" in headers.get("Set-Cookie", "")
    assert _get(s.url("/nothing"))[0] == 404
    _check_url_line(s)
    _check_stopped(s)


def test_venv(serve):
    s = serve("venv")
    status, _, body = s.wait_ready(timeout=45)
    assert (status, body) == (200, b"Hello, World!\n")
    status, _, body = _get(s.url("/prefix"))
    venv = os.path.join(os.path.dirname(s.root), "venv")
    assert status == 200
    assert "sys.prefix=%s\n" % venv in body.decode(), body
    assert "sys.base_prefix=/usr\n" in body.decode(), body
    _check_url_line(s)
    _check_stopped(s)


def _titled(root, title):
    return [p for p, cmd in _procs_mentioning(root) if cmd.startswith(title)]


def test_daemon(serve):
    s = serve("daemon")
    status, headers, body = s.wait_ready()
    assert (status, body) == (200, b"Hello, World!\n")
    status, _, body = _get(s.url("/shop/"))
    assert (status, body) == (200, b"Hello from Flask!\n")
    status, _, body = _get(s.url("/shop/api/info"))
    info = json.loads(body)
    assert status == 200 and info["script_root"] == "/shop" and info["path"] == "/api/info"

    # static files come from Apache, unchanged, with its validators
    status, headers, body = _get(s.url("/static/site.css"))
    with open(os.path.join(EXAMPLES, "daemon", "static", "site.css"), "rb") as f:
        assert (status, body) == (200, f.read())
    assert "ETag" in headers and headers["Content-Type"].startswith("text/css")

    # two groups of two daemon processes, titled by display-name=%{GROUP};
    # the Flask app answers from one of the shop processes
    deadline = time.time() + 10
    while time.time() < deadline:
        shop, blog = _titled(s.root, "(wsgi:shop)"), _titled(s.root, "(wsgi:blog)")
        if len(shop) == 2 and len(blog) == 2:
            break
        time.sleep(0.1)
    assert len(shop) == 2 and len(blog) == 2, _procs_mentioning(s.root)
    assert info["pid"] in shop
    for pid in shop + blog:
        assert os.stat("/proc/%d" % pid).st_uid != 0, "daemon process %d runs as root" % pid

    # the sockets are in the generated run/wsgi directory, which the
    # Apache children (www-data) can search
    socks = sorted(os.listdir(os.path.join(s.root, "run", "wsgi")))
    assert len(socks) == 2 and socks[0].endswith(".sock"), socks
    assert os.stat(os.path.join(s.root, "run", "wsgi")).st_mode & 0o777 == 0o755
    _check_url_line(s)
    _check_stopped(s)


def test_cluster(serve):
    """Two hosts behind mod_proxy_balancer sharing counters, a lock and
    sessions on Redis: host 1 is taken away (graceful-stop) under load;
    no request fails, no count is lost, the user stays logged in."""
    if MODULE != "rs":
        pytest.skip("the cluster example uses mod_wsgi_rs's shared state (WSGISharedCache)")
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed (Debian package redis-server; scripts/install-deps)")
    s = serve("cluster")
    status, _, body = s.wait_ready()
    assert status == 200 and body.startswith(b"Hello from the cluster"), body
    _check_url_line(s)
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with opener.open(s.url("/login?user=alice"), timeout=10) as r:
        assert json.loads(r.read())["user"] == "alice"
    answers, failures = [], []
    host1_stopping, host1_gone, done = threading.Event(), threading.Event(), threading.Event()

    def client():
        while not done.is_set():
            gone = host1_gone.is_set()  # before the request is sent
            try:
                with opener.open(s.url("/count"), timeout=30) as r:
                    answers.append((gone, json.loads(r.read())))
            except Exception as e:  # noqa: BLE001 - every failure is reported
                # did the stop begin before this request failed?
                failures.append((host1_stopping.is_set(), gone, repr(e)))

    def wait_for(n):
        deadline = time.time() + 60
        while len(answers) < n and time.time() < deadline:
            time.sleep(0.01)

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        wait_for(60)
        pidfile = os.path.join(s.root, "host1", "run", "httpd.pid")
        host1 = int(open(pidfile).read())
        host1_stopping.set()
        os.kill(host1, signal.SIGWINCH)  # Apache's graceful-stop, under load
        deadline = time.time() + 30
        while _ap._alive(host1) and time.time() < deadline:
            time.sleep(0.05)
        assert not _ap._alive(host1), "host 1 did not stop"
        host1_gone.set()
        wait_for(len(answers) + 60)
    finally:
        done.set()
        for t in threads:
            t.join()
    # Apache's graceful-stop closes host 1's listener with connections
    # still in its queue: the balancer may answer those with 502 (not our
    # module's doing; disabling the member in balancer-manager first avoids
    # it). Such a request never reached the application. Nothing else may
    # fail: not before the stop began, not once host 1 is gone.
    assert all(stopping and not gone and "HTTPError 502" in e for stopping, gone, e in failures), failures[:5]
    n = len(answers)
    assert {a["user"] for _, a in answers} == {"alice"}  # nobody logged out
    # no update lost, none doubled: each answer saw its own count
    assert len({a["hits"] for _, a in answers}) == n
    assert len({a["visits"] for _, a in answers}) == n
    assert {a["host"] for gone, a in answers if gone} == {"127.0.0.3"}
    assert {a["host"] for gone, a in answers if not gone} == {"127.0.0.2", "127.0.0.3"}
    with opener.open(s.url("/stats"), timeout=10) as r:
        stats = json.loads(r.read())
    assert n <= stats["hits"] <= n + len(failures), (n, stats, failures)
    assert stats["visits"]["alice"] == stats["hits"]
    _check_stopped(s)
