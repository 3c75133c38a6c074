//! Environ keys made once per interpreter: the `str` objects (with their
//! hashes cached) for the CGI variables requests usually carry and every
//! key the adapter adds, so a request builds none of them. Names are
//! found through a small hash table; any other name is decoded per
//! request as before.

use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

use crate::interp::latin1;

/// Sorted by bytes (checked at compile time).
const KEYS: &[&str] = &[
    "AUTH_TYPE",
    "CONTENT_LENGTH",
    "CONTENT_TYPE",
    "CONTEXT_DOCUMENT_ROOT",
    "CONTEXT_PREFIX",
    "DOCUMENT_ROOT",
    "GATEWAY_INTERFACE",
    "HTTPS",
    "HTTP_ACCEPT",
    "HTTP_ACCEPT_CHARSET",
    "HTTP_ACCEPT_ENCODING",
    "HTTP_ACCEPT_LANGUAGE",
    "HTTP_AUTHORIZATION",
    "HTTP_CACHE_CONTROL",
    "HTTP_CONNECTION",
    "HTTP_CONTENT_LENGTH",
    "HTTP_CONTENT_TYPE",
    "HTTP_COOKIE",
    "HTTP_DNT",
    "HTTP_FORWARDED",
    "HTTP_HOST",
    "HTTP_IF_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_NONE_MATCH",
    "HTTP_KEEP_ALIVE",
    "HTTP_ORIGIN",
    "HTTP_PRAGMA",
    "HTTP_RANGE",
    "HTTP_REFERER",
    "HTTP_SEC_CH_UA",
    "HTTP_SEC_CH_UA_MOBILE",
    "HTTP_SEC_CH_UA_PLATFORM",
    "HTTP_SEC_FETCH_DEST",
    "HTTP_SEC_FETCH_MODE",
    "HTTP_SEC_FETCH_SITE",
    "HTTP_SEC_FETCH_USER",
    "HTTP_TE",
    "HTTP_TRANSFER_ENCODING",
    "HTTP_UPGRADE_INSECURE_REQUESTS",
    "HTTP_USER_AGENT",
    "HTTP_VIA",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_REAL_IP",
    "HTTP_X_REQUESTED_WITH",
    "PATH_INFO",
    "PATH_TRANSLATED",
    "QUERY_STRING",
    "REDIRECT_STATUS",
    "REDIRECT_URL",
    "REMOTE_ADDR",
    "REMOTE_HOST",
    "REMOTE_IDENT",
    "REMOTE_PORT",
    "REMOTE_USER",
    "REQUEST_METHOD",
    "REQUEST_SCHEME",
    "REQUEST_URI",
    "SCRIPT_FILENAME",
    "SCRIPT_NAME",
    "SCRIPT_URI",
    "SCRIPT_URL",
    "SERVER_ADDR",
    "SERVER_ADMIN",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "SERVER_SIGNATURE",
    "SERVER_SOFTWARE",
    "UNIQUE_ID",
    "mod_wsgi.application_group",
    "mod_wsgi.callable_object",
    "mod_wsgi.daemon_connects",
    "mod_wsgi.daemon_restarts",
    "mod_wsgi.daemon_start",
    "mod_wsgi.enable_sendfile",
    "mod_wsgi.handler_script",
    "mod_wsgi.listener_host",
    "mod_wsgi.listener_port",
    "mod_wsgi.path_info",
    "mod_wsgi.process_group",
    "mod_wsgi.queue_start",
    "mod_wsgi.request_handler",
    "mod_wsgi.request_id",
    "mod_wsgi.request_start",
    "mod_wsgi.script_name",
    "mod_wsgi.script_reloading",
    "mod_wsgi.script_start",
    "mod_wsgi.thread_id",
    "mod_wsgi.thread_requests",
    "mod_wsgi.total_requests",
    "wsgi.errors",
    "wsgi.input",
    "wsgi.multiprocess",
    "wsgi.multithread",
    "wsgi.url_scheme",
];

