//! The monitoring handlers, served by Apache children themselves (no
//! Python): `SetHandler wsgi-metrics` (Prometheus text format) and
//! `SetHandler wsgi-status` (an HTML page in mod_status' manner, or JSON
//! with `?json`). Who may see them is Apache's own business (`Require`
//! in the `<Location>`).

use std::os::raw::c_int;

use crate::apache::Request;
use crate::ffi;
use crate::metrics;

const OK: c_int = ffi::OK as c_int;

/// Serves `r` if its handler is one of ours; `None` otherwise.
pub fn handle(r: Request) -> Option<c_int> {
    let page = match r.handler()? {
        b"wsgi-metrics" => Page::Metrics,
        b"wsgi-status" => Page::Status,
        _ => return None,
    };
    if !matches!(r.method(), b"GET" | b"HEAD") {
        return Some(ffi::HTTP_METHOD_NOT_ALLOWED as c_int);
    }
    let server = r.server();
    let Some(snap) = metrics::snapshot(server) else {
        r.log(crate::apache::Level::Error, "[WSGI-RS-E802] the metrics shared memory is not available in this process (it is made when Apache starts; see WSGI-RS-E801 at start-up)");
        return Some(ffi::HTTP_SERVICE_UNAVAILABLE as c_int);
    };
    let (content_type, body) = match page {
        Page::Metrics => (
            metrics::prom::CONTENT_TYPE,
            metrics::prom::render(&snap, env!("CARGO_PKG_VERSION"), &python_version()),
        ),
        Page::Status => {
            let args = String::from_utf8_lossy(r.args()).into_owned();
            if args.split('&').any(|a| a == "json") {
                ("application/json", metrics::status::json_page(&snap))
            } else {
                let name = server.name();
                (
                    "text/html; charset=utf-8",
                    metrics::status::html_page(&snap, &name, refresh(&args)),
                )
            }
        }
    };
    r.headers_out().set(r.pool(), b"Cache-Control", b"no-store");
    r.set_content_type(content_type.as_bytes());
    r.set_content_length(body.len() as u64);
    if !r.is_header_only() {
        let bb = r.new_brigade();
        bb.append_transient(body.as_bytes());
        bb.append_eos();
        let _ = r.pass(&bb);
        bb.cleanup();
    }
    Some(OK)
}

enum Page {
    Metrics,
    Status,
}

/// `refresh=N` (1 to 3600 seconds) in the query string.
fn refresh(args: &str) -> Option<u32> {
    args.split('&')
        .find_map(|a| a.strip_prefix("refresh="))
        .and_then(|n| n.parse::<u32>().ok())
        .map(|n| n.clamp(1, 3600))
}

/// The Python version the module runs (`X.Y.Z`).
fn python_version() -> String {
    crate::interp::python_version()
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}
