#!/usr/bin/python3
"""Side-by-side benchmark driver for mod_wsgi_rs (run it through ``bench/run``).

Starts every contender once, on its own 127.0.0.1 port:

    rs           Apache (event MPM) + our module, embedded, WSGIApplicationGroup %{GLOBAL}
    mod_wsgi     the same Apache configuration + Debian's mod_wsgi (4.9.4 on Debian 12,
                 5.0.2 in the Debian 13 root)
    static       the same Apache configuration, no WSGI module: the same bytes as files
    granian      Granian (PyPI), WSGI interface, same app file      (if installed)
    gunicorn     Gunicorn (PyPI), gthread worker, same app file     (if installed)
    rs_daemon, mod_wsgi_daemon   WSGIDaemonProcess processes=2 threads=15
                 (only with MWRS_BENCH_DAEMON=1; ours is "n/a" while `apache2 -t` refuses it)

and drives them with ``wrk -t1`` in alternation (A B A B ...), RUNS rounds per cell.
Per run it records req/s, p50/p99 latency, failed requests, server CPU time per
request (utime+stime of every server process from /proc, before/after) and the
peak RSS of the server's worker processes (VmHWM, reset through clear_refs before
each run).  A soak step records the RSS of fresh rs / mod_wsgi instances after
100k and 300k (SOAK_FULL=1: 1M) /hello requests.

Environment:
    BENCH_SECONDS   seconds per measured run (default 5)
    BENCH_RUNS      runs per cell and contender (default 3, minimum 3)
    QUICK=1         2 s x 3 runs, hello at c=32 only, short soak
    SOAK_FULL=1     soak to 1M requests instead of 300k
    MWRS_BENCH_DAEMON=1   add the daemon-mode rows
    BENCH_SERVERS   comma list of contenders to keep (rs,mod_wsgi,static,granian,gunicorn,
                    rs_daemon,mod_wsgi_daemon); BENCH_WORKLOADS, BENCH_CONCS likewise
    BENCH_NO_SOAK=1 skip the soak (for iterating on one cell; not for RESULTS.md)
    BENCH_OUT       results JSON path (default bench/results/<date>-embedded.json,
                    QUICK runs go to bench/.work/results/)
    BENCH_WORK      work directory (default bench/.work; bench/run sets one per matrix root)

Inside a matrix root (`bash tests/matrix debian13 --run bench/run`, which sets
MWRS_MATRIX, MWRS_MODULE_PATH and PYO3_PYTHON): the Python is the root's, the
comparison module the root's own mod_wsgi.so, the default workloads hello, Flask
and Django at c=1 and c=32 (QUICK too), and every run, QUICK included, writes
bench/results/<date>-<root>-{quick,full}[-daemon].json for the report's section
of that root.
"""

import datetime
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
WORK = os.environ.get("BENCH_WORK") or os.path.join(BENCH, ".work")
MATRIX = os.environ.get("MWRS_MATRIX", "")  # tests/matrix's root tag (debian13, sid-python3.15), or ""
PY = (os.environ.get("PYO3_PYTHON") if MATRIX else None) or "/usr/bin/python3"
VENV = os.path.join(WORK, "venv")
SHM = "/dev/shm/mwrs-bench" + ("-" + MATRIX if MATRIX else "")  # /dev is the host's in a root
APPS = os.path.join(SHM, "apps")
DATA = os.path.join(SHM, "data")
HTDOCS = os.path.join(SHM, "htdocs")
LUA = os.path.join(BENCH, "wrk.lua")
HTTPD = "/usr/sbin/apache2"
MODDIR = "/usr/lib/apache2/modules"
RS_SO = os.environ.get("MWRS_MODULE_PATH") or os.path.join(REPO, "target", "release", "libmod_wsgi_rs.so")
MW_SO = os.path.join(MODDIR, "mod_wsgi.so")
CLK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1

