"""`apxs/install` staged with DESTDIR (nothing outside a temporary directory
is touched): the installed module is stripped and still serves requests,
`--debug` adds the debug info where gdb finds it through the module's
debug link, and `--uninstall` removes every file an install put there."""

import os
import subprocess

import pytest
import requests

from harness import apache as _ap

pytestmark = pytest.mark.mwrs_only("installs mod_wsgi_rs's own files")

LIBEXEC = "/usr/lib/apache2/modules"
FILES = [
    LIBEXEC + "/mod_wsgi_rs.so",
    "/etc/apache2/mods-available/wsgi_rs.load",
    "/etc/apache2/mods-available/wsgi_rs.conf",
]
DEBUG = "/usr/lib/debug" + LIBEXEC + "/mod_wsgi_rs.so.debug"


def install(dest, *args):
    env = dict(os.environ, DESTDIR=dest, MWRS_SKIP_BUILD="1",
               MWRS_MODULE_PATH=_ap.rs_module_path())
    p = subprocess.run(["bash", os.path.join(_ap.REPO_ROOT, "apxs/install"), *args],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=120)
    out = p.stdout.decode("utf-8", "replace")
    assert p.returncode == 0, out
    return out


def sections(path):
    out = subprocess.run(["readelf", "-S", "-W", path], stdout=subprocess.PIPE,
                         check=True).stdout.decode()
    return {w for line in out.splitlines() for w in line.split() if w.startswith(".")}


@pytest.fixture
def dest(tmp_path):
    d = str(tmp_path / "stage")
    os.makedirs(d)
    os.chmod(str(tmp_path), 0o755)
    os.chmod(d, 0o755)
    return d


def test_installed_module_is_stripped_and_serves(dest, make_apache_fn, monkeypatch):
    install(dest)
    so = dest + FILES[0]
    for f in FILES:
        assert os.path.isfile(dest + f), f
    assert not os.path.exists(dest + DEBUG)
    assert ".debug_info" in sections(_ap.rs_module_path())
    assert ".debug_info" not in sections(so)
    assert os.path.getsize(so) < os.path.getsize(_ap.rs_module_path()) / 2
    # The stripped module loads and runs an application.
    monkeypatch.setenv("MWRS_MODULE_PATH", so)
    ap = make_apache_fn("WSGIScriptAlias / @APPS@/a.wsgi", apps={"a.wsgi": (
        "def application(e, sr):\n"
        "    sr('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'stripped ok']\n")})
    assert ap.module_file() == so
    r = requests.get(ap.url("/"), timeout=10)
    assert (r.status_code, r.text) == (200, "stripped ok")


def test_debug_installs_the_debug_info_with_a_link(dest):
    out = install(dest, "--debug")
    assert DEBUG in out
    so, dbg = dest + FILES[0], dest + DEBUG
    assert ".debug_info" in sections(dbg)
    assert ".debug_info" not in sections(so)
    link = subprocess.run(["readelf", "--string-dump=.gnu_debuglink", so],
                          stdout=subprocess.PIPE, check=True).stdout
    assert b"mod_wsgi_rs.so.debug" in link
    # A later install without --debug does not leave a mismatched file.
    install(dest)
    assert not os.path.exists(dbg)


def test_uninstall_removes_everything_installed(dest):
    install(dest, "--debug")
    out = install(dest, "--uninstall")
    for f in FILES + [DEBUG]:
        assert not os.path.exists(dest + f), (f, out)
    leftover = [os.path.join(root, n) for root, _, names in os.walk(dest) for n in names]
    assert leftover == []
