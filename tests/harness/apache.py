"""A real Apache httpd as a test fixture.

Every test in the suite goes through :class:`Apache`: it writes an ``httpd.conf``
into a fresh ServerRoot under /tmp, picks a free 127.0.0.1 port, loads an MPM,
the base modules and the WSGI module under test (ours, or Debian's mod_wsgi
for comparison: 4.9.4 on Debian 12, 5.0.2 on Debian 13 and sid), starts ``/usr/sbin/apache2 -f CONF -k start`` and waits
until the port answers.

Module selection (per instance, default from the environment):
    module="rs"        $CARGO_TARGET_DIR/release/libmod_wsgi_rs.so (target/ by default;
                       tests/matrix builds in target/matrix-DIST) or $MWRS_MODULE_PATH
    module="mod_wsgi"  /usr/lib/apache2/modules/mod_wsgi.so (Debian's: 4.9.4 or 5.0.2)
    MWRS_TEST_MODULE=mod_wsgi switches the default to the reference module.

Config snippets and app sources may use two placeholders:
    @ROOT@  the ServerRoot (absolute path)
    @APPS@  @ROOT@/apps, where write_app() puts WSGI scripts
    @VAR@   @ROOT@/var, a directory writable by the Apache children
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
from typing import Dict, Iterable, List, Optional, Tuple

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HTTPD = "/usr/sbin/apache2"
MODULES_DIR = "/usr/lib/apache2/modules"
MOD_WSGI_REF = os.path.join(MODULES_DIR, "mod_wsgi.so")
# The Python the module is built against (tests/run exports PYO3_PYTHON; tests/matrix
# sets it to the root's python3, or python3.15 for sid:python3.15): venvs and
# version probes must use that one, not whatever runs pytest.
PYTHON = os.environ.get("PYO3_PYTHON") or "/usr/bin/python3"
# cargo's output directory: CARGO_TARGET_DIR (relative to the repository, as cargo
# reads it) when set, so a build per Debian root (tests/matrix) is the one tested.
TARGET_DIR = os.path.join(REPO_ROOT, os.environ.get("CARGO_TARGET_DIR") or "target")
RELEASE_DIR = os.path.join(TARGET_DIR, "release")


def python_version() -> str:
    """"3.11", "3.13", …: the version of PYTHON, which the module under test embeds
    (messages naming "the Python mod_wsgi_rs was built for" name this one)."""
    global _PYTHON_VERSION
    if _PYTHON_VERSION is None:
        _PYTHON_VERSION = subprocess.run(
            [PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            stdout=subprocess.PIPE, text=True, check=True,
        ).stdout.strip()
    return _PYTHON_VERSION


_PYTHON_VERSION: Optional[str] = None

MPMS = ("event", "worker", "prefork")

# Where a WSGI application runs: inside the Apache children ("embedded") or
# in a WSGIDaemonProcess group the children proxy to ("daemon").  The WSGI
# behaviour files run once per mode (the `mode` fixture in conftest).
MODES = ("embedded", "daemon")
DAEMON_GROUP = "mwrs-test"
# One process (requests that must meet the same interpreter do), fifteen
# threads like mod_wsgi's default; processes= given, so wsgi.multiprocess is
# True as in mod_wsgi.
DAEMON_OPTIONS = "processes=1 threads=15"

# Base modules every instance loads (name, file).
BASE_MODULES = [
    ("authz_core_module", "mod_authz_core.so"),
    ("authz_host_module", "mod_authz_host.so"),
    ("mime_module", "mod_mime.so"),
    ("alias_module", "mod_alias.so"),
    ("dir_module", "mod_dir.so"),
    ("env_module", "mod_env.so"),
    ("setenvif_module", "mod_setenvif.so"),
    ("headers_module", "mod_headers.so"),
]

MPM_TUNING = {
    # Two children of 25 threads: enough for 32 concurrent keep-alive clients,
    # and leaves ServerLimit headroom for graceful restarts.
    "event": """
        StartServers 2
        ServerLimit 8
        ThreadsPerChild 25
        MaxRequestWorkers 50
        MinSpareThreads 25
        MaxSpareThreads 75
        AsyncRequestWorkerFactor 2
    """,
    "worker": """
        StartServers 2
        ServerLimit 8
        ThreadsPerChild 25
        MaxRequestWorkers 50
        MinSpareThreads 25
        MaxSpareThreads 75
    """,
    "prefork": """
        StartServers 6
        MinSpareServers 4
        MaxSpareServers 40
        ServerLimit 48
        MaxRequestWorkers 48
    """,
}

CRASH_PATTERNS = [
    re.compile(r"exit signal"),
    re.compile(r"Fatal Python error"),
    re.compile(r"\bSegmentation fault\b"),
    re.compile(r"\bpanicked at\b"),
]

# Every Apache created in this process, for the failure-report hook in conftest.
REGISTRY: List["Apache"] = []


# /proc/net/tcp states of a server socket whose client has closed or that
# is closing itself (CLOSE_WAIT, FIN_WAIT1, LAST_ACK, CLOSING).
_CLOSING_STATES = {"08", "04", "09", "0B"}


def _closing_connections(port: int) -> int:
    """Server-side TCP sockets on `port` that are being closed."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 3 and int(fields[1].rsplit(":", 1)[1], 16) == port:
                count += fields[3] in _CLOSING_STATES
    return count