QUICK = os.environ.get("QUICK") == "1"
SECONDS = 2 if QUICK else max(1, int(float(os.environ.get("BENCH_SECONDS", "5"))))  # wrk takes whole seconds
RUNS = max(3, int(os.environ.get("BENCH_RUNS", "3")))
WARMUP = 1
DAEMON = os.environ.get("MWRS_BENCH_DAEMON") == "1"
SOAK_FULL = os.environ.get("SOAK_FULL") == "1"
if QUICK:
    SOAK_STEPS = [20000, 50000]
else:
    SOAK_STEPS = [100000, 1000000] if SOAK_FULL else [100000, 300000]

THREADS = 32  # Gunicorn --threads, Granian --blocking-threads
# Apache ThreadsPerChild: more than c=32, because the kernel may hand most of wrk's 32
# connections to one child, and the event MPM closes keep-alive connections as soon as
# all of a child's workers are busy (wrk counts those as read errors). Seen with both
# modules at 32 per child; the same for every Apache contender.
APACHE_THREADS = 48
PROCS = 2  # Apache children, Gunicorn and Granian workers
# BENCH_APACHE=debian: Debian's own mpm_event.conf and apache2.conf values instead
# (ThreadsPerChild 25, up to 6 children, MaxRequestWorkers 150, MaxKeepAliveRequests 100),
# the configuration an operator who changes nothing runs. Its results are tagged "debconf".
DEBCONF = os.environ.get("BENCH_APACHE") == "debian"

# name, URL path, POST bytes, expected body length (None: any), static file (None: no static row)
WORKLOADS = [
    ("hello", "/hello", 0, 13, "hello"),
    ("100k", "/100k", 0, 102400, "100k.bin"),
    ("upload_1m", "/upload", 1048576, 7, None),
    ("file_10m", "/file10m", 0, 10485760, "10m.bin"),
    ("chunks_1k", "/chunks", 0, 1024000, None),
    ("flask", "/flask", 0, None, None),
    ("django", "/django", 0, None, None),
]
CONCS = [1, 32]
WORKLOADS_ALL = list(WORKLOADS)  # every route, for the static server's aliases and priming
if MATRIX:  # the rows the matrix report shows (issue 12): hello, Flask, Django at c=1 and c=32
    WORKLOADS = [w for w in WORKLOADS if w[0] in ("hello", "flask", "django")]
elif QUICK:
    WORKLOADS = WORKLOADS[:1]
    CONCS = [32]
if os.environ.get("BENCH_WORKLOADS"):
    WORKLOADS = [w for w in WORKLOADS_ALL if w[0] in os.environ["BENCH_WORKLOADS"].split(",")]
if os.environ.get("BENCH_CONCS"):
    CONCS = [int(c) for c in os.environ["BENCH_CONCS"].split(",")]
NO_SOAK = os.environ.get("BENCH_NO_SOAK") == "1"

T0 = time.time()


def log(msg):
    print("[%6.1fs] %s" % (time.time() - T0, msg), flush=True)


# ------------------------------------------------------------------ /proc


