"""The Django adapter of issue 15: mod_wsgi_rs.django.SharedCache follows
Django's cache-backend behaviour, and cache-based sessions keep users
logged in across processes and restarts (Debian's python3-django)."""

import pytest
import requests

from harness import shared_apps

pytestmark = pytest.mark.mwrs_only("mod_wsgi_rs's shared state (issue 15)")


def test_django_cache_backend_and_sessions(make_apache_fn):
    ap = make_apache_fn(shared_apps.two_kinds("dj.wsgi", "dj"), apps={"dj.wsgi": shared_apps.DJANGO})
    r = requests.get(ap.url("/e/check/"), timeout=30)
    assert r.status_code == 200, ap.error_log()[-3000:]
    out = r.json()
    assert out["simple"] == "value"
    assert (out["add_existing"], out["add_new"]) == (False, True)
    assert out["has_key"] == [True, False] and out["default"] == "dflt"
    assert out["pickled"] is True
    assert out["incr"] == [2, 12, 11, 6, 6]
    assert out["incr_missing"] == "ValueError"
    assert out["get_many"] == {"a": 1, "b": "bee", "c": [3]}
    assert out["after_delete_many"] == {"c": [3]}
    assert out["delete"] == [True, False]
    assert out["timeout_zero"] is None
    assert out["touch"] == [True, False]
    assert out["expired"] == [None, "x", "x"]
    assert out["versions"] == ["one", "two", "one"]
    assert out["incr_version"] == [None, "two"]
    assert out["prefix"] == ["value", "prefixed"]
    assert out["prefix_clear"] == ["value", None]
    assert out["get_or_set"] == ["first", "first"]
    assert out["clear"] is None

    # A session made in one process is seen by every other, and survives
    # a graceful and a full restart (the daemon processes are new ones).
    s = requests.Session()
    assert s.get(ap.url("/d/login/alice/"), timeout=30).text == "ok"
    seen = set()
    for i in range(12):
        who = s.get(ap.url(("/d/whoami/", "/e/whoami/")[i % 2]), timeout=30).json()
        assert who["user"] == "alice", who
        seen.add((who["pid"], who["group"]))
    assert len({p for p, g in seen if g == "dj"}) == 2
    before = {p for p, _ in seen}
    ap.graceful()
    ap.restart()
    for i in range(6):
        who = s.get(ap.url(("/d/whoami/", "/e/whoami/")[i % 2]), timeout=30).json()
        assert who["user"] == "alice" and who["pid"] not in before, who
    assert requests.get(ap.url("/d/whoami/"), timeout=30).json()["user"] is None
