//! The request's CGI variables and the facts about it that embedded mode
//! gives the adapter (mod_wsgi's `wsgi_build_environment`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::apache::ServerConf;
use crate::apache::{server, Request};
use crate::config::groups::{expand_application_group, GroupFacts};
use crate::config::ServerConfig;
use crate::config::{DirConfig, HeadMode};
use crate::wsgi::CgiVars;

static TOTAL_REQUESTS: AtomicU64 = AtomicU64::new(0);
static NEXT_THREAD_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static THREAD: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

/// Per-process and per-thread request counters for the environ.
pub struct Counters {
    pub thread_id: u64,
    pub thread_requests: u64,
    pub total_requests: u64,
}

/// Counts this request on its thread and in the process.
pub fn count_request() -> Counters {
    let (thread_id, thread_requests) = THREAD.with(|t| {
        let (mut id, n) = t.get();
        if id == 0 {
            id = NEXT_THREAD_ID.fetch_add(1, Ordering::Relaxed);
        }
        t.set((id, n + 1));
        (id, n + 1)
    });
    let total_requests = TOTAL_REQUESTS.fetch_add(1, Ordering::Relaxed) + 1;
    Counters {
        thread_id,
        thread_requests,
        total_requests,
    }
}

/// This thread's and the process's counters, without counting a request
/// (for the dispatch script's environ).
pub fn peek_counters() -> Counters {
    let (thread_id, thread_requests) = THREAD.with(|t| t.get());
    Counters {
        thread_id,
        thread_requests,
        total_requests: TOTAL_REQUESTS.load(Ordering::Relaxed),
    }
}

pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Apache's CGI variables with mod_wsgi's fix-ups; returns them and the
/// URL scheme.
pub fn cgi_vars<'a>(
    r: &'a Request,
    dir: &DirConfig,
    pass_auth: bool,
) -> (CgiVars<'a>, &'static str) {
    r.add_cgi_vars();
    let mut vars = CgiVars::default();
    for (k, v) in r.subprocess_env().entries() {
        vars.push(k, v);
    }
    if pass_auth {
        if let Some(auth) = r.headers_in().get(c"Authorization") {
            vars.set_bytes("HTTP_AUTHORIZATION", auth.to_vec());
        }
    }
    if r.method() == b"HEAD" && map_head(*r, dir.head_mode()) {
        vars.set_bytes("REQUEST_METHOD", b"GET".to_vec());
    }
    let trusted = dir.trusted_proxy_headers.as_deref().unwrap_or(&[]);
    let scheme = vars.prepare(trusted, dir.trusted_proxies.as_deref());
    (vars, scheme)
}

fn map_head(r: Request, mode: HeadMode) -> bool {
    match mode {
        HeadMode::On => true,
        HeadMode::Off => false,
        HeadMode::Auto => r.has_content_filters(),
    }
}

/// Expands an application-group spec for this request (`None`: the
/// default, the main interpreter).
pub fn application_group(r: Request, spec: Option<&str>, script_name: &[u8]) -> String {
    let lookup = |var: &str| -> Option<String> {
        let key = std::ffi::CString::new(var).ok()?;
        let (notes, env) = (r.notes(), r.subprocess_env());
        let found = notes
            .get(&key)
            .or_else(|| env.get(&key))
            .map(|v| String::from_utf8_lossy(v).into_owned());
        found.or_else(|| std::env::var(var).ok())
    };
    let server_name = r.server_name();
    let host = r.hostname();
    let mut script_name = String::from_utf8_lossy(script_name).into_owned();
    if ServerConfig::of(&r.server()).python.case_sensitive == Some(false) {
        script_name = script_name.to_lowercase();
    }
    let facts = GroupFacts {
        server_name: &server_name,
        port: r.server_port(),
        host: host.as_deref(),
        script_name: &script_name,
        env: &lookup,
    };
    expand_application_group(spec, &facts)
}

/// The `Listen` host (if named) and port the connection arrived on.
pub fn listener(r: Request) -> (Vec<u8>, String) {
    let (host, port) = r.local_listener();
    (host.unwrap_or_default(), port.to_string())
}

/// Facts that hold for the whole process.
pub fn multithread() -> bool {
    server::mpm_threads_per_child() > 1
}

pub fn multiprocess() -> bool {
    server::mpm_max_daemons() > 1
}
