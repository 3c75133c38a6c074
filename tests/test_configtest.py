"""Configuration diagnostics (issue 7): ``apache2 -t`` fails, naming the
directive, the file and line when Apache provides them, and the fix.

Each case writes a configuration with one mistake, runs the harness's
configtest() (``apache2 -t -f CONF``) and checks the exit status and the
message. A socket directory the Apache children cannot reach is only
detectable when Apache starts (the check needs the final User and the
runtime directory), so that case starts Apache and checks that start-up
fails with the message.
"""

import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import IS_MOD_WSGI
from harness import apache as _ap

APP = """\
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""

ALIAS = "WSGIScriptAlias / @APPS@/app.wsgi\n"


@pytest.fixture
def configtest(make_apache_fn):
    def run(conf, **kw):
        ap = make_apache_fn(conf, start=False, apps={"app.wsgi": APP}, **kw)
        rc, out = ap.configtest()
        return ap, rc, out

    return run


def syntax_error_at(ap, out, needle):
    """Apache's 'Syntax error on line N of FILE:' names the line holding ``needle``."""
    m = re.search(r"Syntax error on line (\d+) of (\S+):", out)
    assert m, out
    assert m.group(2) == ap.conf_path, out
    with open(ap.conf_path) as f:
        line = f.read().splitlines()[int(m.group(1)) - 1]
    assert needle in line, (line, out)


# --------------------------------------------------------- options and values

def test_unknown_script_alias_option_is_named(configtest):
    ap, rc, out = configtest("WSGIScriptAlias / @APPS@/app.wsgi bogus-option=1\n")
    assert rc != 0, out
    syntax_error_at(ap, out, "bogus-option=1")
    assert "Invalid option to WSGI script alias definition" in out
    if not IS_MOD_WSGI:  # mod_wsgi 4.9.4 does not say which option
        assert "'bogus-option'" in out, out


@pytest.mark.mwrs_only("mod_wsgi (4.9.4/5.0.2) does not list the accepted options")
def test_unknown_script_alias_option_lists_accepted_ones(configtest):
    ap, rc, out = configtest("WSGIScriptAlias / @APPS@/app.wsgi bogus-option=1\n")
    assert rc != 0
    for opt in ("process-group=", "application-group=", "callable-object=", "pass-authorization="):
        assert opt in out, out


@pytest.mark.parametrize("directive", ["WSGIPassAuthorization", "WSGIChunkedRequest",
                                       "WSGIScriptReloading", "WSGIEnableSendfile",
                                       "WSGIServerMetrics"])
def test_bad_on_off_value(configtest, directive):
    ap, rc, out = configtest("%s Maybe\n%s" % (directive, ALIAS))
    assert rc != 0, out
    syntax_error_at(ap, out, "%s Maybe" % directive)
    if IS_MOD_WSGI:
        assert "%s must be one of: Off | On" % directive in out, out
    else:
        assert "%s must be On or Off" % directive in out, out


@pytest.mark.mwrs_only("mod_wsgi (4.9.4/5.0.2) accepts any number")
def test_python_optimize_out_of_range(configtest):
    ap, rc, out = configtest("WSGIPythonOptimize 5\n" + ALIAS)
    assert rc != 0, out
    syntax_error_at(ap, out, "WSGIPythonOptimize 5")
    assert "WSGIPythonOptimize: must be 0, 1 or 2 (got '5')" in out, out


def test_unknown_daemon_option_is_named(configtest):
    ap, rc, out = configtest("WSGIDaemonProcess g frobnicate=1\n" + ALIAS)
    assert rc != 0, out
    syntax_error_at(ap, out, "frobnicate=1")
    assert "Invalid option to WSGI daemon process definition" in out or "unknown option" in out, out
    if not IS_MOD_WSGI:  # mod_wsgi 4.9.4 does not say which option
        assert "WSGIDaemonProcess: unknown option 'frobnicate' for daemon process group 'g'" in out, out
        assert "docs/directives/WSGIDaemonProcess.md" in out, out


@pytest.mark.parametrize("opt", [
    "processes=abc",
    "threads=-1",
    "maximum-requests=-1",
    "umask=999",
])
def test_bad_daemon_option_value_is_named(configtest, opt):
    ap, rc, out = configtest("WSGIDaemonProcess g %s\n%s" % (opt, ALIAS))
    assert rc != 0, out
    syntax_error_at(ap, out, opt)
    if not IS_MOD_WSGI:
        assert opt.split("=")[0] in out.split("httpd.conf:", 1)[1], out


@pytest.mark.mwrs_only("mod_wsgi (4.9.4/5.0.2) says only 'Invalid process count'")
def test_bad_daemon_value_message(configtest):
    ap, rc, out = configtest("WSGIDaemonProcess g processes=abc\n" + ALIAS)
    assert "WSGIDaemonProcess: 'processes=abc': expected a whole number, e.g. processes=1" in out, out


# ------------------------------------------------------------ process groups

