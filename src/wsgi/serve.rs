//! The one entry both modes call to run a request: load the application,
//! make the request objects and the environ, run it. A script that
//! cannot be loaded is classified here (E301–E304, E104), so a failure
//! gets the same code and log lines in embedded and daemon mode.

use std::sync::Arc;

use pyo3::exceptions::{PyFileNotFoundError, PyImportError, PyPermissionError, PySyntaxError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::backend::{LogLevel, RequestCtx};
use super::cgi::CgiVars;
use super::environ::{build_environ, Extras};
use super::errors::CurrentRequest;
use super::response::{run, traceback_lines, Outcome, RequestObjects, RunInfo};
use super::stats::RequestStats;
use crate::interp::{self, LoadError};

/// Which application a request runs.
pub struct App<'a> {
    pub script: &'a str,
    /// The script's modification time (µs) when the request was mapped.
    pub mtime: i64,
    pub callable: &'a str,
    /// `WSGIScriptReloading`: reload the script when its file changed.
    pub reloading: bool,
    /// The file the request mapped to, when it differs in meaning from
    /// the script (embedded mode passes it; the daemon has none).
    pub resource: Option<&'a str>,
}

/// How a request went, for the caller's bookkeeping.
pub struct Served {
    pub outcome: Outcome,
    /// The script loaded (false: it failed to load; the daemon's
    /// `startup-timeout` watches this).
    pub loaded: bool,
    /// The request's measurements (`stats.rs`), for any recorder. When
    /// the script failed to load they hold the stamps and status 500
    /// only, and the `mod_wsgi` metrics API did not count the request
    /// (as mod_wsgi, which counts requests that reached the adapter).
    pub stats: RequestStats,
}

/// Runs one request in the current interpreter. `decorate` adds the
/// mode's own environ keys before the application is called.
pub fn serve(
    py: Python<'_>,
    app: &App<'_>,
    vars: &CgiVars<'_>,
    extras: &Extras<'_>,
    ctx: &Arc<RequestCtx>,
    info: &RunInfo<'_>,
    decorate: impl FnOnce(&Bound<'_, PyDict>, &RequestObjects<'_>),
) -> Served {
    // What loading the script logs goes to this request's log, at the
    // request's log level (WSGI-RS-I110, output of the script's code).
    let loaded = {
        let _current = CurrentRequest::enter(ctx);
        interp::load_app(
            py,
            app.script,
            app.mtime,
            app.callable,
            app.reloading,
            app.resource,
        )
    };
    let callable = match loaded {
        Ok(callable) => callable,
        Err(e) => {
            load_failed(py, ctx, app.script, e);
            return Served {
                outcome: Outcome::Status(500),
                loaded: false,
                stats: RequestStats {
                    application_finish: super::stats::now_us(),
                    status: 500,
                    ..info.stats()
                },
            };
        }
    };
    let mut stats = info.stats();
    let outcome = match RequestObjects::new(py, ctx, info.request_id)
        .and_then(|objects| build_environ(py, vars, extras, &objects).map(|env| (objects, env)))
    {
        Ok((objects, environ)) => {
            decorate(&environ, &objects);
            run(py, &callable, &environ, &objects, ctx, info, &mut stats)
        }
        Err(e) => {
            e.print(py);
            stats.application_finish = super::stats::now_us();
            stats.status = 500;
            Outcome::Status(500)
        }
    };
    Served {
        outcome,
        loaded: true,
        stats,
    }
}

/// Logs why the script could not be loaded, with a code per cause.
fn load_failed(py: Python<'_>, ctx: &Arc<RequestCtx>, script: &str, e: LoadError) {
    let log = |line: &str| {
        ctx.with(|b| b.log(LogLevel::Error, line));
    };
    let err = match e {
        LoadError::MissingCallable(msg) => return log(&format!("[WSGI-RS-E104] {msg}")),
        LoadError::Failed(err) => err,
    };
    log(&headline(py, script, &err));
    log(&format!(
        "Exception occurred processing WSGI script '{script}'."
    ));
    for line in traceback_lines(py, &err) {
        log(&line);
    }
}

fn headline(py: Python<'_>, script: &str, err: &PyErr) -> String {
    if err.is_instance_of::<PyFileNotFoundError>(py) {
        format!("[WSGI-RS-E301] WSGI script '{script}' does not exist (it was removed after Apache mapped the request).")
    } else if err.is_instance_of::<PyPermissionError>(py) {
        let uid = crate::apache::process::effective_uid();
        format!("[WSGI-RS-E302] WSGI script '{script}' cannot be read by the process loading it (uid {uid}); make it and its directories readable by Apache's User (or the daemon group's user=).")
    } else if err.is_instance_of::<PySyntaxError>(py) {
        format!("[WSGI-RS-E303] WSGI script '{script}' has a syntax error.")
    } else if err.is_instance_of::<PyImportError>(py) {
        let path = py
            .import("sys")
            .and_then(|s| s.getattr("path"))
            .map(|p| p.to_string())
            .unwrap_or_default();
        format!(
            "[WSGI-RS-E304] WSGI script '{script}' failed to import a module; sys.path is {path}"
        )
    } else {
        format!("[WSGI-RS-E104] Failed to exec Python script file '{script}'.")
    }
}
