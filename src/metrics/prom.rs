//! The Prometheus text exposition format (version 0.0.4) of a
//! [`Snapshot`]: every family with its `# HELP` and `# TYPE`, label
//! values escaped, histograms cumulative with `+Inf`, `_sum` and
//! `_count`. Written by hand rather than through a crate: the values are
//! sums read from shared memory at scrape time, not metric objects
//! living in this process, and the format needs only the escaping below.

use std::fmt::Write;

use super::layout::{Reason, BOUNDS_US, H_DURATION, H_GIL, H_QUEUE, STATUS_CLASSES};
use super::read::{Hist, Proc, Snapshot};

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const CLASSES: [&str; STATUS_CLASSES] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// Escapes a label value (backslash, double quote, newline).
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, pairs: &[(&str, &str)], value: impl std::fmt::Display) {
    let _ = writeln!(out, "{name}{} {value}", labels(pairs));
}

fn histogram(out: &mut String, name: &str, pairs: &[(&str, &str)], h: &Hist) {
    let mut cumulative = 0u64;
    for (i, n) in h.buckets.iter().enumerate() {
        cumulative += n;
        let le = match BOUNDS_US.get(i) {
            Some(us) => format!("{}", *us as f64 / 1e6),
            None => "+Inf".to_string(),
        };
        let mut with_le = pairs.to_vec();
        with_le.push(("le", &le));
        sample(out, &format!("{name}_bucket"), &with_le, cumulative);
    }
    sample(out, &format!("{name}_sum"), pairs, h.sum_us as f64 / 1e6);
    sample(out, &format!("{name}_count"), pairs, cumulative);
}

/// The whole exposition.
pub fn render(snap: &Snapshot, version: &str, python: &str) -> String {
    let mut out = String::with_capacity(16 * 1024);
    family(
        &mut out,
        "mod_wsgi_rs_build_info",
        "gauge",
        "The module's version and the Python it was built against (always 1).",
    );
    sample(
        &mut out,
        "mod_wsgi_rs_build_info",
        &[("version", version), ("python", python)],
        1,
    );

    family(
        &mut out,
        "mod_wsgi_rs_requests_total",
        "counter",
        "Requests finished, by process group, application group and status class.",
    );
    for ((pg, ag), t) in &snap.labelled {
        for (c, n) in t.status.iter().enumerate() {
            let l = [
                ("process_group", pg.as_str()),
                ("application_group", ag.as_str()),
                ("status_class", CLASSES[c]),
            ];
            sample(&mut out, "mod_wsgi_rs_requests_total", &l, n);
        }
    }
    let hists = [
        (H_DURATION, "mod_wsgi_rs_request_duration_seconds", "Time from Apache's request start to the end of the response."),
        (H_QUEUE, "mod_wsgi_rs_request_queue_wait_seconds", "Daemon mode: time from the Apache child sending the request to a daemon thread accepting it (0 in embedded mode)."),
        (H_GIL, "mod_wsgi_rs_request_gil_wait_seconds", "Time the request waited for the Python GIL."),
    ];
    for (h, name, help) in hists {
        family(&mut out, name, "histogram", help);
        for ((pg, ag), t) in &snap.labelled {
            let l = [
                ("process_group", pg.as_str()),
                ("application_group", ag.as_str()),
            ];
            histogram(&mut out, name, &l, &t.hists[h]);
        }
    }
    family(
        &mut out,
        "mod_wsgi_rs_active_requests",
        "gauge",
        "Requests in progress, counted by the Apache child that took them.",
    );
    for ((pg, ag), t) in &snap.labelled {
        let l = [
            ("process_group", pg.as_str()),
            ("application_group", ag.as_str()),
        ];
        sample(&mut out, "mod_wsgi_rs_active_requests", &l, t.active.max(0));
    }
    process_families(&mut out, snap);
    family(
        &mut out,
        "mod_wsgi_rs_metrics_dropped_total",
        "counter",
        "Recordings lost because a fixed table in the shared memory was full.",
    );
    sample(
        &mut out,
        "mod_wsgi_rs_metrics_dropped_total",
        &[],
        snap.dropped,
    );
    out
}

/// The per-group and per-process families.
fn process_families(out: &mut String, snap: &Snapshot) {
    family(
        out,
        "mod_wsgi_rs_busy_threads",
        "gauge",
        "Threads running a WSGI application now.",
    );
    for (pg, g) in &snap.groups {
        let busy: i64 = g.procs.iter().map(|p| p.busy.max(0)).sum();
        sample(
            out,
            "mod_wsgi_rs_busy_threads",
            &[("process_group", pg)],
            busy,
        );
    }
    family(
        out,
        "mod_wsgi_rs_processes",
        "gauge",
        "Processes up: daemon processes of each group, Apache children for process_group=\"\".",
    );
    for (pg, g) in &snap.groups {
        sample(
            out,
            "mod_wsgi_rs_processes",
            &[("process_group", pg)],
            g.procs.len(),
        );
    }
    family(
        out,
        "mod_wsgi_rs_python_interpreters",
        "gauge",
        "Python interpreters (main and sub-interpreters) in the group's processes.",
    );
    for (pg, g) in &snap.groups {
        let n: u64 = g.procs.iter().map(|p| p.interpreters).sum();
        sample(
            out,
            "mod_wsgi_rs_python_interpreters",
            &[("process_group", pg)],
            n,
        );
    }
    family(
        out,
        "mod_wsgi_rs_daemon_restarts_total",
        "counter",
        "Daemon processes replaced, by the reason.",
    );
    for (pg, g) in snap.groups.iter().filter(|(_, g)| g.daemon) {
        for r in Reason::ALL {
            let n = g.restarts[r.code() as usize - 1];
            sample(
                out,
                "mod_wsgi_rs_daemon_restarts_total",
                &[("process_group", pg), ("reason", r.label())],
                n,
            );
        }
    }
    per_process(
        out,
        snap,
        "mod_wsgi_rs_process_resident_memory_bytes",
        "gauge",
        "Resident memory of each daemon process.",
        |p| p.rss_bytes.map(|b| b as f64),
    );
    per_process(
        out,
        snap,
        "mod_wsgi_rs_process_cpu_seconds_total",
        "counter",
        "CPU time (user and system) of each daemon process.",
        |p| p.cpu_seconds,
    );
}

/// A family with one sample per daemon process (labels: group, pid).
fn per_process(
    out: &mut String,
    snap: &Snapshot,
    name: &str,
    kind: &str,
    help: &str,
    value: impl Fn(&Proc) -> Option<f64>,
) {
    family(out, name, kind, help);
    for (pg, g) in snap.groups.iter().filter(|(_, g)| g.daemon) {
        for p in &g.procs {
            if let Some(v) = value(p) {
                let pid = p.pid.to_string();
                sample(out, name, &[("process_group", pg), ("pid", &pid)], v);
            }
        }
    }
}