E417 = re.compile(
    r"\[WSGI-RS-E417\] (?P<directive>.+?) names the WSGI daemon process group 'nosuch' .*"
    r"no 'WSGIDaemonProcess nosuch (?:…|\\xe2\\x80\\xa6)' is defined for it; define the group "
    r"\(globally or in this virtual host\) or use %\{GLOBAL\} for embedded mode"
)


@pytest.mark.mwrs_only("mod_wsgi (4.9.4/5.0.2) only fails the request (500), apache2 -t says Syntax OK")
def test_process_group_undefined(configtest):
    ap, rc, out = configtest("WSGIProcessGroup nosuch\n" + ALIAS)
    assert rc != 0, out
    assert "Syntax OK" not in out
    m = E417.search(out)
    assert m and m.group("directive") == "WSGIProcessGroup", out


@pytest.mark.mwrs_only("mod_wsgi (4.9.4/5.0.2) only fails the request (500), apache2 -t says Syntax OK")
def test_process_group_undefined_in_location(configtest):
    ap, rc, out = configtest("WSGIDaemonProcess other\n<Location /x>\n    WSGIProcessGroup nosuch\n</Location>\n" + ALIAS)
    assert rc != 0, out
    m = E417.search(out)
    assert m and m.group("directive") == "WSGIProcessGroup", out


@pytest.mark.mwrs_only("mod_wsgi (4.9.4/5.0.2) only fails the request (500), apache2 -t says Syntax OK")
def test_script_alias_process_group_undefined(configtest):
    ap, rc, out = configtest("WSGIScriptAlias / @APPS@/app.wsgi process-group=nosuch\n")
    assert rc != 0, out
    m = E417.search(out)
    assert m and m.group("directive") == "process-group= of WSGIScriptAlias", out


@pytest.mark.mwrs_only("mod_wsgi (4.9.4/5.0.2) only fails the request (500), apache2 -t says Syntax OK")
def test_group_of_another_virtual_host_is_undefined(configtest):
    ap, rc, out = configtest(
        "<VirtualHost 127.0.0.1:@PORT@>\n    ServerName a.example\n    WSGIDaemonProcess nosuch\n</VirtualHost>\n"
        "<VirtualHost 127.0.0.1:@PORT@>\n    ServerName b.example\n"
        "    WSGIScriptAlias / @APPS@/app.wsgi process-group=nosuch\n</VirtualHost>\n"
    )
    assert rc != 0, out
    assert E417.search(out) and "b.example" in out, out


def test_defined_groups_pass(configtest):
    ap, rc, out = configtest(
        "WSGIDaemonProcess g processes=2 threads=4 display-name=%{GROUP}\n"
        "WSGIProcessGroup g\n"
        "WSGIScriptAlias /a @APPS@/app.wsgi process-group=g\n" + ALIAS
    )
    assert rc == 0 and "Syntax OK" in out, out
    assert "WSGI-RS-E" not in out


