"""Service scripts (issue 14): `WSGIDaemonProcess … threads=0` with a
`WSGIImportScript … process-group=… application-group=%{GLOBAL}` runs the
script in the daemon process's main thread for as long as it runs: it
may install signal handlers, the process is replaced when the script
returns, SIGTERM at stop raises SystemExit in it (then its atexit
callbacks run), and the group takes no requests."""

import os
import signal
import time

import pytest
import requests

pytestmark = pytest.mark.mwrs_only("threads=0 service scripts of issue 14")

SERVICE = '''
import os, signal, time
VAR = "@VAR@"
PID = os.getpid()
def mark(name):
    with open(os.path.join(VAR, "%s.%d" % (name, PID)), "w") as f:
        f.write(str(time.time()))
def on_hup(signum, frame):
    mark("hup")
signal.signal(signal.SIGHUP, on_hup)
import atexit
atexit.register(mark, "atexit")
mark("started")
try:
    while True:
        mark("heartbeat")
        # the test names the process that is to return (it cannot remove
        # the test's file: the directory may be sticky and the test root's)
        try:
            with open(os.path.join(VAR, "exit-now")) as f:
                if f.read().strip() == str(PID):
                    break
        except FileNotFoundError:
            pass
        time.sleep(0.1)
except SystemExit:
    mark("systemexit")
    raise
finally:
    mark("finally")
'''

APP = '''
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"web"]
'''

CONF = (
    "WSGIDaemonProcess svc threads=0\n"
    "WSGIImportScript @APPS@/service.py process-group=svc application-group=%{GLOBAL}\n"
    "WSGIDaemonProcess web processes=1 threads=2\n"
    "WSGIScriptAlias /web @APPS@/app.wsgi process-group=web application-group=%{GLOBAL}\n"
    "WSGIScriptAlias /svc @APPS@/app.wsgi process-group=svc application-group=%{GLOBAL}\n"
)


def marks(ap, name):
    return sorted(int(f.split(".")[1]) for f in os.listdir(ap.var_dir) if f.startswith(name + "."))


def wait_for(cond, timeout=20):
    """cond()'s value once true, or its last value after `timeout`."""
    deadline = time.time() + timeout
    while not cond() and time.time() < deadline:
        time.sleep(0.05)
    return cond()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def service(make_apache_fn):
    return make_apache_fn(CONF, apps={"service.py": SERVICE, "app.wsgi": APP})


def test_configtest_accepts_threads_0(make_apache_fn):
    ap = make_apache_fn(CONF, apps={"service.py": SERVICE, "app.wsgi": APP}, start=False)
    rc, out = ap.configtest()
    assert rc == 0, out


def test_service_runs_without_requests_and_may_use_signals(service):
    ap = service
    (pid,) = wait_for(lambda: marks(ap, "heartbeat"))
    assert marks(ap, "started") == [pid]
    # signal.signal() works there (WSGIRestrictSignal does not apply).
    os.kill(pid, signal.SIGHUP)
    assert wait_for(lambda: marks(ap, "hup")) == [pid]
    assert alive(pid)
    assert "WSGI-RS-W305" not in ap.error_log()
    # The other group serves as usual.
    assert requests.get(ap.url("/web"), timeout=10).text == "web"


def test_request_routed_to_service_group_is_refused(service):
    ap = service
    r = requests.get(ap.url("/svc"), timeout=10)
    assert r.status_code == 503
    assert ap.wait_log(r"WSGI-RS-E450\] WSGI daemon process group 'svc' has threads=0"), ap.error_log()[-2000:]


def test_service_is_restarted_when_it_returns(service):
    ap = service
    (first,) = wait_for(lambda: marks(ap, "started"))
    with open(ap.var_path("exit-now"), "w") as f:
        f.write(str(first))
    started = wait_for(lambda: len(marks(ap, "started")) >= 2 and marks(ap, "started"))
    assert started and first in started, marks(ap, "started")
    assert marks(ap, "finally")[:1] == [first]
    assert marks(ap, "systemexit") == []
    assert ap.wait_log(r"WSGI-RS-I455\] the service scripts of daemon process %d of group 'svc' have returned" % first)
    assert wait_for(lambda: not alive(first))
    (second,) = [p for p in started if p != first]
    assert wait_for(lambda: second in marks(ap, "heartbeat"))


def test_stop_raises_systemexit_and_leaves_nothing(service):
    ap = service
    (pid,) = wait_for(lambda: marks(ap, "heartbeat"))
    ap.stop()
    assert marks(ap, "systemexit") == [pid]
    assert marks(ap, "finally") == [pid]
    assert marks(ap, "atexit") == [pid]
    assert not alive(pid)
    assert "WSGI-RS-E451" not in ap.error_log()


def test_service_script_that_raises_is_logged_and_replaced(make_apache_fn):
    ap = make_apache_fn(
        "WSGIDaemonProcess svc threads=0\n"
        "WSGIImportScript @APPS@/service.py process-group=svc application-group=%{GLOBAL}\n",
        apps={"service.py": "import os\nopen('@VAR@/run.%d' % os.getpid(), 'w').close()\n"
                            "raise ValueError('service-broken-on-purpose')\n"},
    )
    assert ap.wait_log(r"WSGI-RS-E451\] The service script '%s' raised" % ap.app_path("service.py"), timeout=20)
    assert ap.wait_log(r"ValueError: service-broken-on-purpose")
    assert wait_for(lambda: len(marks(ap, "run")) >= 2)
