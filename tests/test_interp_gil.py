"""CPython 3.12+ interpreter features (issue 12): WSGIPerInterpreterGIL,
WSGISwitchInterval, <WSGIInterpreterOptions>, and what a Python without
them (3.11) does with these directives.

Parallelism is shown without timing thresholds on speed: each handler runs
a pure-Python loop and records a CLOCK_MONOTONIC sample every few hundred
iterations. Under one shared GIL, group B can take a sample only while A
waits for the GIL, so no B sample falls between two of A's samples that
are close together; with a GIL per interpreter, B's samples land inside
A's busy stretches.
"""

import json
import re
import threading

import pytest
import requests

from harness.apache import assert_no_crash, python_version

PY = tuple(int(x) for x in python_version().split("."))
NEEDS_312 = pytest.mark.skipif(PY < (3, 12), reason="per-interpreter GIL needs CPython 3.12+ (PEP 684)")
ONLY_311 = pytest.mark.skipif(PY >= (3, 12), reason="the notice is for Pythons without per-interpreter GIL")
pytestmark = pytest.mark.mwrs_only("mod_wsgi 6 interpreter directives")

ONE_CHILD = """
    StartServers 1
    ServerLimit 1
    ThreadLimit 4
    ThreadsPerChild 4
    MaxRequestWorkers 4
    MinSpareThreads 1
    MaxSpareThreads 8
"""

# CPU-bound handler: ~0.4 s of pure Python, a monotonic sample every 500
# iterations; also reports which interpreter it ran in.
SPIN = r"""
import json, sys, time
import mod_wsgi

def application(environ, start_response):
    samples = []
    deadline = time.monotonic() + 0.4
    x = 0
    while True:
        for i in range(500):
            x += i * i
        now = time.monotonic()
        samples.append(now)
        if now > deadline:
            break
    body = json.dumps({
        'group': mod_wsgi.application_group,
        'sysmods': id(sys.modules),
        'switch': sys.getswitchinterval(),
        'samples': samples,
    }).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]
"""

SPIN_CONF = """
    {gil}
    <WSGIInterpreterOptions application-group=A>
        WSGISwitchInterval 0.002
    </WSGIInterpreterOptions>
    WSGIScriptAlias /a @APPS@/spin.wsgi application-group=A
    WSGIScriptAlias /b @APPS@/spin.wsgi application-group=B
    WSGIScriptAlias /g @APPS@/spin.wsgi application-group=%{{GLOBAL}}
"""


def _pair(ap, rounds=3):
    """Runs /a and /b at the same time, `rounds` times."""
    out = []
    for _ in range(rounds):
        got = {}

        def get(p):
            r = requests.get(ap.url(p), timeout=60)
            assert r.status_code == 200, (p, r.status_code, r.text[:300])
            got[p] = r.json()

        ts = [threading.Thread(target=get, args=(p,)) for p in ("/a", "/b")]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        assert set(got) == {"/a", "/b"}
        out.append((got["/a"], got["/b"]))
    return out


def _inside(a, b, gap=0.001):
    """B's samples that fall between two consecutive A samples less than
    `gap` apart (A was running then)."""
    windows = [(x, y) for x, y in zip(a, a[1:]) if y - x < gap]
    n, i = 0, 0
    for t in sorted(b):
        while i < len(windows) and windows[i][1] < t:
            i += 1
        if i < len(windows) and windows[i][0] < t < windows[i][1]:
            n += 1
    return n


def _spin_apache(make_apache, on):
    return make_apache(
        SPIN_CONF.format(gil="WSGIPerInterpreterGIL %s" % ("On" if on else "Off")),
        apps={"spin.wsgi": SPIN},
        mpm_conf=ONE_CHILD,
        global_group=False,
    )


@NEEDS_312
def test_per_interpreter_gil_groups_run_python_at_the_same_time(make_apache_fn):
    ap = _spin_apache(make_apache_fn, True)
    both, rounds, sizes = 0, 0, []
    # a few rounds: on a busy machine the two threads are not always on
    # two cores at the same moment (under one GIL the count is always 0)
    while both < 5 and rounds < 8:
        rounds += 1
        (a, b), = _pair(ap, rounds=1)
        assert (a["group"], b["group"]) == ("A", "B")
        assert a["sysmods"] != b["sysmods"]
        # A has its own GIL, so its own switch interval
        assert a["switch"] == pytest.approx(0.002) and b["switch"] == pytest.approx(0.005)
        sizes.append((len(a["samples"]), len(b["samples"])))
        both += _inside(a["samples"], b["samples"]) + _inside(b["samples"], a["samples"])
    # isolation intact, and %{GLOBAL} still in the main interpreter
    g = requests.get(ap.url("/g"), timeout=60).json()
    assert g["group"] == "" and g["sysmods"] not in (a["sysmods"], b["sysmods"])
    assert both >= 5, ("groups A and B ran Python at the same moment for only %d samples in %d rounds "
                       "(samples per request %s, load %s)" % (both, rounds, sizes, open("/proc/loadavg").read()))
    assert "WSGI-RS-N307" not in ap.error_log()
    assert_no_crash(ap)


