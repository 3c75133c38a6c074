//! Calling the application and driving its response: the iterable is
//! written as it is produced, `close()` is always called, and failures
//! become a 500 (before the response started) or a cut connection
//! (after), with the traceback in the error log.

use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::exceptions::PySystemExit;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyModule, PyTuple};

use super::backend::{LogLevel, Push, RequestCtx, WriteError};
use super::errors::{CurrentRequest, LogHandle};
use super::file_wrapper::file_range;
use super::input::InputHandle;
use super::interval;
use super::start_response::{send_chunks, send_headers, Response, ResponseHandle, SharedResponse};
use super::stats::{self, RequestStats};
use crate::interp::handle;

/// What the caller returns to the server.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The response was produced (or cut off); nothing more to do.
    Done,
    /// Nothing was sent: the server should answer with this status.
    Status(u16),
}

/// Facts about the request the messages and events need.
pub struct RunInfo<'a> {
    pub script: &'a str,
    pub request_id: &'a str,
    pub thread_id: u64,
    /// When the application was entered (µs since the epoch).
    pub start_us: i64,
    /// When Apache read the request (µs; `RequestStats::request_start`).
    pub request_start_us: i64,
    /// Daemon mode: when the Apache child sent the request, and when
    /// the daemon accepted it (µs); 0 in embedded mode.
    pub queue_start_us: i64,
    pub daemon_start_us: i64,
    /// The Apache child process that took the request.
    pub server_pid: u32,
}

impl RunInfo<'_> {
    /// The request's statistics as known before the application runs.
    pub fn stats(&self) -> RequestStats {
        RequestStats {
            thread_id: self.thread_id,
            server_pid: self.server_pid,
            request_start: self.request_start_us,
            queue_start: self.queue_start_us,
            daemon_start: self.daemon_start_us,
            application_start: self.start_us,
            ..RequestStats::default()
        }
    }
}

/// The per-request objects placed in the environ, made by the
/// bootstrap of the interpreter the request runs in.
pub struct RequestObjects<'py> {
    pub input: Bound<'py, PyAny>,
    /// `wsgi.errors`: a text stream over `log`.
    pub errors: Bound<'py, PyAny>,
    pub start_response: Bound<'py, PyAny>,
    pub file_wrapper: Bound<'py, PyAny>,
    /// The environ keys that are the same for every request.
    pub environ_template: Bound<'py, PyAny>,
    /// The interpreter's prebuilt environ keys.
    pub keys: super::keys::Keys<'py>,
    log: Bound<'py, PyAny>,
    /// The response handle, also behind the `mod_ssl.*` callables.
    response_handle: Bound<'py, PyAny>,
    pub response: SharedResponse,
    bootstrap: Bound<'py, PyModule>,
}

