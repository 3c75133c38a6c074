"""Daemon processes' log lines and signals (issue 14): a group defined in
a <VirtualHost> with its own ErrorLog writes its processes' lines there
(a server-level group keeps the main ErrorLog), and
mod_wsgi.subscribe_signals() callbacks get a 'process_signal' event for
SIGHUP and SIGUSR2 in daemon processes, which keep serving; shutdown
callbacks and atexit run when a daemon process exits."""

import os
import signal
import time

import pytest
import requests

pytestmark = pytest.mark.mwrs_only("daemon log routing and subscribe_signals of issue 14")

NOISY = '''
import os, sys
def application(environ, start_response):
    tag = environ["QUERY_STRING"]
    environ["wsgi.errors"].write("errors-stream-%s\\n" % tag)
    print("stderr-print-%s" % tag, file=sys.stderr)
    os.write(2, ("fd2-write-%s\\n" % tag).encode())
    if "boom" in environ.get("PATH_INFO", ""):
        raise RuntimeError("traceback-%s" % tag)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
'''

SIGNALS = '''
import os, mod_wsgi
def record(kind, name, signame, signum, **event):
    with open(os.path.join("@VAR@", "%s.%s.%d" % (kind, signame, os.getpid())), "w") as f:
        f.write("%s %d" % (name, signum))
@mod_wsgi.subscribe_signals
def on_signal(name, *, signame, signum, **event):
    record("signals", name, signame, signum)
def on_event(name, **event):
    if name == "process_signal":
        record("events", name, event["signame"], event["signum"])
mod_wsgi.subscribe_events(on_event)
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
'''


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def wait_text(path, needle, timeout=15):
    deadline = time.time() + timeout
    while needle not in read(path) and time.time() < deadline:
        time.sleep(0.05)
    return needle in read(path)


def test_vhost_group_logs_to_the_vhost_error_log(make_apache_fn):
    vlog = "@VAR@/vhost_error.log"
    ap = make_apache_fn(
        "<VirtualHost 127.0.0.1:@PORT@>\n"
        "    ServerName main.example\n"
        "    WSGIDaemonProcess top processes=1 threads=2\n"
        "    WSGIScriptAlias /n @APPS@/noisy.wsgi process-group=top application-group=%%{GLOBAL}\n"
        "</VirtualHost>\n"
        "<VirtualHost 127.0.0.1:@PORT@>\n"
        "    ServerName v.example\n"
        "    ErrorLog \"%s\"\n"
        "    WSGIDaemonProcess inner processes=1 threads=2\n"
        "    WSGIScriptAlias /n @APPS@/noisy.wsgi process-group=inner application-group=%%{GLOBAL}\n"
        "</VirtualHost>\n" % vlog,
        apps={"noisy.wsgi": NOISY},
    )
    vlog = ap.var_path("vhost_error.log")
    assert requests.get(ap.url("/n?in-vhost"), headers={"Host": "v.example"}, timeout=10).status_code == 200
    assert requests.get(ap.url("/n/boom?in-vhost"), headers={"Host": "v.example"}, timeout=10).status_code == 500
    assert requests.get(ap.url("/n?in-main"), headers={"Host": "main.example"}, timeout=10).status_code == 200
    # (file descriptor 2 too: C extensions and faulthandler write there)
    for line in ("errors-stream-in-vhost", "stderr-print-in-vhost", "RuntimeError: traceback-in-vhost",
                 "fd2-write-in-vhost"):
        assert wait_text(vlog, line), read(vlog)[-2000:]
    assert wait_text(ap.error_log_path, "stderr-print-in-main"), ap.error_log()[-2000:]
    assert wait_text(ap.error_log_path, "errors-stream-in-main")
    assert wait_text(ap.error_log_path, "fd2-write-in-main")
    main_log, vhost_log = ap.error_log(), read(vlog)
    assert "in-vhost" not in main_log
    assert "in-main" not in vhost_log
    # Our own coded lines too: a daemon process killed is reported by
    # its group's supervisor in the group's log.
    pid = int(requests.get(ap.url("/n?pid"), headers={"Host": "v.example"}, timeout=10).text)
    os.kill(pid, signal.SIGKILL)
    assert wait_text(vlog, "[WSGI-RS-E402] daemon process %d of group 'inner' killed by signal 9" % pid)
    assert "group 'inner'" not in ap.error_log()


