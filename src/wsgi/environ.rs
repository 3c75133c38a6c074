//! Building the environ dict: the CGI variables as latin-1 `str`, then
//! the `wsgi.*`, `mod_wsgi.*` and `apache.*` keys mod_wsgi 4.9.4 sets,
//! with the same types.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::cgi::CgiVars;
use super::response::RequestObjects;
use crate::interp::latin1;

/// The non-CGI facts of a request.
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
    for (k, v) in &vars.entries {
        env.set_item(latin1(py, k), latin1(py, v))?;
    }
    env.set_item("wsgi.url_scheme", extras.url_scheme)?;
    env.set_item("wsgi.input", &objects.input)?;
    env.set_item("wsgi.errors", &objects.errors)?;
    env.set_item("wsgi.multithread", extras.multithread)?;
    env.set_item("wsgi.multiprocess", extras.multiprocess)?;
    env.set_item("mod_wsgi.process_group", extras.process_group)?;
    env.set_item("mod_wsgi.application_group", extras.application_group)?;
    env.set_item("mod_wsgi.callable_object", extras.callable_object)?;
    env.set_item(
        "mod_wsgi.request_handler",
        latin1(py, extras.request_handler),
    )?;
    env.set_item("mod_wsgi.handler_script", extras.handler_script)?;
    env.set_item("mod_wsgi.script_reloading", flag(extras.script_reloading))?;
    env.set_item("mod_wsgi.enable_sendfile", flag(extras.enable_sendfile))?;
    env.set_item("mod_wsgi.listener_host", latin1(py, extras.listener_host))?;
    env.set_item("mod_wsgi.listener_port", latin1(py, extras.listener_port))?;
    env.set_item("mod_wsgi.request_id", latin1(py, extras.request_id))?;
    env.set_item(
        "mod_wsgi.request_start",
        extras.request_start_us.to_string(),
    )?;
    env.set_item("mod_wsgi.script_start", extras.script_start_us.to_string())?;
    env.set_item("mod_wsgi.thread_id", extras.thread_id)?;
    env.set_item("mod_wsgi.thread_requests", extras.thread_requests)?;
    env.set_item("mod_wsgi.total_requests", extras.total_requests)?;
    Ok(env)
}
