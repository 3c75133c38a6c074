//! Loading a helper script's function (auth, dispatch, handler scripts)
//! and reporting its failures the same way everywhere.

use pyo3::prelude::*;

use crate::apache::{Level, Request};
use crate::{interp, wsgi};

/// Why a script function could not give an answer.
pub enum ScriptFailure {
    Missing(String),
    Python(PyErr),
    BadResult(String),
}

/// The function `func` of the script at `path`, (re)loaded when the file
/// changed.
pub fn load<'py>(
    py: Python<'py>,
    path: &str,
    func: &str,
) -> Result<Bound<'py, PyAny>, ScriptFailure> {
    let mtime = wsgi::mtime_us(path).map_err(ScriptFailure::Missing)?;
    interp::load_app(py, path, mtime, func, true, None).map_err(|e| match e {
        interp::LoadError::MissingCallable(msg) => ScriptFailure::Missing(msg),
        interp::LoadError::Failed(err) => ScriptFailure::Python(err),
    })
}

/// Logs a failure with its traceback; the caller then denies.
pub fn report(py: Python<'_>, r: Request, path: &str, func: &str, failure: ScriptFailure) {
    match failure {
        ScriptFailure::Missing(msg) => r.log(
            Level::Error,
            &format!("[WSGI-RS-E502] script '{path}': {msg}"),
        ),
        ScriptFailure::BadResult(msg) => r.log(
            Level::Error,
            &format!("[WSGI-RS-E502] script '{path}': {msg}"),
        ),
        ScriptFailure::Python(err) => {
            r.log(Level::Error, &format!("[WSGI-RS-E502] Exception occurred in {func}() of script '{path}'; access denied."));
            for line in wsgi::traceback_lines(py, &err) {
                r.log(Level::Error, &line);
            }
        }
    }
}
