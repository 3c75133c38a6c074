#!/usr/bin/python3
"""Writes bench/RESULTS.md and bench/ratios.png from a results JSON of bench/bench.py.

    /usr/bin/python3 bench/report.py [results.json]

Without an argument it uses the newest bench/results/<date>-full*.json.  Results of a
QUICK run (under bench/.work/) produce bench/.work/RESULTS.md and ratios.png, so
a sanity run never overwrites the committed report.  Profile figures from
bench/profile.sh (bench/results/profile-*.json, newest) are included when present.
Runs in a matrix root (bench/results/<date>-<root>-*.json from
`bash tests/matrix debian13 --run bench/run`, and <date>-<root>-gil.txt from
`bash bench/gil.sh debian13`) get a section each (matrix_section).
"""

import functools
import glob
import json
import os
import re
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))

# Targets from issue 6 (embedded, event MPM, c=32): workload -> [(denominator, minimum ratio)]
TARGETS = {
    "hello": [("mod_wsgi", 1.2), ("static", 0.9)],
    "100k": [("static", 0.95)],
    "upload_1m": [("mod_wsgi", 1.2)],
    "file_10m": [("static", 1.0)],
    "flask": [("mod_wsgi", 1.1)],
    "django": [("mod_wsgi", 1.1)],
}
DAEMON_TARGETS = {
    "hello": ("mod_wsgi_daemon", 2.0), "100k": ("mod_wsgi_daemon", 2.0), "upload_1m": ("mod_wsgi_daemon", 2.5),
    "file_10m": ("rs", 0.9), "flask": ("mod_wsgi_daemon", 1.5), "django": ("mod_wsgi_daemon", 1.5),
}
WL_TITLES = {
    "hello": "hello (13 B)", "100k": "100 KB body", "upload_1m": "1 MiB POST (wsgi.input)",
    "file_10m": "10 MiB wsgi.file_wrapper", "chunks_1k": "1,000 x 1 KiB yields",
    "flask": "Flask JSON", "django": "Django template",
}
SERVER_ORDER = ["rs", "mod_wsgi", "static", "granian", "gunicorn", "rs_daemon", "mod_wsgi_daemon"]


def load(path):
    with open(path) as f:
        return json.load(f)


def newest(pattern):
    files = sorted(glob.glob(pattern))
    return files[-1] if files else None


def fmt_rps(v):
    return "%.0f" % v if v >= 100 else "%.1f" % v


def fmt_us(v):
    return "%.2f ms" % (v / 1000) if v >= 1000 else "%d µs" % v


def shared_state_section(path):
    """bench/SHARED-STATE.md (written by bench/shared_state.py, a run of
    its own) as a section of RESULTS.md: its title becomes the section's,
    its text follows unchanged."""
    with open(path) as f:
        lines = f.read().strip().splitlines()
    title = lines[0].lstrip("# ").strip()
    body = "\n".join(lines[1:]).strip()
    return "## %s (`bench/shared_state.py`, from `bench/SHARED-STATE.md`)\n\n%s\n" % (title, body)


# <date>-<time>-<root>-{quick,full}[-daemon].json (bench/run) and <date>-<time>-<root>-gil.txt
# (bench/gil.sh): runs inside a tests/matrix root.
MATRIX_RUN = re.compile(r"^\d{8}-\d{6}-(?P<tag>[a-z0-9][a-z0-9.-]*?)-(?P<kind>quick|full|gil)(-daemon)?\.(json|txt)$")


# bench/bench.py with BENCH_APACHE=debian: Debian's own Apache configuration, on this machine.
DEBCONF = "debconf"