def wait_closing_connections(port: int, timeout: float = 2) -> None:
    """Wait (bounded) until no connection to the port is half closed.

    httpd's event MPM has a use-after-free at an ungraceful stop: the
    main thread's close_worker_sockets() reads every worker's socket
    while a worker that is just closing its connection destroys the
    connection's pool (and its allocator's mmap'd memory) before it
    clears its worker_sockets[] slot.  The child then dies of SIGSEGV
    in apr_os_sock_get(), no module code on any stack.  A test that
    stops Apache right after its last response (the client already
    closed, the server side in CLOSE_WAIT while a worker reads the
    EOF) hits that window now and then under load, so the harness lets
    such connections finish first.  Tests that stop Apache during a
    request still do so.
    """
    deadline = time.time() + timeout
    while _closing_connections(port) and time.time() < deadline:
        time.sleep(0.01)


def default_module() -> str:
    m = os.environ.get("MWRS_TEST_MODULE", "rs").strip() or "rs"
    if m not in ("rs", "mod_wsgi"):
        raise ValueError("MWRS_TEST_MODULE must be 'rs' or 'mod_wsgi', not %r" % m)
    return m


def rs_module_path() -> str:
    return os.environ.get("MWRS_MODULE_PATH") or os.path.join(RELEASE_DIR, "libmod_wsgi_rs.so")


def module_path(module: str) -> str:
    return MOD_WSGI_REF if module == "mod_wsgi" else rs_module_path()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _is_root() -> bool:
    return os.geteuid() == 0


class ApacheError(RuntimeError):
    pass


