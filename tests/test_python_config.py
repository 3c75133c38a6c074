"""Python configuration directives (issue 4, point 4): each has an effect an
application can observe, checked against an Apache where it is set and one
where it is not.
"""

import os
import subprocess
import sys
import time

import pytest
import requests

from conftest import IS_MOD_WSGI
from harness.apache import PYTHON, assert_no_crash

INSPECT = r"""
import json, os, signal, sys, warnings

def _handler(signum, frame):
    pass

def application(environ, start_response):
    q = environ.get('QUERY_STRING', '')
    out = {}
    if q == 'pyc':
        # import a module from the first WSGIPythonPath directory
        import mwrs_bytecode_probe
        d = os.path.dirname(mwrs_bytecode_probe.__file__)
        out['pycache'] = os.path.isdir(os.path.join(d, '__pycache__')) and \
            bool(os.listdir(os.path.join(d, '__pycache__')))
    elif q == 'signal':
        # in a worker thread the real signal.signal raises ValueError; the
        # WSGIRestrictSignal interceptor logs and ignores instead
        try:
            signal.signal(signal.SIGUSR1, _handler)
            out['signal'] = 'ignored' if signal.getsignal(signal.SIGUSR1) is not _handler else 'installed'
        except ValueError as e:
            out['signal'] = 'ValueError: %s' % e
    elif q == 'stdout':
        try:
            print('mwrs-stdout-marker', flush=True)
            out['stdout'] = 'ok'
        except OSError as e:
            out['stdout'] = 'OSError: %s' % e
    elif q == 'stdin':
        try:
            sys.stdin.read(1)
            out['stdin'] = 'ok'
        except OSError as e:
            out['stdin'] = 'OSError: %s' % e
        except Exception as e:
            out['stdin'] = type(e).__name__
    elif q == 'warn':
        try:
            warnings.warn('mwrs-warning', RuntimeWarning)
            out['raised'] = False
        except RuntimeWarning:
            out['raised'] = True
    else:
        try:
            assert False
            asserted = False
        except AssertionError:
            asserted = True
        out.update({
            'path': sys.path,
            'prefix': sys.prefix,
            'base_prefix': sys.base_prefix,
            'executable': sys.executable,
            'optimize': sys.flags.optimize,
            'asserts': asserted,
            'dont_write_bytecode': sys.dont_write_bytecode,
            'warnoptions': sys.warnoptions,
            'hash': hash('mwrs-hash-probe'),
            'hash_randomization': sys.flags.hash_randomization,
            'egg_cache': os.environ.get('PYTHON_EGG_CACHE'),
            'pid': os.getpid(),
            'version': list(sys.version_info[:2]),
        })
    body = json.dumps(out).encode()
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]
"""

HASH_SEED = 12345

CONFIGURED = """
WSGIPythonPath @ROOT@/pp1:@ROOT@/pp2
WSGIPythonOptimize 2
WSGIDontWriteBytecode On
WSGIPythonWarnings error::RuntimeWarning
WSGIPythonHashSeed %d
WSGIPythonEggs @VAR@/eggs
WSGIRestrictStdin On
WSGIRestrictStdout On
WSGIRestrictSignal Off
WSGIScriptAlias /inspect @APPS@/inspect.wsgi
""" % HASH_SEED

DEFAULTS = """
WSGIPythonPath @ROOT@/pp1
WSGIScriptAlias /inspect @APPS@/inspect.wsgi
"""

FILES = {
    "pp1/mwrs_bytecode_probe.py": "X = 1\n",
    "pp2/mwrs_pth.pth": "@ROOT@/pp2/extra\n",
    "pp2/extra/placeholder.txt": "",
}


PY_ENV = ("PYTHONDONTWRITEBYTECODE", "PYTHONOPTIMIZE", "PYTHONWARNINGS", "PYTHONHASHSEED",
          "PYTHON_EGG_CACHE", "PYTHONPATH", "PYTHONHOME")


def _mk(make_apache, conf, name):
    # Apache's children inherit this process's environment (tests/run sets
    # PYTHONDONTWRITEBYTECODE): start it without Python's variables so only
    # the directives decide.
    saved = {k: os.environ.pop(k) for k in PY_ENV if k in os.environ}
    try:
        ap = make_apache(conf, apps={"inspect.wsgi": INSPECT}, files=FILES, name=name)
    finally:
        os.environ.update(saved)
    # www-data must be able to write __pycache__ here (to see -B's effect)
    os.chmod(ap.path("pp1"), 0o777)
    return ap


