"""The status page (issue 16): `SetHandler wsgi-status` shows, per process
group, the processes (pid, uptime, requests, busy threads, RSS, last restart
reason) and the requests running now, longest-running first, with their URL
HTML-escaped; `?refresh=N` adds an automatic refresh and `?json` gives the
same facts to machines. The page is loaded in headless Chromium and what it
rendered is checked."""

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from html.parser import HTMLParser

import pytest
import requests

from conftest import IS_MOD_WSGI

pytestmark = pytest.mark.skipif(IS_MOD_WSGI, reason="wsgi-status is mod_wsgi_rs's own handler")

# Holds the request until the test creates the release file.
HOLD = '''
import os, time

def application(environ, start_response):
    release = environ["mwrs.release"]
    for _ in range(1200):
        if os.path.exists(release):
            break
        time.sleep(0.05)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"released %d\\n" % os.getpid()]
'''

CONF = """
WSGIScriptAlias /hold @APPS@/hold.wsgi
SetEnv mwrs.release @VAR@/release
<Location /status>
    SetHandler wsgi-status
    Require ip 127.0.0.1
</Location>
"""

STUCK_PATH = "/hold/<b>stuck</b>"


class Tables(HTMLParser):
    """The text of every table cell, per table class, as rendered."""

    def __init__(self):
        super().__init__()
        self.tables = {}
        self.metas = []
        self.bold = 0
        self._rows = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._rows = self.tables.setdefault(a.get("class", ""), [])
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None:
            self._cell = ""
        elif tag == "meta":
            self.metas.append(a)
        elif tag == "b":
            self.bold += 1

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._rows[-1].append(self._cell)
            self._cell = None
        elif tag == "table":
            self._rows = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def chromium_dom(url):
    tool = shutil.which("chromium")
    assert tool, "chromium missing: install Debian's chromium package (scripts/install-deps)"
    with tempfile.TemporaryDirectory() as profile:
        p = subprocess.run(
            [tool, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + profile,
             "--dump-dom", url],
            capture_output=True, timeout=120,
        )
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    return p.stdout.decode()


def status_json(ap):
    r = requests.get(ap.url("/status?json"), timeout=30)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    return r.json()


def group_of(mode):
    return "mwrs-test" if mode == "daemon" else ""


def running(ap, pg):
    """The URLs running in group `pg`, longest-running first (over all its
    processes: in embedded mode the two requests may be in two children)."""
    out = []
    for g in status_json(ap)["groups"]:
        if g["process_group"] == pg:
            for p in g["processes"]:
                out += [(c["age_seconds"], c["url"]) for c in p["current_requests"]]
    return [url for _, url in sorted(out, reverse=True)]


def wait_running(ap, pg, n):
    deadline = time.time() + 60
    while time.time() < deadline:
        urls = running(ap, pg)
        if len(urls) == n:
            return urls
        time.sleep(0.1)
    return running(ap, pg)


@pytest.fixture(scope="module")
def ap(make_mode_apache):
    return make_mode_apache(CONF, apps={"hold.wsgi": HOLD}, name="status")


def test_status_page_in_chromium(ap, mode):
    pg = group_of(mode)
    release = ap.var_path("release")
    if os.path.exists(release):
        os.unlink(release)
    answers = []

    def hold(path):
        answers.append(ap.raw(("GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" % path).encode(), timeout=90))

    first = threading.Thread(target=hold, args=(STUCK_PATH,))
    first.start()
    second = None
    try:
        assert wait_running(ap, pg, 1) == [STUCK_PATH]
        second = threading.Thread(target=hold, args=("/hold/second",))
        second.start()
        assert wait_running(ap, pg, 2) == [STUCK_PATH, "/hold/second"]

        page = Tables()
        dom = chromium_dom(ap.url("/status?refresh=7"))
        page.feed(dom)
        # the URL is text, never markup
        assert "&lt;b&gt;stuck&lt;/b&gt;" in dom
        assert page.bold == 0
        current = page.tables["current"]
        assert current[0] == ["Age (s)", "PID", "Thread", "Method", "URL"]
        assert [row[3:] for row in current[1:]] == [["GET", STUCK_PATH], ["GET", "/hold/second"]]
        assert float(current[1][0]) >= float(current[2][0])
        procs = page.tables["processes"]
        assert procs[0] == ["PID", "Uptime (s)", "Requests", "Busy threads", "RSS (MiB)",
                            "Last restart reason"]
        pids = {row[1] for row in current[1:]}
        # (daemon mode: a table for the Apache children, one for the group)
        busy = {row[0]: int(row[3]) for row in procs if row[0].isdigit()}
        assert sum(busy[p] for p in pids) == 2
        assert {"http-equiv": "refresh", "content": "7"} in page.metas
        heading = "daemon process group mwrs-test" if mode == "daemon" else "embedded (Apache children)"
        assert heading in dom
    finally:
        open(release, "w").close()
        first.join(90)
        if second:
            second.join(90)
    assert len(answers) == 2 and all(b" 200 " in a.split(b"\r\n")[0] for a in answers), answers
    assert wait_running(ap, pg, 0) == []
    page = Tables()
    dom = chromium_dom(ap.url("/status"))
    page.feed(dom)
    assert "current" not in page.tables
    assert "No requests running." in dom
    assert not any(m.get("http-equiv") == "refresh" for m in page.metas)


def test_status_json_counts(ap, mode):
    pg = group_of(mode)
    open(ap.var_path("release"), "w").close()
    before = status_json(ap)
    r = requests.get(ap.url("/hold/x"), timeout=90)
    pid = int(r.text.split()[1])
    after = status_json(ap)

    def served(doc):
        # the requests of the process that served (an idle Apache child
        # may exit meanwhile: only that process's own count is exact)
        return sum(p["requests"] for g in doc["groups"] if g["process_group"] == pg
                   for p in g["processes"] if p["pid"] == pid)

    assert served(after) - served(before) == 1
    groups = {g["process_group"]: g for g in after["groups"]}
    assert groups[pg]["daemon"] == (mode == "daemon")
    for p in groups[pg]["processes"]:
        assert p["pid"] > 0 and p["uptime_seconds"] >= 0 and p["rss_bytes"] > 0
        assert p["current_requests"] == []
    if mode == "daemon":
        assert set(groups[pg]["restarts"]) >= {"maximum-requests", "request-timeout", "crash"}
