//! The status page of a [`Snapshot`], in the manner of mod_status: plain
//! HTML tables per process group (the processes, then the requests they
//! run now, longest-running first), an optional refresh, and the same
//! facts as JSON for machines. Everything taken from requests (URLs,
//! methods) and from the configuration (group names) is escaped.

use std::fmt::Write;

use super::read::{Current, Proc, Snapshot};

/// `&`, `<`, `>`, `"` and `'` as HTML entities.
fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON string literal.
fn json(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '<' || c == '>' || c == '&' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn group_title(name: &str) -> String {
    if name.is_empty() {
        "embedded (Apache children)".to_string()
    } else {
        format!("daemon process group {}", html(name))
    }
}

fn seconds(us: u64) -> String {
    format!("{:.1}", us as f64 / 1e6)
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "-".into(), |b| format!("{:.1}", b as f64 / 1048576.0))
}

/// Every current request of a group's processes, longest-running first.
fn current_of(procs: &[Proc]) -> Vec<(i32, &Current)> {
    let mut all: Vec<(i32, &Current)> = procs
        .iter()
        .flat_map(|p| p.current.iter().map(move |c| (p.pid, c)))
        .collect();
    all.sort_by_key(|c| std::cmp::Reverse(c.1.age_us));
    all
}

/// The HTML page; `refresh` seconds adds a refresh header in the page.
pub fn html_page(snap: &Snapshot, server: &str, refresh: Option<u32>) -> String {
    let mut o = String::with_capacity(8 * 1024);
    o.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n");
    if let Some(n) = refresh {
        let _ = writeln!(o, "<meta http-equiv=\"refresh\" content=\"{n}\">");
    }
    o.push_str("<title>mod_wsgi_rs status</title>\n<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px;text-align:left}</style>\n</head><body>\n");
    let _ = writeln!(o, "<h1>mod_wsgi_rs status for {}</h1>", html(server));
    let _ = writeln!(o, "<p>{} process slots; <a href=\"?json\">JSON</a>; <a href=\"?refresh=5\">refresh every 5 s</a></p>", snap.slots);
    for (name, g) in &snap.groups {
        let id = if name.is_empty() {
            "embedded".to_string()
        } else {
            format!("group-{}", html(name))
        };
        let _ = writeln!(o, "<h2 id=\"{id}\">{}</h2>", group_title(name));
        o.push_str("<table class=\"processes\">\n<tr><th>PID</th><th>Uptime (s)</th><th>Requests</th><th>Busy threads</th><th>RSS (MiB)</th><th>Last restart reason</th></tr>\n");
        for p in &g.procs {
            let reason = p.last_reason.map_or("-", |r| r.label());
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                p.pid,
                seconds(p.uptime_us),
                p.requests,
                p.busy.max(0),
                mib(p.rss_bytes),
                reason
            );
        }
        o.push_str("</table>\n");
        let current = current_of(&g.procs);
        if current.is_empty() {
            o.push_str("<p>No requests running.</p>\n");
            continue;
        }
        o.push_str("<table class=\"current\">\n<tr><th>Age (s)</th><th>PID</th><th>Thread</th><th>Method</th><th>URL</th></tr>\n");
        for (pid, c) in current {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{pid}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                seconds(c.age_us),
                c.thread,
                html(&c.method),
                html(&c.url)
            );
        }
        o.push_str("</table>\n");
    }
    o.push_str("</body></html>\n");
    o
}

/// The same facts as JSON.
pub fn json_page(snap: &Snapshot) -> String {
    let mut groups = Vec::new();
    for (name, g) in &snap.groups {
        let procs: Vec<String> = g.procs.iter().map(|p| {
            let current: Vec<String> = p.current.iter().map(|c| format!(
                "{{\"method\":{},\"url\":{},\"thread\":{},\"age_seconds\":{:.3}}}",
                json(&c.method), json(&c.url), c.thread, c.age_us as f64 / 1e6)).collect();
            format!(
                "{{\"pid\":{},\"daemon\":{},\"uptime_seconds\":{:.3},\"requests\":{},\"busy_threads\":{},\"interpreters\":{},\"rss_bytes\":{},\"cpu_seconds\":{},\"last_restart_reason\":{},\"current_requests\":[{}]}}",
                p.pid, p.daemon, p.uptime_us as f64 / 1e6, p.requests, p.busy.max(0), p.interpreters,
                p.rss_bytes.map_or("null".into(), |v| v.to_string()),
                p.cpu_seconds.map_or("null".into(), |v| format!("{v:.2}")),
                p.last_reason.map_or("null".into(), |r| json(r.label())),
                current.join(","))
        }).collect();
        let restarts: Vec<String> = super::layout::Reason::ALL
            .iter()
            .map(|r| format!("{}:{}", json(r.label()), g.restarts[r.code() as usize - 1]))
            .collect();
        groups.push(format!(
            "{{\"process_group\":{},\"daemon\":{},\"restarts\":{{{}}},\"processes\":[{}]}}",
            json(name),
            g.daemon,
            restarts.join(","),
            procs.join(",")
        ));
    }
    format!(
        "{{\"slots\":{},\"dropped\":{},\"groups\":[{}]}}\n",
        snap.slots,
        snap.dropped,
        groups.join(",")
    )
}