def debconf_section(name):
    """The run in Debian's default Apache configuration (`BENCH_APACHE=debian`): the
    issue-18 targets and the side-by-side table, as for a matrix root."""
    d = load(os.path.join(BENCH, "results", name))
    meta, cfg = d["meta"], d["meta"]["config"]
    L = ["## Debian's default Apache configuration (ThreadsPerChild 25), against mod_wsgi 4.9.4", "",
         "`BENCH_APACHE=debian%s bench/run` on %s, mod_wsgi_rs %s (raw data: `bench/results/%s`): %s. "
         "Same method as above otherwise: %s s × %d runs per cell, A B A B, `wrk -t1`; load average %s at the "
         "start, %s at the end." % (
             " MWRS_BENCH_DAEMON=1" if cfg.get("daemon") else "", meta.get("date"), meta.get("mod_wsgi_rs_rev"),
             name, cfg["apache"], cfg["seconds"], cfg["runs"], meta.get("loadavg_start"), meta.get("loadavg_end")),
         ""]
    L += issue18_targets(d) + [""]
    L += pair_table(d, "mod_wsgi")
    static = ["%s c=%d: %d" % (c["workload"], c["conc"], c["summary"]["failed"])
              for c in d["cells"] if c["server"] == "static" and "summary" in c]
    if static:
        L += ["", "Failed requests of Apache serving the same bytes as static files in the same configuration "
              "(no WSGI module): %s. With 25 threads per child the event MPM closes kept-alive connections "
              "whenever it finds every worker of a child busy (so that clients reconnect to another child), "
              "and wrk counts a request it had just sent on such a connection as a read error." % "; ".join(static)]
    return "\n".join(L + [""])


def pair_table(d, mw):
    """mod_wsgi_rs against mod_wsgi, cell by cell, embedded and daemon rows: table lines."""
    cfg = d["meta"]["config"]
    cells = {(c["workload"], c["conc"], c["server"]): c for c in d["cells"]}
    med = lambda c, k: c["summary"][k]["median"] if c and "summary" in c else None  # noqa: E731
    L = []
    L += ["| workload | c | mode | mod_wsgi_rs req/s | %s req/s | ratio | CPU µs/req rs / mod_wsgi "
          "| p99 rs / mod_wsgi | failed rs / mod_wsgi |" % mw, "|---|---|---|---|---|---|---|---|---|"]
    pairs = [("embedded", "rs", "mod_wsgi")] + ([("daemon", "rs_daemon", "mod_wsgi_daemon")] if cfg.get("daemon") else [])
    for wl in cfg["workloads"]:
        for conc in cfg["concurrency"]:
            for mode, a, b in pairs:
                ca, cb = cells.get((wl, conc, a)), cells.get((wl, conc, b))
                ra, rb = med(ca, "rps"), med(cb, "rps")
                shown = lambda c, v, f: f(v) if v is not None else (c or {}).get("reason", "n/a")[:80]  # noqa: E731
                L.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s / %s |" % (
                    WL_TITLES.get(wl, wl), conc, mode, shown(ca, ra, fmt_rps), shown(cb, rb, fmt_rps),
                    "%.2f" % (ra / rb) if ra and rb else "—",
                    "%.1f / %.1f" % (med(ca, "cpu_us_per_req"), med(cb, "cpu_us_per_req")) if ra and rb else "—",
                    "%s / %s" % (fmt_us(med(ca, "p99_us")), fmt_us(med(cb, "p99_us"))) if ra and rb else "—",
                    (ca or {}).get("summary", {}).get("failed", "—"), (cb or {}).get("summary", {}).get("failed", "—")))
    return L


