//! Building the environ dict: the CGI variables as latin-1 `str`, then
//! the `wsgi.*`, `mod_wsgi.*` and `apache.*` keys mod_wsgi 4.9.4 sets,
//! with the same types.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyString};

use super::cgi::CgiVars;
use super::response::RequestObjects;
use crate::interp::latin1;
use crate::interp::strings::{decimal, dict_with_capacity};

/// The non-CGI facts of a request. Each field becomes the environ key of
/// the same name (`wsgi.url_scheme`, `wsgi.multithread`, … and
/// `mod_wsgi.*`; times in µs since the epoch), as mod_wsgi sets them.
pub struct Extras<'a> {
    pub url_scheme: &'static str,
    pub multithread: bool,
    pub multiprocess: bool,
    pub process_group: &'a str,
    pub application_group: &'a str,
    pub callable_object: &'a str,
    pub request_handler: &'a [u8],
    pub handler_script: &'a str,
    pub script_reloading: bool,
    pub enable_sendfile: bool,
    pub listener_host: &'a [u8],
    pub listener_port: &'a [u8],
    pub request_id: &'a [u8],
    pub request_start_us: i64,
    pub script_start_us: i64,
    pub thread_id: u64,
    pub thread_requests: u64,
    pub total_requests: u64,
}

fn flag(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

/// Keys [`build_environ`] adds besides the CGI variables and the
/// template's (room is made for them up front).
const ADDED_KEYS: usize = 24;

/// The environ for one request: the template's keys, the CGI variables
/// in the server's order, then the adapter's keys (mod_wsgi's order).
pub fn build_environ<'py>(
    py: Python<'py>,
    vars: &CgiVars<'_>,
    extras: &Extras<'_>,
    objects: &RequestObjects<'py>,
) -> PyResult<Bound<'py, PyDict>> {
    let template = objects.environ_template.cast::<PyDict>()?;
    // Sized once for everything below: growing a dict key by key
    // rehashes it five times on the way to 40-odd keys.
    let env = dict_with_capacity(py, template.len() + vars.entries.len() + ADDED_KEYS)?;
    env.update(template.as_mapping())?;
    let keys = &objects.keys;
    let set = |k: &str, v: &Bound<'py, PyAny>| keys.with(py, k.as_bytes(), |k| env.set_item(k, v));
    for (k, v) in &vars.entries {
        keys.with(py, k, |k| env.set_item(k, latin1(py, v)))?;
    }
    let text = |s: &str| PyString::new(py, s).into_any();
    let flag = |b: bool| text(flag(b));
    let boolean = |b: bool| PyBool::new(py, b).to_owned().into_any();
    let bytes = |b: &[u8]| latin1(py, b).into_any();
    let number = |n: i64| decimal(py, n).into_any();
    set("wsgi.url_scheme", &text(extras.url_scheme))?;
    set("wsgi.input", &objects.input)?;
    set("wsgi.errors", &objects.errors)?;
    set("wsgi.multithread", &boolean(extras.multithread))?;
    set("wsgi.multiprocess", &boolean(extras.multiprocess))?;
    set("mod_wsgi.process_group", &text(extras.process_group))?;
    set(
        "mod_wsgi.application_group",
        &text(extras.application_group),
    )?;
    set("mod_wsgi.callable_object", &text(extras.callable_object))?;
    set("mod_wsgi.request_handler", &bytes(extras.request_handler))?;
    set("mod_wsgi.handler_script", &text(extras.handler_script))?;
    set("mod_wsgi.script_reloading", &flag(extras.script_reloading))?;
    set("mod_wsgi.enable_sendfile", &flag(extras.enable_sendfile))?;
    set("mod_wsgi.listener_host", &bytes(extras.listener_host))?;
    set("mod_wsgi.listener_port", &bytes(extras.listener_port))?;
    set("mod_wsgi.request_id", &bytes(extras.request_id))?;
    set("mod_wsgi.request_start", &number(extras.request_start_us))?;
    set("mod_wsgi.script_start", &number(extras.script_start_us))?;
    let int = |n: u64| n.into_pyobject(py).map(|n| n.into_any());
    set("mod_wsgi.thread_id", &int(extras.thread_id)?)?;
    set("mod_wsgi.thread_requests", &int(extras.thread_requests)?)?;
    set("mod_wsgi.total_requests", &int(extras.total_requests)?)?;
    Ok(env)
}