class Apache:
    """One Apache instance with its own ServerRoot, port, PidFile and ErrorLog."""

    def __init__(
        self,
        conf: str = "",
        *,
        mpm: Optional[str] = None,
        module: Optional[str] = None,
        loglevel: str = "info",
        apps: Optional[Dict[str, str]] = None,
        files: Optional[Dict[str, str]] = None,
        extra_modules: Iterable[Tuple[str, str]] = (),
        server_conf: str = "",
        name: str = "mwrs",
        mpm_conf: Optional[str] = None,
        keepalive_timeout: int = 2,
        global_group: bool = True,
        mode: str = "embedded",
        daemon_options: str = DAEMON_OPTIONS,
    ):
        # MWRS_TEST_MPM runs the whole suite's default instances under
        # another MPM (tests/run repeats the WSGI behaviour files under
        # prefork this way).
        mpm = mpm or os.environ.get("MWRS_TEST_MPM", "event")
        if mpm not in MPMS:
            raise ValueError("unknown MPM %r" % mpm)
        self.mpm = mpm
        self.module = module or default_module()
        self.loglevel = loglevel
        self.extra_modules = list(extra_modules)
        self.server_conf = server_conf
        self.mpm_conf = mpm_conf
        self.keepalive_timeout = keepalive_timeout
        # Run apps in the main interpreter (the only one mod_wsgi_rs implements
        # so far).  It also avoids mod_wsgi 4.9.4 hanging for ~10 s while it
        # destroys sub-interpreters at child exit under Python 3.11.
        self.global_group = global_group
        if mode not in MODES:
            raise ValueError("unknown mode %r" % mode)
        # daemon mode: a server-wide WSGIDaemonProcess group named
        # DAEMON_GROUP that every WSGIScriptAlias of the snippet runs in
        # (the snippet may still pick another group per location).
        self.mode = mode
        self.daemon_options = daemon_options
        # (short: a daemon socket path under it must stay within sun_path)
        tag = "-d" if mode == "daemon" else ""
        self.root = tempfile.mkdtemp(prefix="%s-%s-%s%s-" % (name, self.module, mpm, tag), dir="/tmp")
        os.chmod(self.root, 0o755)
        self.apps_dir = os.path.join(self.root, "apps")
        self.var_dir = os.path.join(self.root, "var")
        self.run_dir = os.path.join(self.root, "run")
        self.htdocs = os.path.join(self.root, "htdocs")
        for d in (self.apps_dir, self.htdocs):
            os.makedirs(d, mode=0o755)
            os.chmod(d, 0o755)
        for d in (self.var_dir, self.run_dir):
            os.makedirs(d)
            os.chmod(d, 0o1777)
        self.conf_path = os.path.join(self.root, "httpd.conf")
        self.pid_path = os.path.join(self.run_dir, "httpd.pid")
        self.error_log_path = os.path.join(self.root, "error.log")
        self.access_log_path = os.path.join(self.root, "access.log")
        self.port = free_port()
        self.host = "127.0.0.1"
        self.snippet = conf
        self.started = False
        self._pgid: Optional[int] = None
        for rel, src in (apps or {}).items():
            self.write_app(rel, src)
        for rel, src in (files or {}).items():
            self.write_file(rel, src)
        REGISTRY.append(self)

    # ---------------------------------------------------------------- files

    def expand(self, text: str) -> str:
        return (
            text.replace("@ROOT@", self.root)
            .replace("@APPS@", self.apps_dir)
            .replace("@VAR@", self.var_dir)
            .replace("@HTDOCS@", self.htdocs)
            .replace("@PORT@", str(self.port))
        )

    def path(self, rel: str) -> str:
        return rel if os.path.isabs(rel) else os.path.join(self.root, rel)

    def write_file(self, rel: str, content, mode: int = 0o644) -> str:
        """Write a file under the ServerRoot (``rel`` relative to it); returns the path."""
        p = self.path(self.expand(rel))
        d = os.path.dirname(p)
        os.makedirs(d, exist_ok=True)
        # make every directory up to the root traversable by www-data
        cur = d
        while cur.startswith(self.root) and cur != self.root:
            os.chmod(cur, (os.stat(cur).st_mode & 0o7777) | 0o755)
            cur = os.path.dirname(cur)
        if isinstance(content, str):
            content = self.expand(textwrap.dedent(content)).encode("utf-8")
        with open(p, "wb") as f:
            f.write(content)
        os.chmod(p, mode)
        return p

    def write_app(self, rel: str, source: str) -> str:
        """Write a WSGI script under @APPS@; returns its absolute path."""
        return self.write_file(os.path.join("apps", rel), source)

    def app_path(self, rel: str) -> str:
        return os.path.join(self.apps_dir, rel)

    def var_path(self, rel: str) -> str:
        return os.path.join(self.var_dir, rel)

    # --------------------------------------------------------------- config

    def module_file(self) -> str:
        return module_path(self.module)

    def render_conf(self) -> str:
        lines = [
            "# generated by tests/harness/apache.py",
            'ServerRoot "%s"' % self.root,
            "ServerName 127.0.0.1",
            "Listen %s:%d" % (self.host, self.port),
            'PidFile "%s"' % self.pid_path,
            'DefaultRuntimeDir "%s"' % self.run_dir,
            'ErrorLog "%s"' % self.error_log_path,
            "LogLevel %s" % self.loglevel,
            "Mutex file:%s default" % self.run_dir,
            "LoadModule mpm_%s_module %s/mod_mpm_%s.so" % (self.mpm, MODULES_DIR, self.mpm),
        ]
        for mod, f in BASE_MODULES:
            lines.append("LoadModule %s %s/%s" % (mod, MODULES_DIR, f))
        # mod_unixd (User/Group), mod_log_config and mod_version are compiled
        # into Debian's apache2.
        for mod, f in self.extra_modules:
            if not os.path.isabs(f):
                f = os.path.join(MODULES_DIR, f)
            lines.append("LoadModule %s %s" % (mod, f))
        lines.append("LoadModule wsgi_module %s" % self.module_file())
        if _is_root():
            lines += ["User www-data", "Group www-data"]
        lines += [
            "TypesConfig /etc/mime.types",
            "Timeout 10",
            "KeepAlive On",
            "MaxKeepAliveRequests 0",
            "KeepAliveTimeout %d" % self.keepalive_timeout,
            "GracefulShutdownTimeout 5",
            'LogFormat "%h %l %u %t \\"%r\\" %>s %b %L" common',
            'CustomLog "%s" common' % self.access_log_path,
            'DocumentRoot "%s"' % self.htdocs,
            "<Directory />",
            "    AllowOverride None",
            "    Require all denied",
            "</Directory>",
            '<Directory "%s">' % self.root,
            "    Require all granted",
            "</Directory>",
            textwrap.dedent(self.mpm_conf if self.mpm_conf is not None else MPM_TUNING[self.mpm]),
            self.expand(textwrap.dedent(self.server_conf)),
            "WSGIApplicationGroup %{GLOBAL}" if self.global_group else "",
            *self.mode_lines(),
            "# ---- test snippet",
            self.expand(textwrap.dedent(self.snippet)),
            "",
        ]
        return "\n".join(lines)

    def mode_lines(self) -> List[str]:
        """The directives that put the snippet's applications in daemon mode."""
        if self.mode != "daemon":
            return []
        return [
            "# ---- daemon mode",
            # mod_wsgi 4.9.4 resolves its default prefix under the ServerRoot's
            # logs/ directory, which these roots do not have.
            'WSGISocketPrefix "%s/wsgi"' % self.run_dir,
            "WSGIDaemonProcess %s %s" % (DAEMON_GROUP, self.daemon_options),
            "WSGIProcessGroup %s" % DAEMON_GROUP,
        ]

    def write_conf(self) -> None:
        with open(self.conf_path, "w") as f:
            f.write(self.render_conf())
        os.chmod(self.conf_path, 0o644)

    def _check_module(self) -> None:
        p = self.module_file()
        if not os.path.exists(p):
            raise ApacheError(
                "WSGI module %s not found (module=%s); build it with `cargo build --release` "
                "or set MWRS_TEST_MODULE=mod_wsgi" % (p, self.module)
            )

    def configtest(self) -> Tuple[int, str]:
        """Run ``apache2 -t -f CONF``; returns (rc, combined output)."""
        self._check_module()
        self.write_conf()
        p = subprocess.run(
            [HTTPD, "-t", "-f", self.conf_path],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=60,
        )
        return p.returncode, p.stdout.decode("utf-8", "replace")

    # ------------------------------------------------------------ lifecycle

    def _httpd(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(
            [HTTPD, "-f", self.conf_path, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def pid(self) -> Optional[int]:
        try:
            with open(self.pid_path) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def start(self, wait: bool = True) -> "Apache":
        self._check_module()
        self.write_conf()
        p = self._httpd("-k", "start")
        if p.returncode != 0:
            raise ApacheError(
                "apache2 -k start failed (rc=%d):\n%s\n--- error log:\n%s"
                % (p.returncode, p.stdout.decode("utf-8", "replace"), self.error_log()[-4000:])
            )
        self.started = True
        deadline = time.time() + 15
        while self.pid() is None and time.time() < deadline:
            time.sleep(0.02)
        pid = self.pid()
        if pid is None:
            raise ApacheError("apache2 did not write its PidFile\n" + self.error_log()[-4000:])
        try:
            self._pgid = os.getpgid(pid)
        except ProcessLookupError:
            raise ApacheError("apache2 exited right after start\n" + self.error_log()[-4000:])
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 15) -> None:
        """Wait until a child answers an HTTP request on the port."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as s:
                    s.settimeout(3)
                    s.sendall(b"HEAD /__harness_ping__ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                    data = s.recv(64)
                    if data.startswith(b"HTTP/"):
                        return
                    last = data
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise ApacheError(
            "Apache on port %d not answering after %ss (%r)\n--- error log:\n%s"
            % (self.port, timeout, last, self.error_log()[-4000:])
        )

    def _generation_count(self) -> int:
        return self.error_log().count("resuming normal operations")

    def graceful(self, wait: bool = True) -> None:
        self._signal_restart("graceful", wait)

    def restart(self, wait: bool = True) -> None:
        self._signal_restart("restart", wait)

    def _signal_restart(self, how: str, wait: bool) -> None:
        self.write_conf()
        before = self._generation_count()
        p = self._httpd("-k", how)
        if p.returncode != 0:
            raise ApacheError(
                "apache2 -k %s failed: %s" % (how, p.stdout.decode("utf-8", "replace"))
            )
        if wait:
            deadline = time.time() + 15
            while self._generation_count() <= before and time.time() < deadline:
                time.sleep(0.02)
            if self._generation_count() <= before:
                raise ApacheError("apache2 did not resume after -k %s" % how)
            self.wait_ready()

    def stop(self, timeout: float = 15) -> None:
        if not self.started:
            return
        self.started = False
        pid = self.pid()
        wait_closing_connections(self.port)
        try:
            self._httpd("-k", "stop", timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.time() + timeout
        while pid and _alive(pid) and time.time() < deadline:
            time.sleep(0.05)
        self._kill_leftovers(pid)

    def _kill_leftovers(self, pid: Optional[int]) -> None:
        # The parent daemonises with setsid(), so its children share its
        # process group: kill exactly that group if anything is left.
        pgid = self._pgid
        if pgid and pgid > 1 and pgid != os.getpgid(0):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        elif pid and _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def children(self) -> List[int]:
        """PIDs of the current Apache children (processes whose parent is the master)."""
        parent = self.pid()
        out = []
        if not parent:
            return out
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
            except OSError:
                continue
            fields = st[st.rindex(")") + 2 :].split()
            if int(fields[1]) == parent:
                out.append(int(d))
        return out

    def cleanup(self) -> None:
        self.stop()
        if os.environ.get("MWRS_KEEP_ROOTS") != "1":
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Apache":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()

    # ------------------------------------------------------------------ logs

    def error_log(self) -> str:
        return _read_from(self.error_log_path, 0)

    def log_size(self) -> int:
        try:
            return os.path.getsize(self.error_log_path)
        except OSError:
            return 0

    def log_since(self, mark: int) -> str:
        return _read_from(self.error_log_path, mark)

    def wait_log(self, pattern: str, mark: int = 0, timeout: float = 5.0) -> Optional[re.Match]:
        """Wait until ``pattern`` (regex) appears in the log after ``mark``."""
        return _wait_for(lambda: self.log_since(mark), pattern, timeout)

    def access_log(self, mark: int = 0) -> str:
        return _read_from(self.access_log_path, mark)

    def access_log_size(self) -> int:
        try:
            return os.path.getsize(self.access_log_path)
        except OSError:
            return 0

    def wait_access_log(self, pattern: str, mark: int = 0, timeout: float = 10.0) -> Optional[re.Match]:
        """Wait until ``pattern`` (regex) appears in the access log after ``mark``.

        A request's access-log line is written once it is over, after every
        error-log line the module writes for it: waiting for it is how a test
        knows that the log it reads next is complete.
        """
        return _wait_for(lambda: self.access_log(mark), pattern, timeout)

    # ------------------------------------------------------------------ http

    @property
    def base_url(self) -> str:
        return "http://%s:%d" % (self.host, self.port)

    def url(self, path: str = "/") -> str:
        if not path.startswith("/"):
            path = "/" + path
        return self.base_url + path

    def raw(self, request: bytes, timeout: float = 10.0, read_all: bool = True) -> bytes:
        """Send raw bytes, return everything the server sends until it closes (or timeout)."""
        with socket.create_connection((self.host, self.port), timeout=timeout) as s:
            s.sendall(request)
            chunks = []
            if not read_all:
                return s.recv(65536)
            while True:
                try:
                    b = s.recv(65536)
                except socket.timeout:
                    break
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks)

    def __repr__(self) -> str:
        return "<Apache %s/%s/%s port=%d root=%s>" % (self.module, self.mpm, self.mode, self.port, self.root)


def _read_from(path: str, mark: int) -> str:
    """The text of ``path`` from byte ``mark`` on ("" if it cannot be read)."""
    try:
        with open(path, "rb") as f:
            f.seek(mark)
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _wait_for(read, pattern: str, timeout: float) -> Optional[re.Match]:
    """Wait until ``pattern`` matches what ``read()`` returns, or time runs out."""
    rx = re.compile(pattern)
    deadline = time.time() + timeout
    while True:
        m = rx.search(read())
        if m or time.time() >= deadline:
            return m
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # zombies count as dead
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        return st[st.rindex(")") + 2] != "Z"
    except OSError:
        return False


def crash_lines(text: str) -> List[str]:
    return [ln for ln in text.splitlines() if any(p.search(ln) for p in CRASH_PATTERNS)]


def assert_no_crash(apache: Apache, since: int = 0) -> None:
    """Fail if the error log shows a crashed child or a fatal Python error."""
    bad = crash_lines(apache.log_since(since))
    assert not bad, "Apache child crashed:\n" + "\n".join(bad[:20])