def matrix_section(tag):
    """The section of one matrix root (bench/run inside `tests/matrix TAG`): its
    newest full run, else its newest QUICK run (said in bold, with the load),
    mod_wsgi_rs against that root's own mod_wsgi, and its newest gil.sh output."""
    files = sorted(f for f in os.listdir(os.path.join(BENCH, "results"))
                   if (m := MATRIX_RUN.match(f)) and m["tag"] == tag)
    runs = [f for f in files if not f.endswith("-gil.txt")]
    gil = [f for f in files if f.endswith("-gil.txt")]
    gil_text = []
    if gil:
        with open(os.path.join(BENCH, "results", gil[-1])) as f:
            gil_text = ["Per-interpreter GIL (`bash bench/gil.sh %s`, `bench/results/%s`; one Apache child, two "
                        "application groups, one `ab -k -c 1` each, about 5 ms of pure Python per request). "
                        "`On` can only beat `Off` with two idle cores: read the ratio with the load averages "
                        "it prints." % (tag, gil[-1]), "", "```", f.read().strip(), "```", ""]
    if not runs:
        return "\n".join(["## `tests/matrix %s`: per-interpreter GIL" % tag, ""] + gil_text)
    name = ([f for f in runs if MATRIX_RUN.match(f)["kind"] == "full"] or runs)[-1]
    if tag == DEBCONF:
        return debconf_section(name)
    d = load(os.path.join(BENCH, "results", name))
    meta, cfg = d["meta"], d["meta"]["config"]
    osname = re.sub(r"GNU/Linux | \(.*\)", "", meta.get("os", tag))  # "Debian 13"
    py = ".".join(re.sub(r"^Python ", "", meta.get("python", "")).split(".")[:2])
    apache = re.sub(r"^.*Apache/(\S+).*$", r"\1", meta.get("apache", ""))
    mw = re.sub(r"^\S+ (\d+:)?([^-]+).*$", r"mod_wsgi \2", meta.get("mod_wsgi", "mod_wsgi"))
    med = lambda c, k: c["summary"][k]["median"] if c and "summary" in c else None  # noqa: E731
    others = sorted(r["other_cpu_pct"] for c in d["cells"] for r in c.get("runs", []))
    L = ["## %s (Python %s, Apache %s) against %s" % (osname, py, apache, mw), ""]
    L.append("`bash tests/matrix %s --run bench/run`%s on %s, mod_wsgi_rs %s built against the root's Python, "
             "the root's own `mod_wsgi.so` (%s), %s (raw data: `bench/results/%s`). Same method as above: "
             "%s s × %d runs per cell, A B A B, `wrk -t1`." % (
                 tag, " with `QUICK=1`" if cfg.get("quick") else "", meta.get("date"), meta.get("mod_wsgi_rs_rev"),
                 meta.get("mod_wsgi"), meta.get("flask_django"), name, cfg["seconds"], cfg["runs"]))
    L.append("")
    if cfg.get("quick"):
        L.append("**QUICK run on a loaded machine** (load average %s at the start, %s at the end; other work "
                 "took a median %.0f %% of a core during the measured runs): these figures show that the "
                 "benchmark runs in the root, not how the two modules compare. A full run: the command "
                 "above without `QUICK=1`, on an idle machine." % (
                     meta.get("loadavg_start"), meta.get("loadavg_end"), others[len(others) // 2] if others else 0))
        L.append("")
    L += pair_table(d, mw)
    L.append("")
    refs = []
    for srv in ("static", "granian", "gunicorn"):
        v = (d.get("servers") or {}).get(srv)
        if not v:
            continue
        got = ["%s c=%d %s" % (c["workload"], c["conc"], fmt_rps(med(c, "rps")))
               for c in d["cells"] if c["server"] == srv and med(c, "rps")]
        refs.append("%s: %s" % (v["label"], ", ".join(got) if got else "n/a (%s)" % (v.get("reason") or "no cell")[:120]))
    if refs:
        L += ["References in the same root (median req/s): " + "; ".join(refs) + ".", ""]
    soak = ((d.get("soak") or {}).get("servers") or {})
    if soak:
        L.append("Soak (ab -k -c 32 on /hello): " + "; ".join(
            "%s %.1f MB per child after %d requests (%d failed)" % (
                srv, v["rows"][-1]["rss_kb_max"] / 1024, v["rows"][-1]["requests"], sum(r["failed"] for r in v["rows"]))
            for srv, v in soak.items() if v.get("rows")) + ".")
        L.append("")
    return "\n".join(L + gil_text)


def median(cells, wl, conc, srv, key="rps"):
    """The median of `key` in a measured cell, or None."""
    c = cells.get((wl, conc, srv))
    if not c or c.get("status") != "ok" or "summary" not in c:
        return None
    return c["summary"][key]["median"]


def median_ratio(cells, wl, conc, a, b, key="rps"):
    """Server a's median over server b's in one cell, or None."""
    x, y = median(cells, wl, conc, a, key), median(cells, wl, conc, b, key)
    return x / y if x and y else None


def issue18_targets(d):
    """The targets of issue 18 (performance, second round) checked against one run:
    table lines. Ratios are of median req/s; CPU figures are medians of CPU µs per
    request over every process of the server."""
    cells = {(c["workload"], c["conc"], c["server"]): c for c in d["cells"]}
    cfg = d["meta"]["config"]
    med, ratio = functools.partial(median, cells), functools.partial(median_ratio, cells)
    rows = []

    def row(what, target, got, ok):
        rows.append("| %s | %s | %s | %s |" % (what, target, got, "—" if ok is None else ("yes" if ok else "**no**")))

    def ratio_row(wl, conc, a, b, mn, label):
        r = ratio(wl, conc, a, b)
        row("%s c=%d%s" % (WL_TITLES.get(wl, wl), conc, " (daemon)" if a.endswith("daemon") else ""),
            "≥ %.2f× %s" % (mn, label), "%.2f×" % r if r else "n/a", r >= mn if r else None)

    ratio_row("hello", 32, "rs", "mod_wsgi", 1.3, "mod_wsgi")
    ratio_row("hello", 32, "rs", "static", 0.9, "static file")
    a, b = med("hello", 32, "rs", "cpu_us_per_req"), med("hello", 32, "static", "cpu_us_per_req")
    row("hello c=32: module CPU over Apache's static-file CPU", "≤ 15 µs per request",
        "%.1f µs (%.1f − %.1f)" % (a - b, a, b) if a and b else "n/a", a - b <= 15 if a and b else None)
    ratio_row("100k", 32, "rs", "mod_wsgi", 1.1, "mod_wsgi")
    for wl in ("flask", "django"):
        for conc in (1, 32):
            ratio_row(wl, conc, "rs", "mod_wsgi", 1.1, "mod_wsgi")
    if cfg.get("daemon"):
        a, b = med("hello", 32, "rs_daemon", "cpu_us_per_req"), med("hello", 32, "rs", "cpu_us_per_req")
        row("hello c=32: extra CPU of a daemon request over an embedded one", "≤ 25 µs per request",
            "%.1f µs (%.1f − %.1f)" % (a - b, a, b) if a and b else "n/a", a - b <= 25 if a and b else None)
        ratio_row("hello", 32, "rs_daemon", "mod_wsgi_daemon", 1.6, "mod_wsgi daemon")
        ratio_row("100k", 32, "rs_daemon", "mod_wsgi_daemon", 2.0, "mod_wsgi daemon")
        for conc in (1, 32):
            ratio_row("chunks_1k", conc, "rs_daemon", "mod_wsgi_daemon", 1.0, "mod_wsgi daemon")
    pairs = [("rs", "mod_wsgi")] + ([("rs_daemon", "mod_wsgi_daemon")] if cfg.get("daemon") else [])
    worse, n = [], 0
    for wl in cfg["workloads"]:
        for conc in cfg["concurrency"]:
            for a, b in pairs:
                pa, pb = med(wl, conc, a, "p99_us"), med(wl, conc, b, "p99_us")
                if pa and pb:
                    n += 1
                    if pa > pb:
                        worse.append("%s c=%d%s (%s vs %s)" % (wl, conc, " daemon" if a == "rs_daemon" else "",
                                                               fmt_us(pa), fmt_us(pb)))
    row("every cell, embedded%s" % (" and daemon" if cfg.get("daemon") else ""), "p99 ≤ mod_wsgi's",
        "worse in %d of %d: %s" % (len(worse), n, "; ".join(worse)) if worse else "never worse in %d cells" % n,
        not worse)
    failed = ["%s c=%d %s: %d" % (c["workload"], c["conc"], c["server"], c["summary"]["failed"])
              for c in d["cells"] if c["server"] in ("rs", "rs_daemon") and c.get("summary", {}).get("failed")]
    row("every cell, mod_wsgi_rs", "zero failed requests", "; ".join(failed) if failed else "0 everywhere", not failed)
    return ["| target | wanted | measured | met |", "|---|---|---|---|"] + rows


def main():
    mains = [f for f in glob.glob(os.path.join(BENCH, "results", "*-full*.json"))
             if not MATRIX_RUN.match(os.path.basename(f))]  # Debian 12 runs, not a matrix root's
    path = sys.argv[1] if len(sys.argv) > 1 else max(mains, default=None)
    if not path:
        sys.exit("no results JSON (run bench/run first)")
    d = load(path)
    outdir = os.path.join(BENCH, ".work") if "/.work/" in os.path.abspath(path) else BENCH
    meta = d["meta"]
    cells = {}
    for c in d["cells"]:
        cells[(c["workload"], c["conc"], c["server"])] = c
    workloads = []
    concs = []
    for c in d["cells"]:
        if c["workload"] not in workloads:
            workloads.append(c["workload"])
        if c["conc"] not in concs:
            concs.append(c["conc"])
    servers_present = [s for s in SERVER_ORDER if any(k[2] == s for k in cells)]

    med, ratio = functools.partial(median, cells), functools.partial(median_ratio, cells)

    L = []
    w = L.append
    w("# mod_wsgi_rs benchmark results")
    w("")
    w("Side-by-side run of mod_wsgi_rs against Debian's mod_wsgi 4.9.4 in identical Apache "
      "instances, with Apache serving the same bytes as a static file (the ceiling for any "
      "module) and Granian and Gunicorn as references. Produced by `bench/run` "
      "(raw data: `bench/results/%s`)." % os.path.basename(path))
    w("")
    w("![ratios](ratios.png)")
    w("")
    w("## Machine and versions")
    w("")
    w("| | |")
    w("|---|---|")
    for k, label in [("date", "Date"), ("nproc", "nproc"), ("cpu_model", "CPU"), ("kernel", "Kernel"),
                     ("os", "OS"), ("mem_total", "Memory"), ("apache", "Apache"), ("python", "Python (all contenders)"),
                     ("mod_wsgi", "mod_wsgi"), ("mod_wsgi_rs_rev", "mod_wsgi_rs git rev"), ("wrk", "wrk"),
                     ("flask_django", "Frameworks (Debian)"), ("granian", "Granian"), ("gunicorn", "Gunicorn")]:
        w("| %s | %s |" % (label, meta.get(k, "") or "n/a"))
    la0, la1 = meta.get("loadavg_start"), meta.get("loadavg_end")
    others = [r["other_cpu_pct"] for c in d["cells"] for r in c.get("runs", [])]
    others.sort()
    w("| Load average before / after | %s / %s |" % (la0, la1))
    if others:
        w("| Other work during measured runs (CPU not used by the server or wrk, %% of one core) | "
          "median %.0f %%, max %.0f %% |" % (others[len(others) // 2], others[-1]))
    w("| Duration of the run | %.1f min |" % (meta.get("elapsed_s", 0) / 60))
    w("")
    if others and others[len(others) // 2] > 10:
        w("**The machine was not idle during this run**: other work (other sessions building and "
          "testing) was loading it (load average %s at the start, %s at the end; other CPU use "
          "per run in the raw data, `other_cpu_pct`). Absolute req/s figures are therefore low "
          "and noisy; the A B A B alternation spreads the disturbance over both modules, and "
          "the CPU time per request is the more robust figure." % (la0, la1))
        w("")
    elif others:
        w("**Machine state**: CPU used by anything other than the servers and wrk during the "
          "measured runs was a median %.0f %% of one core (max %.0f %%; `other_cpu_pct` in the raw "
          "data). The load average counts the benchmark's own threads and the minutes before the "
          "run. Absolute figures are from a 2-core virtual machine; the ratios and CPU time per "
          "request are the meaningful figures." % (others[len(others) // 2], others[-1]))
        w("")
    cfg = meta["config"]
    w("## Method")
    w("")
    w("- Apache: %s." % cfg["apache"])
    w("- Daemon rows: %s (%s)." % ("run" if cfg.get("daemon") else "not run in this pass (set `MWRS_BENCH_DAEMON=1`)",
                                   cfg["daemon_conf"]))
    w("- Static ceiling: a third Apache with the same configuration and no WSGI module, serving the same bytes "
      "(13-byte, 100 KB and the same 10 MiB file on tmpfs) under the same URLs.")
    w("- Granian %s: `%s`. Gunicorn: `%s`. Both from a venv of /usr/bin/python3 "
      "(the interpreter both Apache modules embed) with the Debian Flask/Django." % (
          meta.get("granian") or "", cfg["granian"], cfg["gunicorn"]))
    w("- One app file for everyone (`bench/apps/app.py`, routes by PATH_INFO), Flask and Django loaded at import; "
      "each route is validated (status, body) and primed before measuring.")
    w("- Load: `%s`; %s s per run, %d runs per cell, contenders alternated A B A B within each round; "
      "%d s warm-up per contender and cell. Figures: median (min–max) over the runs." % (
          cfg["wrk"], cfg["seconds"], cfg["runs"], cfg["warmup_s"]))
    w("- Failed = non-2xx + socket errors (connect, read, write, timeout), summed over the runs. "
      "CPU/req = Δ(utime+stime) over every process of the server (Apache parent + children, incl. daemon "
      "processes) from /proc/<pid>/stat across the run ÷ requests. Peak RSS = max VmHWM over the worker "
      "processes, reset (clear_refs 5) before each run.")
    w("- Soak: %s." % cfg["soak"])
    w("")

    # ------------------------------------------------------------ targets
    w("## Targets of issue 18 (performance, second round)")
    w("")
    w("Ratios of median req/s against the contender named, c=32 unless said; CPU per request as under "
      "Method. Where a target is not met, the figures and the profile evidence are in "
      "`bench/results/profile-issue18.md` and under Findings.")
    w("")
    L.extend(issue18_targets(d))
    w("")
    w("## Targets (issue 6, embedded, event MPM, c=32)")
    w("")
    w("Measured = ratio of medians; the run range is the ratio of our slowest run to their fastest and of our "
      "fastest to their slowest. \"within noise\" means the target lies inside that range.")
    w("")
    w("| workload | target | measured | met |")
    w("|---|---|---|---|")
    for wl, tl in TARGETS.items():
        if wl not in workloads:
            continue
        for den, mn in tl:
            r = ratio(wl, 32, "rs", den)
            name = "mod_wsgi" if den == "mod_wsgi" else "static file"
            if r is None:
                w("| %s | ≥ %.2f× %s | n/a | — |" % (WL_TITLES[wl], mn, name))
            else:
                a = cells[(wl, 32, "rs")]["summary"]["rps"]
                b = cells[(wl, 32, den)]["summary"]["rps"]
                lo, hi = a["min"] / b["max"], a["max"] / b["min"]
                if lo >= mn:
                    verdict = "yes"
                elif hi < mn:
                    verdict = "**no**"
                else:
                    verdict = ("yes" if r >= mn else "**no**") + " (within noise)"
                w("| %s | ≥ %.2f× %s | %.2f× (run range %.2f–%.2f) | %s |" % (
                    WL_TITLES[wl], mn, name, r, lo, hi, verdict))
    # p99, RSS, failed
    worse = []
    for wl in workloads:
        for conc in concs:
            a, b = med(wl, conc, "rs", "p99_us"), med(wl, conc, "mod_wsgi", "p99_us")
            if a and b and a > b:
                worse.append("%s c=%d (%s vs %s)" % (wl, conc, fmt_us(a), fmt_us(b)))
    w("| all cells | p99 latency ≤ mod_wsgi | %s | %s |" % (
        "worse in %d of %d: %s" % (len(worse), len(workloads) * len(concs), "; ".join(worse)) if worse else "never worse",
        "**no**" if worse else "yes"))
    over = []
    for wl in workloads:
        for conc in concs:
            a, b = med(wl, conc, "rs", "peak_rss_kb"), med(wl, conc, "mod_wsgi", "peak_rss_kb")
            if a and b and a > b + 2048:
                over.append("%s c=%d (%.1f vs %.1f MB)" % (wl, conc, a / 1024, b / 1024))
    w("| all cells | peak RSS per process ≤ mod_wsgi + 2 MB | %s | %s |" % (
        "; ".join(over) if over else "within in every cell", "**no**" if over else "yes"))
    soak = d.get("soak") or {}
    srs = (soak.get("servers") or {}).get("rs") or {}
    if srs.get("rows"):
        rows = srs["rows"]
        first = next((r for r in rows if r["requests"] >= 100000), rows[0])
        last = rows[-1]
        g = (last["rss_kb_max"] - first["rss_kb_max"]) / 1024
        w("| soak | RSS growth 100k → 1M requests < 1 MB | %+.2f MB per process from %d to %d requests%s | %s |" % (
            g, first["requests"], last["requests"], "" if last["requests"] >= 1000000 else " (1M only with SOAK_FULL=1)",
            "yes" if g < 1 else "**no**"))
    fails = {}
    for c in d["cells"]:
        if c["server"] == "rs" and c.get("summary"):
            fails[(c["workload"], c["conc"])] = c["summary"]["failed"]
    soak_fail = sum(r["failed"] for r in srs.get("rows", []))
    bad = ["%s c=%d: %d" % (k[0], k[1], v) for k, v in fails.items() if v]
    if soak_fail:
        bad.append("soak: %d" % soak_fail)
    w("| all cells | zero failed requests | %s | %s |" % ("; ".join(bad) if bad else "0 everywhere",
                                                          "**no**" if bad else "yes"))
    if not cfg.get("daemon"):
        w("| daemon column | see issue | not run in this pass (`MWRS_BENCH_DAEMON=1`; ours is reported n/a while `apache2 -t` refuses WSGIDaemonProcess) | — |")
    else:
        for wl, (den, mn) in DAEMON_TARGETS.items():
            r = ratio(wl, 32, "rs_daemon", den)
            c = cells.get((wl, 32, "rs_daemon"))
            shown = "%.2f×" % r if r else ("n/a (daemon mode not implemented)" if c and c.get("status") == "n/a" else "n/a")
            w("| %s daemon | ≥ %.1f× %s | %s | %s |" % (WL_TITLES.get(wl, wl), mn, den, shown,
                                                     ("yes" if r >= mn else "**no**") if r else "—"))
    w("")

    # ------------------------------------------------------------ ratios
    w("## Ratios (median req/s; CPU efficiency = mod_wsgi CPU/req ÷ ours, > 1 means we use less CPU)")
    w("")
    w("| workload | c | rs / mod_wsgi | rs / static | rs / Granian | CPU efficiency vs mod_wsgi | p99 rs / mod_wsgi | failed rs / mod_wsgi |")
    w("|---|---|---|---|---|---|---|---|")
    chart = []
    for wl in workloads:
        for conc in concs:
            r1 = ratio(wl, conc, "rs", "mod_wsgi")
            r2 = ratio(wl, conc, "rs", "static")
            r3 = ratio(wl, conc, "rs", "granian")
            ce = ratio(wl, conc, "mod_wsgi", "rs", "cpu_us_per_req")
            pa, pb = med(wl, conc, "rs", "p99_us"), med(wl, conc, "mod_wsgi", "p99_us")
            fa = (cells.get((wl, conc, "rs")) or {}).get("summary", {}).get("failed")
            fb = (cells.get((wl, conc, "mod_wsgi")) or {}).get("summary", {}).get("failed")
            f = lambda v: "%.2f" % v if v else "—"  # noqa: E731
            w("| %s | %d | %s | %s | %s | %s | %s | %s / %s |" % (
                WL_TITLES.get(wl, wl), conc, f(r1), f(r2), f(r3), f(ce),
                "%s / %s" % (fmt_us(pa), fmt_us(pb)) if pa and pb else "—",
                fa if fa is not None else "—", fb if fb is not None else "—"))
            chart.append((wl, conc, r1, r2, ce))
    w("")

    # ------------------------------------------------------------ raw medians
    w("## Raw medians")
    w("")
    w("req/s median (min–max); latency p50 / p99; failed summed over runs; CPU µs per request; peak RSS per process.")
    w("")
    for wl in workloads:
        w("### %s" % WL_TITLES.get(wl, wl))
        w("")
        w("| c | server | req/s | p50 | p99 | failed | CPU µs/req | peak RSS MB | MB/s |")
        w("|---|---|---|---|---|---|---|---|---|")
        for conc in concs:
            for srv in servers_present:
                c = cells.get((wl, conc, srv))
                if not c:
                    continue
                if c.get("status") != "ok" or "summary" not in c:
                    w("| %d | %s | %s | | | | | | |" % (conc, c.get("label", srv),
                                                       (c.get("reason") or c.get("status", "n/a"))[:120]))
                    continue
                s = c["summary"]
                w("| %d | %s | %s (%s–%s) | %s | %s | %d | %.1f | %.1f | %.1f |" % (
                    conc, c["label"], fmt_rps(s["rps"]["median"]), fmt_rps(s["rps"]["min"]), fmt_rps(s["rps"]["max"]),
                    fmt_us(s["p50_us"]["median"]), fmt_us(s["p99_us"]["median"]), s["failed"],
                    s["cpu_us_per_req"]["median"], s["peak_rss_kb"]["median"] / 1024, s["mb_per_s"]["median"]))
        w("")

    # ------------------------------------------------------------ soak
    if soak.get("servers"):
        w("## Soak (/hello, ab -k -c 32, fresh instance)")
        w("")
        w("| server | after requests | RSS per child max MB | RSS sum MB | failed in step |")
        w("|---|---|---|---|---|")
        for srv, v in soak["servers"].items():
            for r in v.get("rows", []):
                w("| %s | %d | %.1f | %.1f | %d |" % (srv, r["requests"], r["rss_kb_max"] / 1024, r["rss_kb_sum"] / 1024,
                                                  r["failed"]))
        w("")

    # ------------------------------------------------------------ server logs
    w("## Server error logs")
    w("")
    for srv, v in (d.get("servers") or {}).items():
        lg = v.get("log") or {}
        if not v.get("available"):
            w("- %s: unavailable — %s" % (srv, v.get("reason")))
        elif "errors" in lg:
            w("- %s: %d lines, %d at error level or worse%s" % (
                srv, lg["lines"], lg["errors"],
                (": e.g. `%s`" % lg["first_errors"][0][-200:]) if lg.get("first_errors") else ""))
    for srv, v in (soak.get("servers") or {}).items():
        lg = v.get("errlog") or {}
        if lg.get("errors"):
            w("- %s (soak instance): %d error lines, e.g. `%s`" % (srv, lg["errors"], lg["first_errors"][0][-200:]))
    w("")

    # ------------------------------------------------------------ profile
    prof = newest(os.path.join(BENCH, "results", "profile-*.json"))
    if prof:
        p = load(prof)
        w("## Instructions per request (callgrind, `bench/profile.sh`)")
        w("")
        w("%s. Instruction counts do not depend on the load on the machine." % p.get("method", ""))
        w("")
        w("| route | requests | mod_wsgi_rs Ir/request | mod_wsgi Ir/request | ratio |")
        w("|---|---|---|---|---|")
        for route, v in p["routes"].items():
            w("| %s | %d | {:,} | {:,} | %.2f |".format(int(v["mod_wsgi_rs"]), int(v["mod_wsgi"])) % (
                route, v["requests"], v["ratio"]))
        w("")
        w("Top functions (exclusive Ir): `bench/results/profile-*-<module>-<route>.txt`.")
        w("")

    if outdir == BENCH:
        tags = sorted({m["tag"] for f in os.listdir(os.path.join(BENCH, "results")) if (m := MATRIX_RUN.match(f))})
        L.extend(matrix_section(t) for t in tags)

    shared = os.path.join(BENCH, "SHARED-STATE.md")
    if outdir == BENCH and os.path.exists(shared):
        w(shared_state_section(shared))

    notes = os.path.join(BENCH, "results", "findings.md")
    if outdir == BENCH and os.path.exists(notes):
        w("## Findings (hand-written, `bench/results/findings.md`)")
        w("")
        with open(notes) as f:
            w(f.read().strip())
        w("")

    md = os.path.join(outdir, "RESULTS.md")
    with open(md, "w") as f:
        f.write("\n".join(L))
    print("wrote", md)

    # ------------------------------------------------------------ chart
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no chart (bench/run installs python3-matplotlib)")
        return
    labels, a1, a32, st32, ce32 = [], [], [], [], []
    for wl in workloads:
        labels.append(WL_TITLES.get(wl, wl).replace(" (", "\n("))
        get = {(x[0], x[1]): x for x in chart}
        a1.append((get.get((wl, 1)) or (0, 0, None))[2] or 0)
        a32.append((get.get((wl, 32)) or (0, 0, None))[2] or 0)
        st32.append((get.get((wl, 32)) or (0, 0, None, None))[3] or 0)
        ce32.append((get.get((wl, 32)) or (0, 0, None, None, None))[4] or 0)
    import numpy as np
    x = np.arange(len(labels))
    wdt = 0.2
    fig, ax = plt.subplots(figsize=(11, 5))
    ax.bar(x - 1.5 * wdt, a1, wdt, label="req/s ÷ mod_wsgi, c=1")
    ax.bar(x - 0.5 * wdt, a32, wdt, label="req/s ÷ mod_wsgi, c=32")
    ax.bar(x + 0.5 * wdt, ce32, wdt, label="CPU/req of mod_wsgi ÷ ours, c=32")
    ax.bar(x + 1.5 * wdt, st32, wdt, label="req/s ÷ Apache static file, c=32")
    ax.axhline(1.0, color="black", lw=0.8)
    for i, wl in enumerate(workloads):
        for den, mn in TARGETS.get(wl, []):
            off = -0.5 * wdt if den == "mod_wsgi" else 1.5 * wdt
            ax.plot([x[i] + off - wdt / 2, x[i] + off + wdt / 2], [mn, mn], color="red", lw=2)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("ratio (mod_wsgi_rs ÷ other)")
    ax.set_title("mod_wsgi_rs vs mod_wsgi 4.9.4 and static Apache, embedded, event MPM (red: issue 6 targets)\n"
                 "%s, %s CPUs, %s" % (meta.get("date", ""), meta.get("nproc"), meta.get("mod_wsgi_rs_rev", "")), fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    png = os.path.join(outdir, "ratios.png")
    fig.savefig(png, dpi=100)
    print("wrote", png)


if __name__ == "__main__":
    main()