def test_process_group_undefined_start_fails(make_apache_fn):
    """The same check at start-up: Apache does not start (mod_wsgi 4.9.4 starts and answers 500)."""
    if IS_MOD_WSGI:
        pytest.skip("mod_wsgi 4.9.4 starts and fails each request")
    ap = make_apache_fn("WSGIProcessGroup nosuch\n" + ALIAS, start=False, apps={"app.wsgi": APP})
    ap.write_conf()
    p = subprocess.run([_ap.HTTPD, "-f", ap.conf_path, "-DFOREGROUND"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=30)
    text = p.stdout.decode("utf-8", "replace") + ap.error_log()
    assert p.returncode != 0, text
    assert E417.search(text), text


# ------------------------------------------------------------- socket directory

@pytest.fixture
def private_dir():
    d = tempfile.mkdtemp(prefix="mwrs-private-", dir="/tmp")
    os.chmod(d, 0o700)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.mwrs_only("mod_wsgi (4.9.4/5.0.2) starts and fails each request with 503")
def test_unreachable_socket_directory_fails_start(make_apache_fn, private_dir):
    if os.geteuid() != 0:
        pytest.skip("needs root: Apache's User (www-data) must differ from the directory's owner")
    conf = (
        "WSGISocketPrefix %s/wsgi\n"
        "WSGIDaemonProcess g\nWSGIProcessGroup g\n" % private_dir
    ) + ALIAS
    ap = make_apache_fn(conf, start=False, apps={"app.wsgi": APP})
    ap.write_conf()
    p = subprocess.run([_ap.HTTPD, "-f", ap.conf_path, "-DFOREGROUND"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=30)
    text = p.stdout.decode("utf-8", "replace") + ap.error_log()
    assert p.returncode != 0, text
    assert (
        "[WSGI-RS-E401] the daemon socket directory is not usable: '%s' (mode 700, owner 0:0) "
        "cannot be searched by Apache's User (uid 33)" % private_dir
    ) in text, text
    assert "set WSGISocketPrefix to a path in a directory that is" in text, text
    assert not os.listdir(private_dir), "a socket was created anyway"


@pytest.mark.mwrs_only("mod_wsgi (4.9.4/5.0.2) starts and fails each request with 503")
def test_missing_socket_directory_fails_start(make_apache_fn):
    conf = "WSGISocketPrefix @ROOT@/no/such/dir/wsgi\nWSGIDaemonProcess g\nWSGIProcessGroup g\n" + ALIAS
    ap = make_apache_fn(conf, start=False, apps={"app.wsgi": APP})
    ap.write_conf()
    p = subprocess.run([_ap.HTTPD, "-f", ap.conf_path, "-DFOREGROUND"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=30)
    text = p.stdout.decode("utf-8", "replace") + ap.error_log()
    assert p.returncode != 0, text
    assert "[WSGI-RS-E401] the daemon socket directory is not usable: '%s/no/such/dir'" % ap.root in text, text


@pytest.mark.mwrs_only("issue 7: apache2 -t must catch it; mod_wsgi (4.9.4/5.0.2) does not")
def test_unreachable_socket_directory_fails_configtest(configtest, private_dir):
    """Issue 7 asks for apache2 -t to fail for a socket directory the children cannot reach."""
    if os.geteuid() != 0:
        pytest.skip("needs root: Apache's User (www-data) must differ from the directory's owner")
    ap, rc, out = configtest(
        "WSGISocketPrefix %s/wsgi\nWSGIDaemonProcess g\nWSGIProcessGroup g\n%s" % (private_dir, ALIAS)
    )
    assert rc != 0, out
    assert "[WSGI-RS-E401]" in out and private_dir in out, out


# ---------------------------------------------------------------- python-home

@pytest.fixture
def old_venv():
    """A virtualenv (as far as its layout and pyvenv.cfg go) of Python 3.9."""
    d = tempfile.mkdtemp(prefix="mwrs-venv39-", dir="/tmp")
    os.makedirs(os.path.join(d, "lib", "python3.9", "site-packages"))
    os.makedirs(os.path.join(d, "bin"))
    with open(os.path.join(d, "pyvenv.cfg"), "w") as f:
        f.write("home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.9.2\n")
    for root, dirs, files in os.walk(d):
        os.chmod(root, 0o755)
    os.chmod(os.path.join(d, "pyvenv.cfg"), 0o644)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.mwrs_only("mod_wsgi (4.9.4/5.0.2) starts and Python fails in each child")
def test_python_home_other_version(configtest, old_venv):
    ap, rc, out = configtest("WSGIPythonHome %s\n%s" % (old_venv, ALIAS))
    assert rc != 0, out
    syntax_error_at(ap, out, "WSGIPythonHome")
    assert "[WSGI-RS-E602]" in out, out
    # the message names the Python the module embeds: 3.11 on Debian 12, 3.13 on 13, …
    assert "Python 3.9" in out and "Python %s" % _ap.python_version() in out, out
    assert old_venv in out


@pytest.mark.mwrs_only("mod_wsgi (4.9.4/5.0.2) starts and Python fails in the daemon")
def test_daemon_python_home_other_version(configtest, old_venv):
    ap, rc, out = configtest(
        "WSGIDaemonProcess g python-home=%s\nWSGIProcessGroup g\n%s" % (old_venv, ALIAS)
    )
    assert rc != 0, out
    assert "[WSGI-RS-E602]" in out, out
    assert "3.9" in out and _ap.python_version() in out, out


# -------------------------------------------------------------- missing script

@pytest.mark.mwrs_only("mod_wsgi (4.9.4/5.0.2) says nothing until a request 404s")
def test_missing_script_is_a_warning(configtest):
    ap, rc, out = configtest("WSGIScriptAlias /gone @APPS@/nothere.wsgi\n" + ALIAS)
    assert rc == 0, out
    assert "Syntax OK" in out
    line = [l for l in out.splitlines() if "WSGI-RS-W601" in l]
    assert line, out
    assert "[wsgi:warn]" in line[0]
    n = ap.render_conf().splitlines().index("WSGIScriptAlias /gone %s/nothere.wsgi" % ap.apps_dir) + 1
    assert "WSGI script target '%s/nothere.wsgi' (%s:%d) does not exist (yet)" % (ap.apps_dir, ap.conf_path, n) in line[0], out
    assert "will get 404 until it does" in line[0]


def test_existing_script_no_warning(configtest):
    ap, rc, out = configtest(ALIAS)
    assert rc == 0 and "Syntax OK" in out, out
    assert "W601" not in out


# ------------------------------------------------------------ server-only directives

@pytest.mark.parametrize("line", ["WSGIRestrictEmbedded On", "WSGIPythonOptimize 1", "WSGIPythonHome /usr",
                                  "WSGISocketPrefix /var/run/wsgi", "WSGIPythonPath /tmp",
                                  "WSGIServerMetrics On"])
def test_server_only_directive_in_virtual_host(configtest, line):
    ap, rc, out = configtest(
        "<VirtualHost 127.0.0.1:@PORT@>\n    ServerName v.example\n    %s\n</VirtualHost>\n%s" % (line, ALIAS)
    )
    assert rc != 0, out
    syntax_error_at(ap, out, line)
    assert "%s cannot occur within <VirtualHost> section" % line.split()[0] in out, out
