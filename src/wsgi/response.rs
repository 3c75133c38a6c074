//! Calling the application and driving its response: the iterable is
//! written as it is produced, `close()` is always called, and failures
//! become a 500 (before the response started) or a cut connection
//! (after), with the traceback in the error log.

use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyDict, PyList, PyTuple};

use super::backend::{LogLevel, Push, RequestCtx, WriteError};
use super::errors::{text_stream, CurrentRequest, Log};
use super::file_wrapper::{file_range, FileWrapper};
use super::input::Input;
use super::start_response::{send_chunks, send_headers, Response, SharedResponse, StartResponse};

/// What the caller returns to the server.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The response was produced (or cut off); nothing more to do.
    Done,
    /// Nothing was sent: the server should answer with this status.
    Status(u16),
}

/// Facts about the request the messages need.
pub struct RunInfo<'a> {
    pub script: &'a str,
}

/// The per-request objects placed in the environ.
pub struct RequestObjects {
    pub input: Py<Input>,
    /// The raw log behind `errors`.
    log: Py<Log>,
    /// `wsgi.errors`: a text stream over `log`.
    pub errors: Py<PyAny>,
}

impl RequestObjects {
    pub fn new(py: Python<'_>, ctx: &Arc<RequestCtx>) -> PyResult<RequestObjects> {
        let log = Py::new(py, Log::for_request(ctx.clone()))?;
        let errors = text_stream(py, &log)?.unbind();
        Ok(RequestObjects {
            input: Py::new(py, Input::new(ctx.clone()))?,
            log,
            errors,
        })
    }

    /// Writes out whatever the application left in `wsgi.errors`.
    pub fn flush_errors(&self, py: Python<'_>) {
        let _ = self.errors.bind(py).call_method0("flush");
        let _ = self.log.bind(py).borrow().flush_pending();
    }
}

enum Failure {
    Python(PyErr),
    /// The iterable yielded something that is not bytes.
    BadValue(PyErr),
    Write(WriteError),
}

impl From<PyErr> for Failure {
    fn from(e: PyErr) -> Self {
        Failure::Python(e)
    }
}
impl From<WriteError> for Failure {
    fn from(e: WriteError) -> Self {
        Failure::Write(e)
    }
}

/// Calls `app(environ, start_response)` and sends its response.
pub fn run(
    py: Python<'_>,
    app: &Bound<'_, PyAny>,
    environ: &Bound<'_, PyDict>,
    objects: &RequestObjects,
    ctx: &Arc<RequestCtx>,
    info: &RunInfo<'_>,
) -> Outcome {
    let _current = CurrentRequest::enter(ctx);
    let response: SharedResponse = Arc::new(Mutex::new(Response::default()));
    let start_response = match Py::new(
        py,
        StartResponse {
            response: response.clone(),
            ctx: ctx.clone(),
        },
    ) {
        Ok(s) => s,
        Err(e) => return fail(py, ctx, &response, info, Failure::Python(e)),
    };
    let mut outcome = match app.call1((environ, start_response)) {
        Ok(result) => {
            let body = send_body(py, &result, &response, ctx);
            let closed = close_iterable(&result).map_err(Failure::from);
            match (body, closed) {
                (Err(f), _) => fail(py, ctx, &response, info, f),
                // The whole body went out: a failing close() is logged
                // but does not spoil a complete response.
                (Ok(()), Err(f)) if response.lock().sent => {
                    log_failure(py, ctx, info, "E101", f);
                    finish(ctx, &response, info)
                }
                (Ok(()), Err(f)) => fail(py, ctx, &response, info, f),
                (Ok(()), Ok(())) => finish(ctx, &response, info),
            }
        }
        Err(e) => fail(py, ctx, &response, info, Failure::Python(e)),
    };
    objects.flush_errors(py);
    if outcome == Outcome::Done && !response.lock().sent {
        outcome = Outcome::Status(500);
    }
    outcome
}

fn close_iterable(result: &Bound<'_, PyAny>) -> PyResult<()> {
    if result.hasattr("close")? {
        result.call_method0("close")?;
    }
    Ok(())
}

fn send_body(
    py: Python<'_>,
    result: &Bound<'_, PyAny>,
    response: &SharedResponse,
    ctx: &Arc<RequestCtx>,
) -> Result<(), Failure> {
    if let Ok(wrapper) = result.cast::<FileWrapper>() {
        let limit = response.lock().content_length;
        if let Some((fd, offset, len)) = file_range(py, &wrapper.borrow(), limit) {
            return send_file(py, response, ctx, fd, offset, len);
        }
    }
    if result.is_instance_of::<PyList>() || result.is_instance_of::<PyTuple>() {
        let mut chunks = Vec::with_capacity(result.len()?);
        for item in result.try_iter().map_err(Failure::BadValue)? {
            chunks.push(to_bytes(&item?).map_err(Failure::BadValue)?);
        }
        let total: u64 = chunks.iter().map(|c| c.len() as u64).sum();
        let push = {
            let resp = response.lock();
            let complete = resp
                .content_length
                .is_none_or(|cl| resp.written + total >= cl);
            if complete {
                Push::End
            } else {
                Push::Buffer
            }
        };
        return send_chunks(py, response, ctx, &chunks, push).map_err(Failure::from);
    }
    for item in result.try_iter().map_err(Failure::BadValue)? {
        let chunk = to_bytes(&item?).map_err(Failure::BadValue)?;
        send_chunks(py, response, ctx, &[chunk], Push::Flush)?;
    }
    Ok(())
}