def test_subscribe_signals_gets_sighup_and_sigusr2(make_apache_fn):
    ap = make_apache_fn(
        "WSGIDaemonProcess sig processes=1 threads=2\n"
        "WSGIScriptAlias /s @APPS@/signals.wsgi process-group=sig application-group=%{GLOBAL}\n",
        apps={"signals.wsgi": SIGNALS},
    )
    pid = int(requests.get(ap.url("/s"), timeout=10).text)
    for sig, name in ((signal.SIGHUP, "SIGHUP"), (signal.SIGUSR2, "SIGUSR2")):
        os.kill(pid, sig)
        for kind in ("signals", "events"):
            path = ap.var_path("%s.%s.%d" % (kind, name, pid))
            assert wait_text(path, "process_signal %d" % sig), (path, ap.error_log()[-2000:])
    # The process was not stopped by either signal.
    assert int(requests.get(ap.url("/s"), timeout=10).text) == pid


def test_subscribe_signals_in_embedded_mode_is_logged_and_returns_the_callback(make_apache_fn):
    ap = make_apache_fn(
        "WSGIScriptAlias /e @APPS@/embedded.wsgi\n",
        apps={"embedded.wsgi": (
            "import mod_wsgi\n"
            "def cb(name, **event):\n    pass\n"
            "RESULT = mod_wsgi.subscribe_signals(cb) is cb\n"
            "def application(environ, start_response):\n"
            "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
            "    return [str(RESULT).encode()]\n")},
    )
    assert requests.get(ap.url("/e"), timeout=10).text == "True"
    assert ap.wait_log(r"WSGI-RS-I454\] mod_wsgi.subscribe_signals\(\) called outside daemon mode")


SHUTDOWN = '''
import atexit, os, mod_wsgi
def write(kind, text):
    with open(os.path.join("@VAR@", "%s.%d" % (kind, os.getpid())), "w") as f:
        f.write(text)
@mod_wsgi.subscribe_shutdown
def on_shutdown(name, **event):
    write("shutdown", "%s reason=%r" % (name, event.get("shutdown_reason")))
atexit.register(write, "atexit", "ran")
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
'''


def test_shutdown_callbacks_and_atexit_run_when_a_daemon_process_exits(make_apache_fn):
    ap = make_apache_fn(
        "WSGIDaemonProcess down processes=1 threads=2 maximum-requests=3\n"
        "WSGIScriptAlias /d @APPS@/shutdown.wsgi process-group=down application-group=%{GLOBAL}\n",
        apps={"shutdown.wsgi": SHUTDOWN},
    )
    first = int(requests.get(ap.url("/d"), timeout=10).text)
    # recycled by maximum-requests: the reason is passed on
    pids = {first}
    deadline = time.time() + 30
    while len(pids) < 2 and time.time() < deadline:
        pids.add(int(requests.get(ap.url("/d"), timeout=10).text))
    assert len(pids) == 2, pids
    assert wait_text(ap.var_path("shutdown.%d" % first), "process_stopping reason='maximum_requests'"), \
        ap.error_log()[-2000:]
    assert wait_text(ap.var_path("atexit.%d" % first), "ran")
    # stopped with Apache: the callbacks run too, with no reason
    second = (pids - {first}).pop()
    ap.stop()
    assert wait_text(ap.var_path("shutdown.%d" % second), "process_stopping reason=''"), \
        read(ap.error_log_path)[-2000:]
    assert wait_text(ap.var_path("atexit.%d" % second), "ran")
