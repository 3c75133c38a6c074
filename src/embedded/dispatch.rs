//! `WSGIDispatchScript`: per request, Python chooses the process group,
//! application group and callable through `process_group(environ)`,
//! `application_group(environ)` and `callable_object(environ)`.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::script::{self, ScriptFailure};
use crate::apache::Request;
use crate::config::scripts::ScriptRef;

/// What the dispatch script chose (`None`: keep the configured value).
#[derive(Default)]
pub struct Choice {
    pub process_group: Option<String>,
    pub application_group: Option<String>,
    pub callable_object: Option<String>,
}

fn text(value: &Bound<'_, PyAny>) -> Result<Option<String>, String> {
    if value.is_none() {
        return Ok(None);
    }
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(Some(b.as_bytes().iter().map(|&c| c as char).collect()));
    }
    value
        .extract::<String>()
        .map(Some)
        .map_err(|_| "must return str, bytes or None".to_owned())
}

/// Calls the dispatch functions the script defines, with `environ` (the
/// request's environ without `mod_wsgi.callable_object`). `Err` when the
/// script failed (logged); the request is then refused.
pub fn choose(
    py: Python<'_>,
    r: Request,
    script: &ScriptRef,
    environ: &Bound<'_, PyDict>,
) -> Result<Choice, ()> {
    let _ = environ.del_item("mod_wsgi.callable_object");
    let mut choice = Choice::default();
    for (func, slot) in [
        ("process_group", &mut choice.process_group),
        ("application_group", &mut choice.application_group),
        ("callable_object", &mut choice.callable_object),
    ] {
        let outcome = match script::load(py, &script.path, func) {
            Err(ScriptFailure::Missing(_)) => continue,
            Err(e) => Err(e),
            Ok(f) => f
                .call1((environ,))
                .map_err(ScriptFailure::Python)
                .and_then(|v| {
                    text(&v).map_err(|m| ScriptFailure::BadResult(format!("{func}() {m}")))
                }),
        };
        match outcome {
            Ok(v) => *slot = v,
            Err(failure) => {
                script::report(py, r, &script.path, func, failure);
                return Err(());
            }
        }
    }
    Ok(choice)
}