def _stat_fields(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    return s[s.rfind(")") + 2:].split()


def descendants(root):
    """root and every process below it."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            ppid = int(_stat_fields(int(d))[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_ticks(pids):
    t = 0
    for p in pids:
        try:
            f = _stat_fields(p)
            t += int(f[11]) + int(f[12])
        except (OSError, IndexError, ValueError):
            pass
    return t


def status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_hwm(pids):
    for p in pids:
        try:
            with open("/proc/%d/clear_refs" % p, "w") as f:
                f.write("5")
        except OSError:
            pass


def sys_busy_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]  # minus idle and iowait


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=60.0, proc=None):
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


# ------------------------------------------------------------------ servers


class Server:
    label = ""
    mode = "embedded"

    def __init__(self, name):
        self.name = name
        self.port = free_port()
        self.available = True
        self.reason = ""
        self.root_pid = None

    def pids(self):
        return descendants(self.root_pid) if self.root_pid else []

    def workers(self):
        ps = self.pids()
        return ps[1:] or ps


MPM_CONF = """\
LoadModule mpm_event_module {moddir}/mod_mpm_event.so
StartServers {procs}
ServerLimit {procs}
ThreadLimit {threads}
ThreadsPerChild {threads}
MaxRequestWorkers {maxrw}
MinSpareThreads {threads}
MaxSpareThreads {maxrw}
MaxConnectionsPerChild 0
"""
# /etc/apache2/mods-available/mpm_event.conf on Debian 12 and 13.
MPM_CONF_DEBIAN = """\
LoadModule mpm_event_module {moddir}/mod_mpm_event.so
StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadLimit 64
ThreadsPerChild 25
MaxRequestWorkers 150
MaxConnectionsPerChild 0
"""
KEEPALIVE_MAX = 100 if DEBCONF else 0  # Debian's apache2.conf: MaxKeepAliveRequests 100


def mpm_conf():
    if DEBCONF:
        return MPM_CONF_DEBIAN.format(moddir=MODDIR)
    return MPM_CONF.format(moddir=MODDIR, procs=PROCS, threads=APACHE_THREADS, maxrw=PROCS * APACHE_THREADS)


def apache_desc():
    """The Apache configuration as the report's Method says it."""
    if DEBCONF:
        mpm = ("Debian's default configuration: event MPM, StartServers 2, ThreadsPerChild 25, ThreadLimit 64, "
               "MinSpareThreads 25, MaxSpareThreads 75, MaxRequestWorkers 150")
    else:
        mpm = "event MPM, StartServers/ServerLimit %d, ThreadsPerChild %d, MaxRequestWorkers %d" % (
            PROCS, APACHE_THREADS, PROCS * APACHE_THREADS)
    return ("%s, KeepAlive On, MaxKeepAliveRequests %d, KeepAliveTimeout 5, EnableSendfile On, "
            "LogLevel warn, no access log; WSGIApplicationGroup %%{GLOBAL}, "
            "WSGIScriptAlias / app.py process-group=%%{GLOBAL} application-group=%%{GLOBAL}, "
            "WSGIEnableSendfile On" % (mpm, KEEPALIVE_MAX))


class Apache(Server):
    def __init__(self, name, kind, label):
        super().__init__(name)
        self.kind = kind  # rs | mod_wsgi | static | rs_daemon | mod_wsgi_daemon
        self.label = label
        self.mode = "daemon" if kind.endswith("_daemon") else "embedded"
        self.root = os.path.join(SHM, "srv-" + name)
        shutil.rmtree(self.root, ignore_errors=True)
        os.makedirs(os.path.join(self.root, "run"))
        os.chmod(self.root, 0o755)
        os.chmod(os.path.join(self.root, "run"), 0o1777)
        self.conf = os.path.join(self.root, "httpd.conf")
        self.pidfile = os.path.join(self.root, "run", "httpd.pid")
        self.errlog = os.path.join(self.root, "error.log")
        with open(self.conf, "w") as f:
            f.write(self.config())
        r = subprocess.run([HTTPD, "-t", "-f", self.conf], capture_output=True, text=True)
        if r.returncode != 0:
            self.available = False
            msg = (r.stderr or r.stdout).strip().splitlines()
            self.reason = " ".join(msg[:2]) if msg else "apache2 -t failed"
            if kind == "rs_daemon":
                self.reason = "n/a (daemon mode not implemented): " + self.reason

    def config(self):
        c = [
            "ServerRoot %s" % self.root,
            "ServerName 127.0.0.1",
            "Listen 127.0.0.1:%d" % self.port,
            "PidFile %s" % self.pidfile,
            "ErrorLog %s" % self.errlog,
            "LogLevel warn",
            "Mutex file:%s/run default" % self.root,
            "DefaultRuntimeDir %s/run" % self.root,
            mpm_conf(),
            "LoadModule authz_core_module %s/mod_authz_core.so" % MODDIR,
            "LoadModule mime_module %s/mod_mime.so" % MODDIR,
            "LoadModule alias_module %s/mod_alias.so" % MODDIR,
            "TypesConfig /etc/mime.types",
            "KeepAlive On",
            "MaxKeepAliveRequests %d" % KEEPALIVE_MAX,
            "KeepAliveTimeout 5",
            "EnableSendfile On",
            "EnableMMAP On",
            "Timeout 60",
            "DocumentRoot %s" % HTDOCS,
            "<Directory />\n  Require all granted\n  AllowOverride None\n</Directory>",
        ]
        if os.geteuid() == 0:
            c += ["User www-data", "Group www-data"]
        so = RS_SO if self.kind.startswith("rs") else MW_SO
        if self.kind == "static":
            for _, path, _, _, fname in WORKLOADS_ALL:
                if fname:
                    c.append("Alias %s %s/%s" % (path, HTDOCS, fname))
        elif self.mode == "embedded":
            c += [
                "LoadModule wsgi_module %s" % so,
                "WSGIPythonPath %s" % APPS,
                "WSGIApplicationGroup %{GLOBAL}",
                "WSGIScriptAlias / %s/app.py process-group=%%{GLOBAL} application-group=%%{GLOBAL}" % APPS,
                "<Directory %s>\n  WSGIEnableSendfile On\n  Require all granted\n</Directory>" % APPS,
            ]
        else:
            c += [
                "LoadModule wsgi_module %s" % so,
                "WSGISocketPrefix %s/run/wsgi" % self.root,
                "WSGIRestrictEmbedded On",
                "WSGIDaemonProcess bench processes=2 threads=15 python-path=%s" % APPS,
                "WSGIProcessGroup bench",
                "WSGIApplicationGroup %{GLOBAL}",
                "WSGIScriptAlias / %s/app.py process-group=bench application-group=%%{GLOBAL}" % APPS,
                "<Directory %s>\n  WSGIEnableSendfile On\n  Require all granted\n</Directory>" % APPS,
            ]
        return "\n".join(c) + "\n"

    def start(self):
        if not self.available:
            return
        if os.path.exists(self.pidfile):
            os.unlink(self.pidfile)
        r = subprocess.run([HTTPD, "-f", self.conf, "-k", "start"], capture_output=True, text=True)
        ok = r.returncode == 0 and wait_port(self.port, 60)
        end = time.time() + 10
        while ok and not os.path.exists(self.pidfile) and time.time() < end:
            time.sleep(0.05)
        if not ok or not os.path.exists(self.pidfile):
            self.available = False
            self.reason = "failed to start: %s %s" % (r.stderr.strip()[:300], self.tail_errlog())
            return
        with open(self.pidfile) as f:
            self.root_pid = int(f.read().strip())
        # wait for the children
        end = time.time() + 20
        while len(self.pids()) < 1 + PROCS and time.time() < end:
            time.sleep(0.1)

    def stop(self):
        if not self.root_pid:
            return
        subprocess.run([HTTPD, "-f", self.conf, "-k", "stop"], capture_output=True)
        end = time.time() + 30
        while time.time() < end and os.path.exists("/proc/%d" % self.root_pid):
            time.sleep(0.1)
        self.root_pid = None

    def workers(self):
        return self.pids()[1:] or self.pids()  # children (incl. daemon processes), not the parent

    def tail_errlog(self, n=5):
        try:
            with open(self.errlog, errors="replace") as f:
                return " | ".join(f.read().strip().splitlines()[-n:])
        except OSError:
            return ""

    def errlog_summary(self):
        try:
            with open(self.errlog, errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return {"lines": 0}
        bad = [l for l in lines if re.search(r"exit signal|Fatal Python error|Segmentation fault|panicked at|\[[a-z_]*:(error|crit|alert|emerg)\]", l)]
        return {"lines": len(lines), "errors": len(bad), "first_errors": bad[:5]}


class Proc(Server):
    """Granian or Gunicorn, started by us in its own session."""

    def __init__(self, name, label, argv):
        super().__init__(name)
        self.label = label
        self.argv = [a.replace("@PORT@", str(self.port)) for a in argv]
        self.proc = None
        self.logpath = os.path.join(SHM, name + ".log")
        if not os.path.exists(self.argv[0]):
            self.available = False
            self.reason = "%s not installed (pip failed or unreachable)" % name

    def start(self):
        if not self.available:
            return
        env = dict(os.environ, MWRS_BENCH_DATA=DATA, PYTHONDONTWRITEBYTECODE="1")
        self.proc = subprocess.Popen(self.argv, cwd=APPS, env=env, stdout=open(self.logpath, "w"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        if not wait_port(self.port, 60, self.proc):
            self.available = False
            self.reason = "failed to start: " + self.tail_errlog()
            self.stop()
            return
        self.root_pid = self.proc.pid
        end = time.time() + 20
        while len(self.pids()) < 1 + PROCS and time.time() < end:
            time.sleep(0.1)
        time.sleep(1.0)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # the session we started
                self.proc.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.root_pid = None

    def tail_errlog(self, n=5):
        try:
            with open(self.logpath, errors="replace") as f:
                return " | ".join(f.read().strip().splitlines()[-n:])
        except OSError:
            return ""

    def errlog_summary(self):
        return {"tail": self.tail_errlog(3)}



# ------------------------------------------------------------------ setup


def prepare_tree():
    shutil.rmtree(SHM, ignore_errors=True)
    for d in (SHM, APPS, DATA, HTDOCS):
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
    src = os.path.join(BENCH, "apps")
    shutil.copytree(src, APPS, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for dp, dn, fn in os.walk(SHM):
        for d in dn:
            os.chmod(os.path.join(dp, d), 0o755)
        for f in fn:
            os.chmod(os.path.join(dp, f), 0o644)
    with open(os.path.join(DATA, "10m.bin"), "wb") as f:
        f.write(os.urandom(10 * 1024 * 1024))
    with open(os.path.join(HTDOCS, "hello"), "wb") as f:
        f.write(b"Hello, world!")
    with open(os.path.join(HTDOCS, "100k.bin"), "wb") as f:
        f.write(b"x" * 102400)
    os.link(os.path.join(DATA, "10m.bin"), os.path.join(HTDOCS, "10m.bin"))
    for f in ("hello", "100k.bin"):
        os.chmod(os.path.join(HTDOCS, f), 0o644)
    os.chmod(os.path.join(DATA, "10m.bin"), 0o644)


def mod_wsgi_label():
    """'mod_wsgi 4.9.4' (Debian 12) or 'mod_wsgi 5.0.2' (Debian 13): the
    installed package's upstream version."""
    v = sh("dpkg-query -W -f '${Version}' libapache2-mod-wsgi-py3")
    return "mod_wsgi " + (re.sub(r"^\d+:", "", v).split("-")[0] if v else "(version unknown)")


def make_servers():
    vb = os.path.join(VENV, "bin")
    mw = mod_wsgi_label()
    servers = [
        Apache("rs", "rs", "mod_wsgi_rs"),
        Apache("mod_wsgi", "mod_wsgi", mw),
        Apache("static", "static", "Apache static file"),
        Proc("granian", "Granian", [
            os.path.join(vb, "granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", "@PORT@",
            "--workers", str(PROCS), "--runtime-threads", "1", "--blocking-threads", str(THREADS),
            "--http", "1", "--no-ws", "--log-level", "warning", "--no-access-log", "app:application"]),
        Proc("gunicorn", "Gunicorn gthread", [
            os.path.join(vb, "gunicorn"), "-w", str(PROCS), "-k", "gthread", "--threads", str(THREADS),
            "--keep-alive", "5", "--worker-tmp-dir", "/dev/shm", "-b", "127.0.0.1:@PORT@",
            "--log-level", "warning", "app:application"]),
    ]
    if DAEMON:
        servers += [
            Apache("rs_daemon", "rs_daemon", "mod_wsgi_rs daemon"),
            Apache("mod_wsgi_daemon", "mod_wsgi_daemon", mw + " daemon"),
        ]
    if os.environ.get("BENCH_SERVERS"):
        keep = os.environ["BENCH_SERVERS"].split(",")
        servers = [s for s in servers if s.name in keep]
    return servers


def request(port, path, post):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        if post:
            conn.request("POST", path, body=b"x" * post, headers={"Content-Type": "application/octet-stream"})
        else:
            conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def validate(server, wl):
    name, path, post, length, static = wl
    try:
        st, body = request(server.port, path, post)
    except Exception as e:  # noqa: BLE001
        return "request failed: %r" % e
    if st != 200:
        return "status %d" % st
    if length is not None and len(body) != length:
        return "body length %d, expected %d" % (len(body), length)
    if name == "upload_1m" and body != b"1048576":
        return "upload body %r" % body[:40]
    if name == "flask" and b"Hello, World!" not in body:
        return "unexpected flask body %r" % body[:60]
    if name == "django" and b"item 9" not in body:
        return "unexpected django body %r" % body[:60]
    return None


# ------------------------------------------------------------------ measuring


def run_wrk(port, path, conc, secs, post):
    env = dict(os.environ)
    env.pop("BENCH_POST_BYTES", None)
    if post:
        env["BENCH_POST_BYTES"] = str(post)
    cmd = ["wrk", "-t1", "-c%d" % conc, "-d%ss" % secs, "--latency", "--timeout", "10s",
           "-s", LUA, "http://127.0.0.1:%d%s" % (port, path)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    m = re.search(r"^BENCHJSON (\{.*\})$", out, re.M)
    if not m:
        raise RuntimeError("wrk failed (rc %s): %s %s" % (p.returncode, out[-500:], err[-500:]))
    res = json.loads(m.group(1))
    res["wrk_cpu_s"] = ru.ru_utime + ru.ru_stime
    return res


def measure(server, wl, conc, secs):
    name, path, post, _, _ = wl
    pids = server.pids()
    workers = server.workers()
    reset_hwm(pids)
    c0, s0, t0 = cpu_ticks(pids), sys_busy_ticks(), time.time()
    r = run_wrk(server.port, path, conc, secs, post)
    c1, s1, t1 = cpu_ticks(pids), sys_busy_ticks(), time.time()
    n = max(r["requests"], 1)
    server_cpu_s = (c1 - c0) / CLK
    sys_cpu_s = (s1 - s0) / CLK
    other = max(0.0, sys_cpu_s - server_cpu_s - r["wrk_cpu_s"])
    failed = r["err_status"] + r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"]
    return {
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "requests": r["requests"],
        "p50_us": r["p50_us"], "p90_us": r["p90_us"], "p99_us": r["p99_us"], "max_us": r["max_us"],
        "failed": failed,
        "errors": {k: r[k] for k in ("err_status", "err_connect", "err_read", "err_write", "err_timeout")},
        "mb_per_s": r["bytes"] / (r["duration_us"] / 1e6) / 1e6,
        "cpu_us_per_req": server_cpu_s * 1e6 / n,
        "server_cpu_pct": 100.0 * server_cpu_s / (t1 - t0),
        "wrk_cpu_pct": 100.0 * r["wrk_cpu_s"] / (t1 - t0),
        "other_cpu_pct": 100.0 * other / (t1 - t0),  # other work on the machine, % of one core
        "peak_rss_kb": max([status_kb(p, "VmHWM") for p in workers] or [0]),
        "nprocs": len(pids),
    }


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def summarize(runs):
    s = {}
    for k in ("rps", "p50_us", "p99_us", "cpu_us_per_req", "peak_rss_kb", "mb_per_s", "other_cpu_pct"):
        v = [r[k] for r in runs]
        s[k] = {"median": median(v), "min": min(v), "max": max(v)}
    s["failed"] = sum(r["failed"] for r in runs)
    return s


def bench_cells(servers, results):
    for conc in CONCS:
        for wl in WORKLOADS:
            name, path, post, _, static = wl
            cands = [s for s in servers if s.name != "static" or static]
            live = []
            for s in cands:
                cell = {"workload": name, "conc": conc, "server": s.name, "label": s.label, "mode": s.mode}
                if not s.available:
                    cell.update(status="n/a", reason=s.reason)
                    results["cells"].append(cell)
                    continue
                bad = validate(s, wl)
                if bad:
                    cell.update(status="invalid", reason=bad)
                    results["cells"].append(cell)
                    log("  %-16s %s c=%d INVALID: %s" % (s.name, name, conc, bad))
                    continue
                cell.update(status="ok", runs=[])
                results["cells"].append(cell)
                live.append((s, cell))
            la = loadavg()
            log("cell %s c=%d  (%s)  loadavg %s" % (name, conc, ", ".join(s.name for s, _ in live), la))
            for s, cell in live:  # warm-up
                cell["loadavg_before"] = la
                try:
                    run_wrk(s.port, path, conc, WARMUP, post)
                except Exception as e:  # noqa: BLE001
                    log("  warm-up %s failed: %s" % (s.name, e))
            for rnd in range(RUNS):
                for s, cell in live:  # A B A B ...
                    try:
                        r = measure(s, wl, conc, SECONDS)
                    except Exception as e:  # noqa: BLE001
                        log("  %s run %d failed: %s" % (s.name, rnd, e))
                        cell.setdefault("run_errors", []).append(str(e)[:300])
                        continue
                    cell["runs"].append(r)
                    log("  %-16s r%d %9.1f req/s  p50 %7dus p99 %7dus  cpu %7.1fus/req  rss %6dkB  fail %d  other %.0f%%"
                        % (s.name, rnd, r["rps"], r["p50_us"], r["p99_us"], r["cpu_us_per_req"],
                           r["peak_rss_kb"], r["failed"], r["other_cpu_pct"]))
            for s, cell in live:
                if cell["runs"]:
                    cell["summary"] = summarize(cell["runs"])
                else:
                    cell["status"] = "failed"
            save(results)


def run_ab(port, n, conc=32):
    r = subprocess.run(["ab", "-q", "-k", "-c", str(conc), "-n", str(n), "http://127.0.0.1:%d/hello" % port],
                       capture_output=True, text=True)
    def grab(key):
        m = re.search(r"^%s:\s+(\d+)" % key, r.stdout, re.M)
        return int(m.group(1)) if m else 0
    return {"complete": grab("Complete requests"), "failed": grab("Failed requests"),
            "non2xx": grab("Non-2xx responses"), "rc": r.returncode}


def soak(servers, results):
    out = {"steps": SOAK_STEPS, "servers": {}}
    for s in servers:
        if s.name not in ("rs", "mod_wsgi") or not s.available:
            continue
        s.stop()
        s.start()
        if not s.available:
            out["servers"][s.name] = {"status": "n/a", "reason": s.reason}
            continue
        rows = []
        done = 0
        validate(s, WORKLOADS_ALL[0])  # load the app with one request before the load starts
        warm = run_ab(s.port, 10000)
        done += warm["complete"]
        def snap(label, ab):
            ws = s.workers()
            rss = [status_kb(p, "VmRSS") for p in ws]
            rows.append({"after": label, "requests": done, "rss_kb_max": max(rss or [0]),
                         "rss_kb_sum": sum(rss), "rss_kb": rss, "failed": ab["failed"] + ab["non2xx"]})
            log("  soak %-9s after %8d: RSS max %d kB, sum %d kB (%d children), failed %d"
                % (s.name, done, max(rss or [0]), sum(rss), len(rss), ab["failed"] + ab["non2xx"]))
        snap("10000 (warm-up)", warm)
        for target in SOAK_STEPS:
            ab = run_ab(s.port, target - done)
            done += ab["complete"]
            snap(str(target), ab)
        out["servers"][s.name] = {"status": "ok", "rows": rows, "errlog": s.errlog_summary()}
    results["soak"] = out
    save(results)


# ------------------------------------------------------------------ metadata


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception:  # noqa: BLE001
        return ""


def metadata():
    vpy = os.path.join(VENV, "bin", "python")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "nproc": NCPU,
        "cpu_model": sh("lscpu | sed -n 's/^Model name:[ \\t]*//p'"),
        "kernel": sh("uname -srm"),
        "os": sh(". /etc/os-release; echo $PRETTY_NAME"),
        "mem_total": sh("free -m | awk '/Mem:/{print $2\" MB\"}'"),
        "apache": sh(HTTPD + " -v | head -1"),
        "python": sh(PY + " --version"),
        "matrix": MATRIX,
        "mod_wsgi": sh("dpkg-query -W -f '${Package} ${Version}' libapache2-mod-wsgi-py3"),
        # A matrix root has no git: tests/matrix --run passes the checkout's revision.
        "mod_wsgi_rs_rev": os.environ.get("MWRS_MATRIX_REV") or sh("git -C %s rev-parse --short HEAD" % REPO)
        + ("+dirty" if sh("git -C %s status --porcelain -- src csrc Cargo.toml Cargo.lock build.rs" % REPO) else ""),
        "wrk": sh("dpkg-query -W -f '${Version}' wrk"),
        "flask_django": sh(PY + " -c 'import flask,django;print(\"Flask\",flask.__version__,\"Django\",django.__version__)'"),
        "granian": sh(vpy + " -c 'import granian;print(granian.__version__)'") if os.path.exists(vpy) else "",
        "gunicorn": sh(vpy + " -c 'import gunicorn;print(gunicorn.__version__)'") if os.path.exists(vpy) else "",
        "config": {
            "quick": QUICK, "seconds": SECONDS, "runs": RUNS, "warmup_s": WARMUP, "daemon": DAEMON,
            "concurrency": CONCS, "workloads": [w[0] for w in WORKLOADS],
            "apache": apache_desc(), "debconf": DEBCONF,
            "daemon_conf": "WSGIRestrictEmbedded On; WSGIDaemonProcess bench processes=2 threads=15",
            "granian": "--interface wsgi --workers %d --runtime-threads 1 --blocking-threads %d --http 1 --no-ws --no-access-log" % (PROCS, THREADS),
            "gunicorn": "-w %d -k gthread --threads %d --keep-alive 5" % (PROCS, THREADS),
            "wrk": "wrk -t1 -cC -dSs --latency --timeout 10s -s bench/wrk.lua",
            "soak": "ab -k -c 32 on /hello, fresh instance, 10k warm-up, RSS (VmRSS) of each child after each step",
        },
    }


OUT = None


def save(results):
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1, sort_keys=False)
    os.replace(tmp, OUT)


def main():
    global OUT
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    # A matrix root's runs, QUICK ones too, go to bench/results/ for that root's report section
    # (which says when its figures come from a QUICK run).
    default_dir = os.path.join(WORK, "results") if QUICK and not MATRIX else os.path.join(BENCH, "results")
    OUT = os.environ.get("BENCH_OUT") or os.path.join(
        default_dir, "%s-%s%s%s%s.json" % (stamp, MATRIX + "-" if MATRIX else "", "debconf-" if DEBCONF else "", "quick" if QUICK else "full",
                                        "-daemon" if DAEMON else ""))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    results = {"meta": metadata(), "cells": [], "soak": None, "servers": {}}
    results["meta"]["loadavg_start"] = loadavg()
    log("results -> %s" % OUT)
    prepare_tree()
    servers = make_servers()
    try:
        for s in servers:
            s.start()
            log("server %-16s port %5d %s" % (s.name, s.port, "up, pids %s" % s.pids() if s.available else "UNAVAILABLE: " + s.reason))
        for s in servers:  # prime every route once
            if s.available:
                for wl in WORKLOADS_ALL if s.name == "static" else WORKLOADS:
                    if s.name != "static" or wl[4]:
                        validate(s, wl)
        bench_cells(servers, results)
        if not NO_SOAK:
            soak(servers, results)
    finally:
        for s in servers:
            results["servers"][s.name] = {"label": s.label, "mode": s.mode, "available": s.available,
                                          "reason": s.reason, "port": s.port, "log": s.errlog_summary()}
            s.stop()
        results["meta"]["loadavg_end"] = loadavg()
        results["meta"]["elapsed_s"] = round(time.time() - T0, 1)
        save(results)
        log("done: %s" % OUT)
    print(OUT)


if __name__ == "__main__":
    main()