fn to_bytes(item: &Bound<'_, PyAny>) -> PyResult<PyBackedBytes> {
    if let Ok(b) = item.extract::<PyBackedBytes>() {
        return Ok(b);
    }
    let type_name = item
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default();
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "sequence of byte string values expected, value of type {type_name} found"
    )))
}

fn send_file(
    py: Python<'_>,
    response: &SharedResponse,
    ctx: &Arc<RequestCtx>,
    fd: i32,
    offset: u64,
    len: u64,
) -> Result<(), Failure> {
    {
        let mut resp = response.lock();
        if resp.content_length.is_none() && !resp.sent {
            resp.content_length = Some(len);
            resp.headers
                .push(("Content-Length".into(), len.to_string()));
        }
    }
    send_headers(response, ctx)?;
    response.lock().written += len;
    py.detach(|| ctx.with(|b| b.send_file(fd, offset, len)))
        .unwrap_or_else(|| Err(WriteError::Failed("request has ended".into())))?;
    Ok(())
}

fn finish(ctx: &RequestCtx, response: &SharedResponse, info: &RunInfo<'_>) -> Outcome {
    if let Err(e) = send_headers(response, ctx) {
        if let WriteError::Failed(msg) = e {
            log(
                ctx,
                LogLevel::Error,
                &format!("[WSGI-RS-E102] {msg} in WSGI script '{}'", info.script),
            );
        }
        return Outcome::Status(500);
    }
    let resp = response.lock();
    if resp.ended {
        return Outcome::Done;
    }
    let short = resp.content_length.is_some_and(|cl| resp.written < cl);
    let bodyless = matches!(resp.status.as_ref().map(|s| s.0), Some(204) | Some(304));
    drop(resp);
    let header_only = ctx.with(|b| b.header_only()).unwrap_or(true);
    if short && !bodyless && !header_only {
        log(ctx, LogLevel::Error, &format!(
            "[WSGI-RS-E105] WSGI script '{}' returned fewer bytes than its Content-Length; connection closed",
            info.script
        ));
        ctx.with(|b| b.abort());
        return Outcome::Done;
    }
    if let Some(Err(WriteError::ClientGone)) = ctx.with(|b| b.finish()) {
        client_gone(ctx, info);
    }
    Outcome::Done
}

fn log_failure(py: Python<'_>, ctx: &RequestCtx, info: &RunInfo<'_>, code: &str, failure: Failure) {
    match failure {
        Failure::Write(WriteError::ClientGone) => client_gone(ctx, info),
        Failure::Write(WriteError::Failed(msg)) => {
            let msg = format!("[WSGI-RS-{code}] {msg} (WSGI script '{}')", info.script);
            log(ctx, LogLevel::Error, &msg);
        }
        Failure::Python(err) | Failure::BadValue(err) => {
            let msg = format!(
                "[WSGI-RS-{code}] Exception occurred processing WSGI script '{}'.",
                info.script
            );
            log(ctx, LogLevel::Error, &msg);
            for line in traceback_lines(py, &err) {
                log(ctx, LogLevel::Error, &line);
            }
        }
    }
}

fn fail(
    py: Python<'_>,
    ctx: &RequestCtx,
    response: &SharedResponse,
    info: &RunInfo<'_>,
    failure: Failure,
) -> Outcome {
    let sent = response.lock().sent;
    if let Failure::Write(WriteError::ClientGone) = failure {
        client_gone(ctx, info);
        return Outcome::Done;
    }
    let invalid = response.lock().invalid;
    let code = match (&failure, sent) {
        (_, true) => "E105",
        (Failure::Python(_), false) if invalid => "E103",
        (Failure::Write(_) | Failure::BadValue(_), false) => "E102",
        (Failure::Python(_), false) => "E101",
    };
    log_failure(py, ctx, info, code, failure);
    if sent {
        ctx.with(|b| b.abort());
        Outcome::Done
    } else {
        Outcome::Status(500)
    }
}

fn client_gone(ctx: &RequestCtx, info: &RunInfo<'_>) {
    log(ctx, LogLevel::Info, &format!(
        "[WSGI-RS-I203] client closed the connection before the response of WSGI script '{}' was complete",
        info.script
    ));
}

fn log(ctx: &RequestCtx, level: LogLevel, msg: &str) {
    ctx.with(|b| b.log(level, msg));
}

/// The formatted traceback of `err`, one line per entry.
pub fn traceback_lines(py: Python<'_>, err: &PyErr) -> Vec<String> {
    let formatted = py
        .import("traceback")
        .and_then(|tb| {
            tb.call_method1(
                "format_exception",
                (err.get_type(py), err.value(py), err.traceback(py)),
            )
        })
        .and_then(|lines| lines.extract::<Vec<String>>());
    match formatted {
        Ok(chunks) => chunks.concat().lines().map(str::to_owned).collect(),
        Err(_) => vec![err.to_string()],
    }
}
