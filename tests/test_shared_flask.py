"""The Flask-Caching adapter of issue 15 (Debian's python3-flask-caching):
mod_wsgi_rs.flask.SharedCache as CACHE_TYPE, shared by every process."""

import pytest
import requests

from harness import shared_apps

pytestmark = pytest.mark.mwrs_only("mod_wsgi_rs's shared state (issue 15)")


def test_flask_caching_backend(make_apache_fn):
    pytest.importorskip("flask_caching", reason="python3-flask-caching is not installed")
    ap = make_apache_fn(shared_apps.two_kinds("fl.wsgi", "fl"), apps={"fl.wsgi": shared_apps.FLASK})
    r = requests.get(ap.url("/e/ops"), timeout=30)
    assert r.status_code == 200, ap.error_log()[-3000:]
    out = r.json()
    assert out["get"] == {"x": [1, 2]}
    assert out["add"] == [False, True] and out["has"] == [True, False]
    assert out["inc"] == [1, 5, 4]
    assert out["many"] == [1, "two", None]
    assert out["delete"] == [True, False]
    assert out["expired"] is None
    ns = [requests.get(ap.url(("/e/inc", "/d/inc")[i % 2]), timeout=30).json() for i in range(20)]
    assert sorted(n["n"] for n in ns) == list(range(1, 21))
    assert len({n["pid"] for n in ns}) >= 3
    first = requests.get(ap.url("/d/cached"), timeout=30).json()
    for i in range(8):
        assert requests.get(ap.url(("/e/cached", "/d/cached")[i % 2]), timeout=30).json() == first