@pytest.fixture(scope="module")
def configured(make_apache):
    return _mk(make_apache, CONFIGURED, "pyconf-set")


@pytest.fixture(scope="module")
def defaults(make_apache):
    return _mk(make_apache, DEFAULTS, "pyconf-default")


def _get(ap, q=""):
    r = requests.get(ap.url("/inspect?" + q), timeout=10)
    assert r.status_code == 200, r.text[:500]
    return r.json()


def test_python_path_added_at_front_with_site_dirs(configured):
    ap = configured
    path = _get(ap)["path"]
    want = [ap.path("pp1"), ap.path("pp2"), ap.path("pp2/extra")]
    assert path[:3] == want, path[:6]


def test_python_optimize(configured, defaults):
    c, d = _get(configured), _get(defaults)
    assert c["optimize"] == 2 and c["asserts"] is False, c
    assert d["optimize"] == 0 and d["asserts"] is True, d


def test_dont_write_bytecode(configured, defaults):
    assert _get(configured)["dont_write_bytecode"] is True
    assert _get(defaults)["dont_write_bytecode"] is False
    # the effect on disk: only the default instance writes __pycache__
    assert _get(configured, "pyc")["pycache"] is False
    assert _get(defaults, "pyc")["pycache"] is True


def test_python_warnings(configured, defaults):
    c = _get(configured)
    assert "error::RuntimeWarning" in c["warnoptions"], c["warnoptions"]
    assert _get(configured, "warn")["raised"] is True
    assert _get(defaults, "warn")["raised"] is False


def test_hash_seed_fixed_across_processes_and_restarts(configured, defaults):
    ap = configured
    want = subprocess.run(
        [PYTHON, "-c", "print(hash('mwrs-hash-probe'))"],
        env=dict(os.environ, PYTHONHASHSEED=str(HASH_SEED)),
        stdout=subprocess.PIPE,
        check=True,
    ).stdout.decode().strip()
    seen = {}
    s = requests.Session()
    for _ in range(10):
        r = _get(ap)
        seen[r["pid"]] = r["hash"]
    s.close()
    assert set(seen.values()) == {int(want)}, (want, seen)
    ap.restart()
    r = _get(ap)
    assert r["pid"] not in seen
    assert r["hash"] == int(want)
    # not fixed by default: a restart gives new children with a new seed
    d1 = _get(defaults)
    defaults.restart()
    d2 = _get(defaults)
    assert d1["pid"] != d2["pid"]
    assert d1["hash"] != d2["hash"], "hash seed not random by default"


def test_python_eggs(configured, defaults):
    assert _get(configured)["egg_cache"] == configured.var_path("eggs")
    assert _get(defaults)["egg_cache"] is None


def test_restrict_stdin(configured, defaults):
    c = _get(configured, "stdin")["stdin"]
    assert c.startswith("OSError") and "restricted" in c, c
    assert not _get(defaults, "stdin")["stdin"].startswith("OSError")


def test_restrict_stdout(configured, defaults):
    c = _get(configured, "stdout")["stdout"]
    assert c.startswith("OSError") and "restricted" in c, c
    mark = defaults.log_size()
    assert _get(defaults, "stdout")["stdout"] == "ok"
    # unrestricted stdout goes to the error log
    assert defaults.wait_log(r"mwrs-stdout-marker", mark), defaults.log_since(mark)[-2000:]


def test_restrict_signal_default_on_logs_and_ignores(defaults):
    ap = defaults
    mark = ap.log_size()
    assert _get(ap, "signal")["signal"] == "ignored"
    assert ap.wait_log(r"Callback registration for signal 10 ignored", mark), ap.log_since(mark)[-2000:]
    if not IS_MOD_WSGI:
        assert "[WSGI-RS-W305]" in ap.log_since(mark)


def test_restrict_signal_off_installs_handler(configured):
    mark = configured.log_size()
    amark = configured.access_log_size()
    # the real signal.signal ran (and refused: not the main thread)
    assert _get(configured, "signal")["signal"].startswith("ValueError: signal only works in main thread")
    assert configured.wait_access_log(r"GET /inspect\?signal ", amark)  # all its log lines written
    assert "Callback registration for signal" not in configured.log_since(mark)


