"""pytest glue for the real-Apache harness (tests/harness/apache.py).

Fixtures:
    make_apache    module-scoped factory: make_apache(conf, apps=..., mpm=..., module=...)
                   returns a *started* Apache; all are stopped at module end and
                   their logs checked for crashes.
    make_apache_fn the same, function-scoped.
    mode           module-scoped, parametrised: "embedded" then "daemon"; a test
                   that uses it (directly or through a fixture) runs once per
                   mode, with the mode in its id (test_x[embedded], test_x[daemon]).
    make_mode_apache  make_apache bound to the current mode; its instances are
                   stopped when the mode changes, so one mode's Apache runs at
                   a time.
    module_name    "rs" or "mod_wsgi": the module under test (MWRS_TEST_MODULE).

Markers for the mode-parametrised tests:
    embedded_only(reason) / daemon_only(reason)
                   behaviour that differs by design: skipped in the other mode.
    daemon_bug(reason)  a known mod_wsgi_rs bug in daemon mode: strict xfail
                   there (not against mod_wsgi).

On a failing test the error log lines written during that test (for every
Apache instance that logged something) are attached to the failure report.
"""

import os
import re
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import apache as _ap  # noqa: E402
from harness.apache import MODES, Apache, assert_no_crash, default_module  # noqa: E402,F401

MODULE = default_module()
IS_MOD_WSGI = MODULE == "mod_wsgi"


def reference_older_than(version):
    """True when the suite runs against Debian's mod_wsgi and it is older than
    `version` (for behaviour a later mod_wsgi release changed)."""
    return IS_MOD_WSGI and (REF_VERSION is None or _version_tuple(REF_VERSION) < _version_tuple(version))


def pytest_report_header(config):
    return "WSGI module under test: %s (%s)" % (MODULE, _ap.module_path(MODULE))


def _reference_version():
    """The version of Debian's mod_wsgi in this system (4.9.4 on Debian 12, 5.0.2 on
    Debian 13 and sid), from dpkg; None when it is not installed."""
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "libapache2-mod-wsgi-py3"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        ).stdout
    except OSError:
        return None
    m = re.match(r"(?:\d+:)?(\d+(?:\.\d+)*)", out.strip())
    return m.group(1) if m else None


REF_VERSION = _reference_version()
REF_NAME = "mod_wsgi %s" % (REF_VERSION or "(version unknown)")


def _version_tuple(v):
    return tuple(int(x) for x in v.split("."))


def reference_older_than(version):
    """True when the suite runs against Debian's mod_wsgi and it is older than
    `version` (for behaviour a later mod_wsgi release changed)."""
    return IS_MOD_WSGI and (REF_VERSION is None or _version_tuple(REF_VERSION) < _version_tuple(version))


def pytest_report_header(config):
    ref = " (Debian's %s)" % REF_NAME if IS_MOD_WSGI else ""
    return "WSGI module under test: %s (%s)%s" % (MODULE, _ap.module_path(MODULE), ref)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "mod_wsgi_bug(reason, mode=None, fixed_in=None): known bug of Debian's mod_wsgi "
        "(4.9.4/5.0.2), in that mode only if given; strict xfail only against mod_wsgi, and only "
        "below fixed_in when given",
    )
    config.addinivalue_line(
        "markers",
        "mwrs_only(reason): behaviour the issues require beyond Debian's mod_wsgi (4.9.4/5.0.2); "
        "skipped against mod_wsgi",
    )
    config.addinivalue_line("markers", "embedded_only(reason): differs by design in daemon mode; skipped there")
    config.addinivalue_line("markers", "daemon_only(reason): differs by design in embedded mode; skipped there")
    config.addinivalue_line(
        "markers", "daemon_bug(reason): known mod_wsgi_rs bug in daemon mode; strict xfail there"
    )


def _mode_of(item):
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("mode") if callspec is not None else None


def _reason(marker, default):
    return marker.args[0] if marker.args else marker.kwargs.get("reason", default)


def pytest_collection_modifyitems(config, items):
    for item in items:
        mode = _mode_of(item)
        m = item.get_closest_marker("mod_wsgi_bug")
        fixed_in = m.kwargs.get("fixed_in") if m is not None else None
        fixed = fixed_in and not reference_older_than(fixed_in)
        if m is not None and IS_MOD_WSGI and m.kwargs.get("mode", mode) == mode and not fixed:
            reason = "%s bug: %s" % (REF_NAME, _reason(m, "known bug"))
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
        m = item.get_closest_marker("mwrs_only")
        if m is not None and IS_MOD_WSGI:
            reason = "not in %s: %s" % (REF_NAME, _reason(m, "mod_wsgi_rs-only behaviour"))
            item.add_marker(pytest.mark.skip(reason=reason))
        for name, other in (("embedded_only", "daemon"), ("daemon_only", "embedded")):
            m = item.get_closest_marker(name)
            if m is not None and mode == other:
                item.add_marker(pytest.mark.skip(reason="%s by design: %s" % (name, _reason(m, name))))
        m = item.get_closest_marker("daemon_bug")
        if m is not None and mode == "daemon" and not IS_MOD_WSGI:
            reason = "daemon mode: " + _reason(m, "known bug")
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))


@pytest.fixture(autouse=True)
def _apache_log_marks(request):
    request.node._apache_marks = {id(a): a.log_size() for a in _ap.REGISTRY}
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    if rep.failed and rep.when in ("call", "setup"):
        marks = getattr(item, "_apache_marks", {})
        for a in _ap.REGISTRY:
            text = a.log_since(marks.get(id(a), 0))
            if not text.strip():
                continue
            lines = text.splitlines()
            if len(lines) > 200:
                lines = ["... (%d earlier lines)" % (len(lines) - 200)] + lines[-200:]
            rep.sections.append(("apache error log %r" % a, "\n".join(lines)))


def _factory(request):
    created = []

    def make(conf="", start=True, **kw):
        kw.setdefault("name", request.node.name.replace("/", "_").replace(".py", "")[:40])
        a = Apache(conf, **kw)
        created.append(a)
        if start:
            a.start()
        return a

    def fin():
        errors = []
        for a in created:
            try:
                a.stop()
            except Exception as e:  # pragma: no cover - best effort
                errors.append("%r: stop failed: %s" % (a, e))
            bad = _ap.crash_lines(a.error_log())
            if bad:
                errors.append("%r crashed:\n%s" % (a, "\n".join(bad[:20])))
            if not bad and os.environ.get("MWRS_KEEP_ROOTS") != "1":
                a.cleanup()
        if errors:
            pytest.fail("\n".join(errors), pytrace=False)

    request.addfinalizer(fin)
    return make


@pytest.fixture(scope="module")
def make_apache(request):
    return _factory(request)


@pytest.fixture
def make_apache_fn(request):
    return _factory(request)


@pytest.fixture(scope="module", params=MODES)
def mode(request):
    return request.param


@pytest.fixture(scope="module")
def make_mode_apache(request, mode):
    make = _factory(request)

    def make_in_mode(conf="", **kw):
        kw.setdefault("mode", mode)
        return make(conf, **kw)

    return make_in_mode


@pytest.fixture(scope="session")
def module_name():
    return MODULE