impl<'py> RequestObjects<'py> {
    pub fn new(
        py: Python<'py>,
        ctx: &Arc<RequestCtx>,
        request_id: &str,
    ) -> PyResult<RequestObjects<'py>> {
        let bootstrap = crate::interp::module(py, "_mod_wsgi_rs")?;
        let response: SharedResponse = Arc::new(Mutex::new(Response::default()));
        let input = handle::new(py, InputHandle::new(ctx.clone()))?;
        let log = handle::new(py, LogHandle::for_request(ctx.clone()))?.into_any();
        let resp = ResponseHandle {
            response: response.clone(),
            ctx: ctx.clone(),
            request_id: request_id.to_owned(),
        };
        let resp = handle::new(py, resp)?.into_any();
        let made = bootstrap.call_method1("make_request", (input, &log, &resp))?;
        let (input, errors, start_response) = made.extract()?;
        Ok(RequestObjects {
            input,
            errors,
            start_response,
            file_wrapper: bootstrap.getattr("FileWrapper")?,
            environ_template: bootstrap.getattr("environ_template")?,
            keys: super::keys::Keys::new(
                bootstrap
                    .getattr("environ_keys")
                    .ok()
                    .and_then(|t| t.cast_into().ok()),
            ),
            log,
            response_handle: resp,
            response,
            bootstrap,
        })
    }

    /// `mod_ssl.is_https` and `mod_ssl.var_lookup` for this request.
    pub fn ssl_callables(&self) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        self.bootstrap
            .call_method1("ssl_callables", (&self.response_handle,))?
            .extract()
    }

    /// Writes out whatever the application left in `wsgi.errors`.
    pub fn flush_errors(&self) {
        let _ = self.errors.call_method0("flush");
        if let Ok(log) = handle::get::<LogHandle>(&self.log) {
            let _ = log.flush();
        }
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

/// Calls `app(environ, start_response)` and sends its response, with
/// the events API's notifications around it; `stats` ends up holding
/// the request's measurements.
pub fn run(
    py: Python<'_>,
    app: &Bound<'_, PyAny>,
    environ: &Bound<'_, PyDict>,
    objects: &RequestObjects<'_>,
    ctx: &Arc<RequestCtx>,
    info: &RunInfo<'_>,
    stats: &mut RequestStats,
) -> Outcome {
    let _current = CurrentRequest::enter(ctx);
    let cpu_start = stats::thread_cpu();
    interval::request_begin(info.thread_id, stats.application_start);
    stats::set_current(stats);
    let response = &objects.response;
    let mut outcome = match objects.bootstrap.call_method1(
        "begin_request",
        (environ, app, info.request_id, info.thread_id),
    ) {
        Err(e) => fail(py, ctx, response, info, Failure::Python(e)),
        Ok(app) => match app.call1((environ, &objects.start_response)) {
            Ok(result) => {
                let body = send_body(py, &result, objects, ctx);
                let closed = close_iterable(&result).map_err(Failure::from);
                match (body, closed) {
                    (Err(f), _) => fail_with_event(py, objects, ctx, info, f),
                    // The whole body went out: a failing close() is logged
                    // but does not spoil a complete response.
                    (Ok(()), Err(f)) if response.lock().sent => {
                        log_failure(py, ctx, info, "E101", f);
                        finish(py, ctx, response, info)
                    }
                    (Ok(()), Err(f)) => fail_with_event(py, objects, ctx, info, f),
                    (Ok(()), Ok(())) => finish(py, ctx, response, info),
                }
            }
            Err(e) => fail_with_event(py, objects, ctx, info, Failure::Python(e)),
        },
    };
    objects.flush_errors();
    if outcome == Outcome::Done && !response.lock().sent {
        outcome = Outcome::Status(500);
    }
    finish_stats(stats, ctx, &outcome, response, cpu_start);
    stats::set_current(stats);
    if let Err(e) = objects
        .bootstrap
        .call_method1("end_request", (info.request_id, info.thread_id))
    {
        e.print(py);
    }
    interval::request_end(stats, stats.application_finish);
    outcome
}

/// Completes the measurements at the end of the application.
fn finish_stats(
    stats: &mut RequestStats,
    ctx: &RequestCtx,
    outcome: &Outcome,
    response: &SharedResponse,
    cpu_start: Option<(u64, u64)>,
) {
    stats.application_finish = stats::now_us();
    {
        let response = response.lock();
        stats.status = match outcome {
            Outcome::Status(s) => *s,
            Outcome::Done => response.status.as_ref().map_or(500, |s| s.0),
        };
        stats.output_bytes = response.written;
    }
    ctx.io.fill(stats);
    if let (Some((u0, s0)), Some((u1, s1))) = (cpu_start, stats::thread_cpu()) {
        let (mut user, mut system) = (u1.saturating_sub(u0), s1.saturating_sub(s0));
        // The kernel's per-thread figures are tick-rounded: never report
        // more CPU than the application's wall time (as mod_wsgi does).
        let wall = (stats.application_finish - stats.application_start).max(0) as u64;
        if user + system > wall {
            user = (user as u128 * wall as u128 / (user + system) as u128) as u64;
            system = wall - user;
        }
        stats.cpu_user = user;
        stats.cpu_system = system;
    }
    (stats.gil_wait, stats.gil_wait_count) = crate::interp::take_gil_wait();
}

/// Reports an application exception to `request_exception` subscribers,
/// then fails the request.
fn fail_with_event(
    py: Python<'_>,
    objects: &RequestObjects<'_>,
    ctx: &RequestCtx,
    info: &RunInfo<'_>,
    f: Failure,
) -> Outcome {
    if let Failure::Python(err) = &f {
        // mod_wsgi.RequestTimeout (raised by the request-timeout monitor,
        // or by the application itself) before the response started is a
        // 504 with one info line, not an application error (mod_wsgi 6).
        let timeout = objects.bootstrap.getattr("RequestTimeout");
        if !objects.response.lock().sent
            && timeout.is_ok_and(|t| err.matches(py, t).unwrap_or(false))
        {
            log(ctx, LogLevel::Info, &format!(
                "[WSGI-RS-I441] request {} of WSGI script '{}' ended by mod_wsgi.RequestTimeout; answering 504 (no traceback: not an application error).",
                info.request_id, info.script
            ));
            return Outcome::Status(504);
        }
    }
    if let Failure::Python(err) | Failure::BadValue(err) = &f {
        let args = (
            info.request_id,
            err.get_type(py),
            err.value(py),
            err.traceback(py),
        );
        if let Err(e) = objects.bootstrap.call_method1("request_exception", args) {
            e.print(py);
        }
    }
    fail(py, ctx, &objects.response, info, f)
}

fn close_iterable(result: &Bound<'_, PyAny>) -> PyResult<()> {
    // Built-in sequences have no close(); asking would raise and swallow
    // an AttributeError on every request.
    if result.is_exact_instance_of::<PyList>() || result.is_exact_instance_of::<PyTuple>() {
        return Ok(());
    }
    if let Some(close) = result.getattr_opt("close")? {
        close.call0()?;
    }
    Ok(())
}

fn send_body(
    py: Python<'_>,
    result: &Bound<'_, PyAny>,
    objects: &RequestObjects<'_>,
    ctx: &Arc<RequestCtx>,
) -> Result<(), Failure> {
    let response = &objects.response;
    if result.get_type().is(&objects.file_wrapper) {
        let limit = response.lock().content_length;
        let filelike = result.getattr("filelike")?;
        if let Some((fd, offset, len)) = file_range(py, &filelike, limit) {
            return send_file(py, response, ctx, fd, offset, len);
        }
    }
    if result.is_instance_of::<PyList>() || result.is_instance_of::<PyTuple>() {
        let mut items = Vec::with_capacity(result.len()?);
        for item in result.try_iter().map_err(Failure::BadValue)? {
            items.push(to_bytes(item?).map_err(Failure::BadValue)?);
        }
        let chunks: Vec<&[u8]> = items.iter().map(|b| b.as_bytes()).collect();
        let total: u64 = chunks.iter().map(|c| c.len() as u64).sum();
        let push = {
            let resp = response.lock();
            if resp
                .content_length
                .is_none_or(|cl| resp.written + total >= cl)
            {
                Push::End
            } else {
                Push::Buffer
            }
        };
        return send_chunks(py, response, ctx, &chunks, push).map_err(Failure::from);
    }
    for item in result.try_iter().map_err(Failure::BadValue)? {
        let chunk = to_bytes(item?).map_err(Failure::BadValue)?;
        send_chunks(py, response, ctx, &[chunk.as_bytes()], Push::Flush)?;
    }
    Ok(())
}

fn to_bytes(item: Bound<'_, PyAny>) -> PyResult<Bound<'_, PyBytes>> {
    match item.cast_into::<PyBytes>() {
        Ok(b) => Ok(b),
        Err(e) => {
            let type_name = e
                .into_inner()
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "sequence of byte string values expected, value of type {type_name} found"
            )))
        }
    }
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
    {
        let mut resp = response.lock();
        resp.written += len;
        resp.unflushed = true;
    }
    let (sent, took) = stats::detach_timed(py, || ctx.with(|b| b.send_file(fd, offset, len)));
    ctx.io.output_written(1, took);
    sent.unwrap_or_else(|| Err(WriteError::Failed("request has ended".into())))?;
    Ok(())
}

fn finish(
    py: Python<'_>,
    ctx: &RequestCtx,
    response: &SharedResponse,
    info: &RunInfo<'_>,
) -> Outcome {
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
    // The end of the response may still have to write a lot (the rest of
    // a wsgi.file_wrapper file), or a chunked terminator into a socket a
    // slow client has filled: never with the GIL held. When the whole
    // Content-Length has been flushed there is nothing left to write, and
    // keeping the GIL saves a hand-off (which can wait behind other
    // threads' Python).
    let end = || ctx.with(|b| b.finish());
    let done = {
        let resp = response.lock();
        !resp.unflushed && resp.content_length == Some(resp.written)
    };
    let ended = if done { end() } else { py.detach(end) };
    if let Some(Err(WriteError::ClientGone)) = ended {
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
            // An application cannot end an Apache process: its SystemExit
            // is reported as such, and the request fails like any other.
            let msg = if code == "E101" && err.is_instance_of::<PySystemExit>(py) {
                format!(
                    "[WSGI-RS-E108] SystemExit exception raised by WSGI script '{}' ignored; the process keeps running.",
                    info.script
                )
            } else {
                format!(
                    "[WSGI-RS-{code}] Exception occurred processing WSGI script '{}'.",
                    info.script
                )
            };
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
