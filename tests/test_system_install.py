"""Installation into Debian's own Apache through a2enmod (issue 7).

Only when MWRS_TEST_SYSTEM_INSTALL=1 (tests/run sets it when CI=true), and as
root: installs the module with ``bash apxs/install``, disables
Debian's mod_wsgi (``a2dismod -f wsgi``), enables ``wsgi_rs``, adds a site
in /etc/apache2/sites-available serving a minimal Django project
(examples/django) with WSGIScriptAlias on a free high port, enables it,
starts Debian's stock apache2 the way its init script does
(``. /etc/apache2/envvars && apache2 -k start``), requests Django pages and
checks that the running server loaded mod_wsgi_rs.so as ``wsgi_module``.

Everything it touches is restored in a ``finally`` block, and the test
checks it was: the links in mods-enabled and sites-enabled, the a2enmod
state in /var/lib/apache2, ports.conf, the installed files, and whether
apache2 was running (a running apache2 is stopped for the test and started
again afterwards). During the test ports.conf is emptied, so the stock
configuration does not need ports 80 and 443.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from harness import apache as _ap

pytestmark = [
    # It stops a running system apache2 and edits /etc/apache2 for its
    # duration: never by accident on a server that serves traffic.
    pytest.mark.skipif(os.environ.get("MWRS_TEST_SYSTEM_INSTALL") != "1",
                       reason="changes the system Apache (/etc/apache2, stops a running apache2): "
                              "set MWRS_TEST_SYSTEM_INSTALL=1 to run it (tests/run sets it when CI=true)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="changes the system Apache in /etc/apache2: needs root"),
    pytest.mark.skipif(not os.path.isdir("/etc/apache2/mods-available"),
                       reason="not a Debian-style Apache (/etc/apache2/mods-available missing)"),
    pytest.mark.skipif(shutil.which("a2enmod") is None, reason="a2enmod not found (apt-get install apache2)"),
    pytest.mark.mwrs_only("installs mod_wsgi_rs into the system Apache"),
]

ETC = "/etc/apache2"
SITE = "mod-wsgi-rs-test-django"
SITE_FILE = os.path.join(ETC, "sites-available", SITE + ".conf")
PORTS = os.path.join(ETC, "ports.conf")
STATE_DIRS = [os.path.join(ETC, "mods-enabled"), os.path.join(ETC, "sites-enabled"),
              os.path.join(ETC, "conf-enabled"), "/var/lib/apache2"]
ENVVARS = ". /etc/apache2/envvars && "


def sh(cmd, check=True, timeout=30):
    p = subprocess.run(["bash", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=timeout, cwd=_ap.REPO_ROOT)
    out = p.stdout.decode("utf-8", "replace")
    if check and p.returncode != 0:
        raise AssertionError("`%s` failed (rc=%d):\n%s" % (cmd, p.returncode, out))
    return p.returncode, out


def envvar(name):
    return sh(ENVVARS + 'printf %s "$' + name + '"')[1]


def libexecdir():
    apxs = shutil.which("apxs") or shutil.which("apxs2")
    if not apxs:
        pytest.skip("apxs not found (apt-get install apache2-dev)")
    return subprocess.run([apxs, "-q", "LIBEXECDIR"], stdout=subprocess.PIPE, check=True,
                          timeout=10).stdout.decode().strip()


def tree(d):
    """Entries of a directory tree: relative path -> ('link', target) | ('file', bytes) | ('dir',)."""
    out = {}
    if not os.path.isdir(d):
        return out
    for root, dirs, files in os.walk(d):
        for name in dirs + files:
            p = os.path.join(root, name)
            rel = os.path.relpath(p, d)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("dir",)
            else:
                with open(p, "rb") as f:
                    out[rel] = ("file", f.read())
    return out


def restore_tree(d, saved):
    now = tree(d)
    for rel in sorted(set(now) - set(saved), key=len, reverse=True):
        p = os.path.join(d, rel)
        if os.path.islink(p) or not os.path.isdir(p):
            os.unlink(p)
        else:
            shutil.rmtree(p)
    for rel in sorted(saved, key=len):
        p = os.path.join(d, rel)
        kind = saved[rel]
        if now.get(rel) == kind:
            continue
        if os.path.lexists(p) and kind[0] != "dir":
            os.unlink(p)
        if kind[0] == "dir":
            os.makedirs(p, exist_ok=True)
        elif kind[0] == "link":
            os.symlink(kind[1], p)
        else:
            with open(p, "wb") as f:
                f.write(kind[1])


def read_or_none(p):
    try:
        with open(p, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def write_or_remove(p, content):
    if content is None:
        if os.path.lexists(p):
            os.unlink(p)
    else:
        with open(p, "wb") as f:
            f.write(content)


def apache_pid():
    """PID of a running stock apache2 (from Debian's PidFile), or None."""
    pidfile = envvar("APACHE_PID_FILE") or "/var/run/apache2/apache2.pid"
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
        with open("/proc/%d/comm" % pid) as f:
            if f.read().strip() not in ("apache2", "httpd"):
                return None
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        return None if st[st.rindex(")") + 2] == "Z" else pid
    except (OSError, ValueError):
        return None


def stop_apache(timeout=15):
    pid = apache_pid()
    if pid is None:
        return
    sh(ENVVARS + "/usr/sbin/apache2 -k stop", check=False)
    deadline = time.time() + timeout
    while time.time() < deadline and apache_pid() == pid:
        time.sleep(0.1)
    if apache_pid() == pid:
        os.kill(pid, signal.SIGKILL)


def start_apache():
    # What Debian's init script does before starting apache2 (the runtime
    # directories live on tmpfs and may be missing on a fresh machine).
    sh(ENVVARS + 'mkdir -p "$APACHE_RUN_DIR" "$APACHE_LOCK_DIR" "$APACHE_LOG_DIR" && '
       'chown "$APACHE_RUN_USER" "$APACHE_LOCK_DIR"')
    return sh(ENVVARS + "/usr/sbin/apache2 -k start", check=False)


def get(url, timeout=10):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def snapshot(lib):
    return {
        "trees": {d: tree(d) for d in STATE_DIRS},
        "files": {p: read_or_none(p) for p in [
            PORTS, SITE_FILE,
            os.path.join(ETC, "mods-available", "wsgi_rs.load"),
            os.path.join(ETC, "mods-available", "wsgi_rs.conf"),
            os.path.join(lib, "mod_wsgi_rs.so"),
        ]},
        "running": apache_pid() is not None,
    }


def test_a2enmod_wsgi_rs_serves_django_site():
    lib = libexecdir()
    so = os.path.join(lib, "mod_wsgi_rs.so")
    before = snapshot(lib)
    wsgi_was_enabled = os.path.lexists(os.path.join(ETC, "mods-enabled", "wsgi.load"))
    error_log = os.path.join(envvar("APACHE_LOG_DIR") or "/var/log/apache2", "error.log")
    log_mark = os.path.getsize(error_log) if os.path.exists(error_log) else 0
    project = tempfile.mkdtemp(prefix="mwrs-system-django-", dir="/tmp")
    port = _ap.free_port()
    restored = False
    try:
        # A www-data readable copy of the Django example.
        os.chmod(project, 0o755)
        src = os.path.join(_ap.REPO_ROOT, "examples", "django")
        shutil.copytree(os.path.join(src, "mysite"), os.path.join(project, "mysite"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        sh("chmod -R a+rX %s" % project)

        stop_apache()

        rc, out = sh("MWRS_SKIP_BUILD=1 MWRS_MODULE_PATH=%s bash apxs/install" % _ap.rs_module_path())
        assert "==> installing %s" % so in out, out
        # The built module, stripped of its debug info as apxs/install ships it.
        stripped = os.path.join(project, "stripped.so")
        sh("objcopy --strip-debug --strip-unneeded %s %s" % (_ap.rs_module_path(), stripped))
        with open(stripped, "rb") as a, open(so, "rb") as b:
            assert a.read() == b.read(), "apxs/install did not install the built module"
        with open(os.path.join(ETC, "mods-available", "wsgi_rs.load")) as f:
            assert "LoadModule wsgi_module %s" % so in f.read()
        if wsgi_was_enabled:
            assert "a2dismod wsgi" in out, out  # the three migration steps are printed

        if wsgi_was_enabled:
            sh("a2dismod -q -f wsgi")
        sh("a2enmod -q wsgi_rs")
        assert os.path.islink(os.path.join(ETC, "mods-enabled", "wsgi_rs.load"))
        assert not os.path.lexists(os.path.join(ETC, "mods-enabled", "wsgi.load"))

        with open(SITE_FILE, "w") as f:
            f.write(
                "# written by tests/test_system_install.py; removed when it ends\n"
                "Listen 127.0.0.1:{port}\n"
                "<VirtualHost 127.0.0.1:{port}>\n"
                "    ServerName 127.0.0.1\n"
                "    WSGIScriptAlias / {project}/mysite/wsgi.py\n"
                "    <Directory {project}/mysite>\n"
                "        <Files wsgi.py>\n"
                "            Require all granted\n"
                "        </Files>\n"
                "    </Directory>\n"
                "</VirtualHost>\n".format(port=port, project=project)
            )
        sh("a2ensite -q %s" % SITE)
        # The stock ports.conf listens on 80 and 443, which may be taken on a
        # CI machine; the test site has its own Listen line.
        with open(PORTS, "w") as f:
            f.write("# emptied by tests/test_system_install.py; restored when it ends\n")

        rc, out = sh(ENVVARS + "/usr/sbin/apache2 -t")
        assert rc == 0 and "Syntax OK" in out, out
        rc, out = start_apache()
        assert rc == 0, "apache2 -k start failed:\n%s" % out

        deadline = time.time() + 20
        last = None
        while time.time() < deadline:
            try:
                last = get("http://127.0.0.1:%d/" % port, timeout=5)
                break
            except OSError as e:
                last = e
                time.sleep(0.2)
        assert isinstance(last, tuple), "the site does not answer: %r" % (last,)
        status, headers, body = last
        assert (status, body) == (200, b"Hello from Django!\n")
        status, headers, body = get("http://127.0.0.1:%d/api/info?x=1" % port)
        assert status == 200 and json.loads(body)["path"] == "/api/info", body
        assert get("http://127.0.0.1:%d/missing" % port)[0] == 404

        # apache2 -M lists wsgi_module, and the running server has our file mapped.
        rc, out = sh(ENVVARS + "/usr/sbin/apache2 -M")
        assert " wsgi_module (shared)" in out, out
        pid = apache_pid()
        assert pid, "apache2 is not running"
        with open("/proc/%d/maps" % pid) as f:
            maps = f.read()
        assert so in maps, "%s is not loaded by apache2 (pid %d)" % (so, pid)
        assert "/mod_wsgi.so" not in maps
        log = (read_or_none(error_log) or b"")[log_mark:].decode("utf-8", "replace")
        assert "WSGI-RS-E" not in log, log

        # restore, then check it was restored
        restore(lib, before, wsgi_was_enabled)
        restored = True
        after = snapshot(lib)
        for d in STATE_DIRS:
            assert after["trees"][d] == before["trees"][d], "%s not restored" % d
        assert after["files"] == before["files"], "files not restored: %s" % [
            p for p in before["files"] if before["files"][p] != after["files"][p]]
        assert after["running"] == before["running"]
    finally:
        if not restored:
            restore(lib, before, wsgi_was_enabled)
        shutil.rmtree(project, ignore_errors=True)


def restore(lib, before, wsgi_was_enabled):
    errors = []

    def attempt(what, fn):
        try:
            fn()
        except Exception as e:  # keep restoring the rest
            errors.append("%s: %s" % (what, e))

    attempt("stop apache2", stop_apache)
    attempt("a2dissite", lambda: sh("a2dissite -q %s" % SITE, check=False))
    attempt("a2dismod wsgi_rs", lambda: sh("a2dismod -q -f wsgi_rs", check=False))
    if wsgi_was_enabled:
        attempt("a2enmod wsgi", lambda: sh("a2enmod -q wsgi", check=False))
    for p, content in before["files"].items():
        attempt("restore " + p, lambda p=p, c=content: write_or_remove(p, c))
    for d in STATE_DIRS:
        attempt("restore " + d, lambda d=d: restore_tree(d, before["trees"][d]))
    if before["running"]:
        attempt("start apache2", start_apache)
    if errors:
        raise AssertionError("restoring the system Apache failed:\n" + "\n".join(errors))