const fn sorted(keys: &[&str]) -> bool {
    let mut i = 1;
    while i < keys.len() {
        let (a, b) = (keys[i - 1].as_bytes(), keys[i].as_bytes());
        let mut j = 0;
        loop {
            if j == a.len() {
                if j == b.len() {
                    return false; // duplicate
                }
                break;
            }
            if j == b.len() || a[j] > b[j] {
                return false;
            }
            if a[j] < b[j] {
                break;
            }
            j += 1;
        }
        i += 1;
    }
    true
}
const _: () = assert!(sorted(KEYS), "environ KEYS must be sorted and unique");

const SLOTS: usize = 512;

/// A cheap hash of a variable name: its length and four of its bytes
/// (the names differ there; a collision costs one more probe).
fn hash(b: &[u8]) -> usize {
    let n = b.len();
    if n == 0 {
        return 0;
    }
    let pick = |i: usize| b[i] as usize;
    let h = n
        .wrapping_mul(0x9e37)
        .wrapping_add(pick(0).wrapping_mul(31))
        .wrapping_add(pick(n / 2).wrapping_mul(0x1f1))
        .wrapping_add(pick(n - 1).wrapping_mul(0x3b3))
        .wrapping_add(pick(n * 3 / 4).wrapping_mul(7));
    h ^ (h >> 9)
}

/// Open-addressing table from a name's hash to its index in [`KEYS`]
/// (process-wide plain data, built once): one hash and, normally, one
/// comparison per lookup.
fn table() -> &'static [u16; SLOTS] {
    static TABLE: std::sync::OnceLock<[u16; SLOTS]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [u16::MAX; SLOTS];
        for (i, k) in KEYS.iter().enumerate() {
            let mut slot = hash(k.as_bytes()) % SLOTS;
            while t[slot] != u16::MAX {
                slot = (slot + 1) % SLOTS;
            }
            t[slot] = i as u16;
        }
        t
    })
}

/// The index of `name` in [`KEYS`].
fn index(name: &[u8]) -> Option<usize> {
    let t = table();
    let mut slot = hash(name) % SLOTS;
    loop {
        let i = t[slot];
        if i == u16::MAX {
            return None;
        }
        if KEYS[i as usize].as_bytes() == name {
            return Some(i as usize);
        }
        slot = (slot + 1) % SLOTS;
    }
}

/// The prebuilt keys, one tuple per interpreter (kept by the bootstrap).
pub fn make_tuple(py: Python<'_>) -> PyResult<Bound<'_, PyTuple>> {
    PyTuple::new(py, KEYS.iter().map(|k| PyString::new(py, k)))
}

/// The keys of the current interpreter.
pub struct Keys<'py> {
    tuple: Option<Bound<'py, PyTuple>>,
}

impl<'py> Keys<'py> {
    pub fn new(tuple: Option<Bound<'py, PyTuple>>) -> Keys<'py> {
        Keys {
            tuple: tuple.filter(|t| t.len() == KEYS.len()),
        }
    }

    /// The key `name` as a Python `str` (a new reference).
    pub fn get(&self, py: Python<'py>, name: &[u8]) -> Bound<'py, PyAny> {
        self.with(py, name, |k| k.clone())
    }

    /// Calls `f` with the key `name` as a Python `str`: the prebuilt
    /// object (borrowed, no new reference) when the table has it, else a
    /// new latin-1 string.
    pub fn with<R>(
        &self,
        py: Python<'py>,
        name: &[u8],
        f: impl FnOnce(&Bound<'py, PyAny>) -> R,
    ) -> R {
        let prebuilt = self
            .tuple
            .as_ref()
            .and_then(|t| t.get_borrowed_item(index(name)?).ok());
        match prebuilt {
            Some(k) => f(&k),
            None => f(latin1(py, name).as_any()),
        }
    }
}
