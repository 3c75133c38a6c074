//! Building the environ dict: the CGI variables as latin-1 `str`, then
//! the `wsgi.*`, `mod_wsgi.*` and `apache.*` keys mod_wsgi 4.9.4 sets,
//! with the same types.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyString};

use super::cgi::CgiVars;
use super::response::RequestObjects;
use crate::interp::latin1;

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

/// The environ for one request.
pub fn build_environ<'py>(
    py: Python<'py>,
    vars: &CgiVars<'_>,
    extras: &Extras<'_>,
    objects: &RequestObjects<'py>,
) -> PyResult<Bound<'py, PyDict>> {
    let env = objects.environ_template.cast::<PyDict>()?.copy()?;
    let keys = &objects.keys;
    let set = |k: &str, v: Bound<'py, PyAny>| env.set_item(keys.get(py, k.as_bytes()), v);
    for (k, v) in &vars.entries {
        env.set_item(keys.get(py, k), latin1(py, v))?;
    }
    let text = |s: &str| PyString::new(py, s).into_any();
    let flag = |b: bool| text(flag(b));
    let boolean = |b: bool| PyBool::new(py, b).to_owned().into_any();
    set("wsgi.url_scheme", text(extras.url_scheme))?;
    set("wsgi.input", objects.input.clone())?;
    set("wsgi.errors", objects.errors.clone())?;
    set("wsgi.multithread", boolean(extras.multithread))?;
    set("wsgi.multiprocess", boolean(extras.multiprocess))?;
    set("mod_wsgi.process_group", text(extras.process_group))?;
    set("mod_wsgi.application_group", text(extras.application_group))?;
    set("mod_wsgi.callable_object", text(extras.callable_object))?;
    set(
        "mod_wsgi.request_handler",
        latin1(py, extras.request_handler).into_any(),
    )?;
    set("mod_wsgi.handler_script", text(extras.handler_script))?;
    set("mod_wsgi.script_reloading", flag(extras.script_reloading))?;
    set("mod_wsgi.enable_sendfile", flag(extras.enable_sendfile))?;
    set(
        "mod_wsgi.listener_host",
        latin1(py, extras.listener_host).into_any(),
    )?;
    set(
        "mod_wsgi.listener_port",
        latin1(py, extras.listener_port).into_any(),
    )?;
    set(
        "mod_wsgi.request_id",
        latin1(py, extras.request_id).into_any(),
    )?;
    set(
        "mod_wsgi.request_start",
        text(&extras.request_start_us.to_string()),
    )?;
    set(
        "mod_wsgi.script_start",
        text(&extras.script_start_us.to_string()),
    )?;
    let int = |n: u64| n.into_pyobject(py).map(|n| n.into_any());
    set("mod_wsgi.thread_id", int(extras.thread_id)?)?;
    set("mod_wsgi.thread_requests", int(extras.thread_requests)?)?;
    set("mod_wsgi.total_requests", int(extras.total_requests)?)?;
    Ok(env)
}