def test_shared_gil_groups_take_turns(make_apache_fn):
    """The control for the test above: with WSGIPerInterpreterGIL Off (and
    on every Python) the measure finds no overlap."""
    ap = _spin_apache(make_apache_fn, False)
    for a, b in _pair(ap, rounds=2):
        assert a["sysmods"] != b["sysmods"]
        assert _inside(a["samples"], b["samples"]) + _inside(b["samples"], a["samples"]) <= 2
    assert_no_crash(ap)


NUMPY_APP = r"""
import json
import mod_wsgi

def application(environ, start_response):
    try:
        import numpy
        out = {'ok': True, 'sum': int(numpy.arange(10).sum())}
    except ImportError as e:
        chain, cur = [], e
        while cur is not None:
            chain.append({'type': type(cur).__name__, 'msg': str(cur), 'name': getattr(cur, 'name', None)})
            cur = cur.__cause__ or cur.__context__
        out = {'ok': False, 'chain': chain}
    out['group'] = mod_wsgi.application_group
    body = json.dumps(out).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]
"""


@NEEDS_312
def test_extension_without_per_interpreter_gil_support_fails_clearly(make_apache_fn):
    pytest.importorskip("numpy")
    ap = make_apache_fn(
        """
        WSGIPerInterpreterGIL On
        WSGIScriptAlias /own @APPS@/np.wsgi application-group=A
        WSGIScriptAlias /main @APPS@/np.wsgi application-group=%{GLOBAL}
        """,
        apps={"np.wsgi": NUMPY_APP},
        mpm_conf=ONE_CHILD,
        global_group=False,
    )
    own = requests.get(ap.url("/own"), timeout=30).json()
    assert own["group"] == "A" and not own["ok"], own
    # numpy wraps the ImportError in its own (quoting it); ours is the cause
    ours = [c for c in own["chain"]
            if c["msg"].startswith("C extension module") and "WSGIApplicationGroup %{GLOBAL}" in c["msg"]]
    assert ours, own["chain"]
    assert ours[0]["type"] == "ImportError" and ours[0]["name"].startswith("numpy"), ours
    assert ("'%s'" % ours[0]["name"]) in ours[0]["msg"]
    # a second import in the group is refused again, logged once
    requests.get(ap.url("/own"), timeout=30)
    m = ap.wait_log(r"\[WSGI-RS-E306\][^\n]*'numpy[^\n]*%\{GLOBAL\}")
    assert m, ap.error_log()[-3000:]
    assert len(re.findall(r"WSGI-RS-E306[^\n]*'%s'" % re.escape(ours[0]["name"]), ap.error_log())) == 1
    # the same app in the main interpreter works
    main = requests.get(ap.url("/main"), timeout=30).json()
    assert main == {"ok": True, "sum": 45, "group": ""}, main
    assert_no_crash(ap)


@ONLY_311
def test_old_python_logs_one_notice_and_changes_nothing(make_apache_fn):
    ap = make_apache_fn(
        """
        WSGIPerInterpreterGIL On
        <WSGIInterpreterOptions application-group=B>
            WSGIPerInterpreterGIL On
        </WSGIInterpreterOptions>
        """ + SPIN_CONF.format(gil=""),
        apps={"spin.wsgi": SPIN},
        mpm_conf=ONE_CHILD,
        global_group=False,
    )
    for a, b in _pair(ap, rounds=1):
        assert a["sysmods"] != b["sysmods"]
        # still one GIL: the groups take turns
        assert _inside(a["samples"], b["samples"]) + _inside(b["samples"], a["samples"]) <= 2
    assert ap.wait_log(r"WSGI-RS-N307"), ap.error_log()[-2000:]
    pids = re.findall(r"\[pid (\d+)[^\n]*WSGI-RS-N307", ap.error_log())
    assert pids and len(pids) == len(set(pids)), pids
    assert_no_crash(ap)