def test_accepted_directives_configtest(make_apache):
    ap = make_apache(
        """
        WSGILazyInitialization On
        WSGICaseSensitivity On
        WSGIDestroyInterpreter On
        WSGIScriptAlias /inspect @APPS@/inspect.wsgi
        """,
        apps={"inspect.wsgi": INSPECT},
        start=False,
        name="pyconf-accepted",
    )
    rc, out = ap.configtest()
    assert rc == 0, out
    ap.start()
    _get(ap)


ATEXIT_APP = r"""
import atexit, os
def _at_exit():
    with open(os.path.join('@VAR@', 'atexit-%d' % os.getpid()), 'w') as f:
        f.write('x')
atexit.register(_at_exit)
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(os.getpid()).encode()]
"""


@pytest.mark.parametrize("destroy", ["On", "Off"])
def test_destroy_interpreter(make_apache_fn, destroy):
    ap = make_apache_fn(
        "WSGIDestroyInterpreter %s\nWSGIScriptAlias /x @APPS@/x.wsgi\n" % destroy,
        apps={"x.wsgi": ATEXIT_APP},
        name="destroy-" + destroy,
    )
    pid = int(requests.get(ap.url("/x"), timeout=10).text)
    ap.stop()
    ran = os.path.exists(ap.var_path("atexit-%d" % pid))
    # On: Python is finalised at child exit (atexit runs); Off: skipped
    assert ran is (destroy == "On"), os.listdir(ap.var_dir)
    assert "still did not exit" not in ap.error_log()


# ------------------------------------------------------------ python home

@pytest.fixture(scope="module")
def venv_dir(tmp_path_factory):
    d = "/tmp/mwrs-venv-%d" % os.getpid()
    if not os.path.isdir(d):
        subprocess.run([PYTHON, "-m", "venv", "--system-site-packages", "--without-pip", d],
                       check=True, timeout=120)
    for root, dirs, files in os.walk(d):
        os.chmod(root, 0o755)
    yield d
    subprocess.run(["rm", "-rf", d])


def test_python_home_virtualenv(make_apache, venv_dir):
    ap = make_apache(
        'WSGIPythonHome "%s"\nWSGIScriptAlias /inspect @APPS@/inspect.wsgi\n' % venv_dir,
        apps={"inspect.wsgi": INSPECT},
        name="pyhome-venv",
    )
    r = _get(ap)
    assert r["prefix"] == venv_dir, r
    assert r["base_prefix"] == "/usr", r
    # --system-site-packages: Debian's dist-packages still visible
    assert any(p.endswith("dist-packages") for p in r["path"]), r["path"]
    assert_no_crash(ap)


@pytest.mark.mwrs_only("mod_wsgi (4.9.4/5.0.2) starts and its children fail (or crash) at Python init")
def test_python_home_other_version_refused(make_apache, tmp_path_factory):
    fake = "/tmp/mwrs-fakevenv-%d" % os.getpid()
    os.makedirs(os.path.join(fake, "bin"), exist_ok=True)
    os.makedirs(os.path.join(fake, "lib", "python3.9", "site-packages"), exist_ok=True)
    with open(os.path.join(fake, "pyvenv.cfg"), "w") as f:
        f.write("home = /usr/local/bin\ninclude-system-site-packages = false\nversion = 3.9.2\n")
    for root, dirs, files in os.walk(fake):
        os.chmod(root, 0o755)
    ours = "%d.%d" % sys.version_info[:2] if sys.executable == PYTHON else None
    ours = ours or subprocess.run(
        [PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], stdout=subprocess.PIPE
    ).stdout.decode().strip()
    ap = make_apache(
        'WSGIPythonHome "%s"\nWSGIScriptAlias /inspect @APPS@/inspect.wsgi\n' % fake,
        apps={"inspect.wsgi": INSPECT},
        start=False,
        name="pyhome-wrong",
    )
    try:
        rc, out = ap.configtest()
        text = out
        refused = rc != 0
        if not refused:
            # not caught by -t: the start itself must fail, not the children
            try:
                ap.start()
            except Exception as e:  # noqa: BLE001
                refused = True
                text += str(e)
            else:
                time.sleep(1)
                text += ap.error_log()
        assert refused, "a python-home for Python 3.9 was accepted:\n" + text[-3000:]
        assert "3.9" in text and ours in text, ("message must name both versions", text[-3000:])
        assert_no_crash(ap)
    finally:
        subprocess.run(["rm", "-rf", fake])