OPTS_APP = r"""
import json, sys
import mod_wsgi

def application(environ, start_response):
    try:
        print('x')
        stdout = 'ok'
    except Exception as e:
        stdout = type(e).__name__
    body = json.dumps({'group': mod_wsgi.application_group, 'switch': sys.getswitchinterval(),
                       'stdout': stdout, 'path': sys.path}).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]
"""


def test_interpreter_options_sections_apply_per_group(make_apache_fn, tmp_path):
    extra_a = tmp_path / "only_a"
    extra_a.mkdir()
    ap = make_apache_fn(
        """
        WSGISwitchInterval 0.004
        <WSGIInterpreterOptions application-group=A>
            WSGISwitchInterval 0.002
            WSGIRestrictStdout On
            WSGIPythonPath %s
        </WSGIInterpreterOptions>
        <WSGIInterpreterOptions process-group=%%{GLOBAL} application-group=A>
            WSGISwitchInterval 0.003
        </WSGIInterpreterOptions>
        <WSGIInterpreterOptions application-group=A>
            WSGISwitchInterval 0.009
        </WSGIInterpreterOptions>
        <WSGIInterpreterOptions application-group=%%{GLOBAL}>
            WSGIRestrictStdout On
        </WSGIInterpreterOptions>
        WSGIScriptAlias /a @APPS@/o.wsgi application-group=A
        WSGIScriptAlias /b @APPS@/o.wsgi application-group=B
        WSGIScriptAlias /g @APPS@/o.wsgi application-group=%%{GLOBAL}
        """ % extra_a,
        apps={"o.wsgi": OPTS_APP},
        mpm_conf=ONE_CHILD,
        global_group=False,
    )
    got = {p: requests.get(ap.url(p), timeout=30).json() for p in ("/a", "/b", "/g")}
    a, b, g = got["/a"], got["/b"], got["/g"]
    # the two-selector section wins for A: the later one-selector sections
    # (restricted stdout, extra path) do not apply
    assert a["stdout"] == "ok" and str(extra_a) not in a["path"], a
    assert b["stdout"] == "ok", b
    # the switch interval belongs to the GIL: groups sharing the main
    # interpreter's GIL have the main interpreter's
    for r in (a, b, g):
        assert r["switch"] == pytest.approx(0.004), r["switch"]
    assert str(extra_a) not in b["path"]
    assert g["stdout"] != "ok", g
    assert_no_crash(ap)


def test_interpreter_options_later_section_wins_and_path_adds(make_apache_fn, tmp_path):
    extra = tmp_path / "extra"
    extra.mkdir()
    ap = make_apache_fn(
        """
        <WSGIInterpreterOptions application-group=A>
            WSGIRestrictStdout On
        </WSGIInterpreterOptions>
        <WSGIInterpreterOptions application-group=A>
            WSGIPythonPath %s
            WSGISwitchInterval 0.007
        </WSGIInterpreterOptions>
        WSGIScriptAlias /a @APPS@/o.wsgi application-group=A
        WSGIScriptAlias /b @APPS@/o.wsgi application-group=B
        """ % extra,
        apps={"o.wsgi": OPTS_APP},
        mpm_conf=ONE_CHILD,
        global_group=False,
    )
    a = requests.get(ap.url("/a"), timeout=30).json()
    b = requests.get(ap.url("/b"), timeout=30).json()
    assert str(extra) in a["path"], a
    assert a["stdout"] == "ok", "the later section replaced the earlier one"
    assert str(extra) not in b["path"]
    assert_no_crash(ap)


@pytest.mark.parametrize(
    "conf, words",
    [
        ("WSGISwitchInterval fast", ["WSGISwitchInterval", "seconds"]),
        ("WSGIPerInterpreterGIL maybe", ["WSGIPerInterpreterGIL"]),
        ("<WSGIInterpreterOptions colour=red>\n</WSGIInterpreterOptions>", ["colour"]),
        ("<WSGIInterpreterOptions application-group=A>\n  WSGIScriptAlias /x /y\n</WSGIInterpreterOptions>",
         ["WSGIScriptAlias", "may hold"]),
        ("<WSGIInterpreterOptions application-group=A>\n  WSGIRestrictStdout Perhaps\n</WSGIInterpreterOptions>",
         ["WSGIRestrictStdout", "On or Off"]),
    ],
)
def test_bad_interpreter_options_fail_configtest(make_apache_fn, conf, words):
    ap = make_apache_fn(conf, start=False)
    rc, out = ap.configtest()
    assert rc != 0, out
    for w in words:
        assert w in out, (w, out)
