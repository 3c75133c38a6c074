//! `start_response` and the `write()` callable it returns (PEP 3333),
//! with mod_wsgi's validation of the status and headers: nothing invalid
//! ever reaches the client.

use std::ffi::CStr;
use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::exceptions::{PyIOError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use super::backend::{Backend, Push, RequestCtx, WriteError, SMALL_RESPONSE};
use super::stats;
use crate::interp::handle::{self, HandleType};

/// The response as the application has described it so far.
#[derive(Default)]
pub struct Response {
    pub status: Option<(u16, String)>,
    pub headers: Vec<(String, String)>,
    /// Status and headers have gone to the server.
    pub sent: bool,
    pub content_length: Option<u64>,
    pub written: u64,
    /// The body has been ended (EOS sent).
    pub ended: bool,
    /// Body data was passed without a flush (a file, buffered chunks):
    /// ending the response may still have a lot to write.
    pub unflushed: bool,
    /// start_response rejected the status or headers.
    pub invalid: bool,
}

pub type SharedResponse = Arc<Mutex<Response>>;

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn check_latin1(what: &str, s: &str) -> PyResult<()> {
    if s.chars().any(|c| c as u32 > 0xff) {
        return Err(PyValueError::new_err(format!(
            "{what} must be encodable as latin-1: {s:?}"
        )));
    }
    Ok(())
}

/// Validates `"200 OK"`: three digits, a space, a reason phrase.
pub fn parse_status(status: &Bound<'_, PyAny>) -> PyResult<(u16, String)> {
    let s: &Bound<'_, PyString> = status
        .cast()
        .map_err(|_| PyTypeError::new_err("expected unicode object for status line"))?;
    let s = s.to_str()?.to_owned();
    check_latin1("status line", &s)?;
    let bytes = s.as_bytes();
    let valid = bytes.len() >= 4
        && bytes[..3].iter().all(u8::is_ascii_digit)
        && bytes[3] == b' '
        && bytes[0] != b'0'
        && !s.chars().any(|c| c.is_control());
    if !valid {
        return Err(PyValueError::new_err(format!(
            "status line {s:?} is not of the form '200 OK'"
        )));
    }
    Ok((s[..3].parse().unwrap_or(500), s))
}

/// Validates the header list: a list of 2-tuples of `str`, token names,
/// latin-1 values without control characters.
pub fn parse_headers(headers: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    let list: &Bound<'_, PyList> = headers.cast().map_err(|_| {
        let kind = headers
            .get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |n| n.to_string());
        PyTypeError::new_err(format!(
            "start_response() argument 2 must be list, not {kind}"
        ))
    })?;
    let mut out = Vec::with_capacity(list.len());
    for item in list.iter() {
        let tuple: &Bound<'_, PyTuple> = item.cast().map_err(|_| {
            PyTypeError::new_err("list of tuple values expected for response headers")
        })?;
        if tuple.len() != 2 {
            return Err(PyValueError::new_err(
                "tuple of length 2 expected for response header",
            ));
        }
        let name: String = tuple
            .get_item(0)?
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err("expected unicode object for response header name"))?
            .to_str()?
            .to_owned();
        let value: String = tuple
            .get_item(1)?
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err("expected unicode object for response header value"))?
            .to_str()?
            .to_owned();
        if name.is_empty() {
            return Err(PyValueError::new_err("header name is empty"));
        }
        if !name.chars().all(is_token_char) {
            return Err(PyValueError::new_err(format!(
                "response header name {name:?} is not a valid token"
            )));
        }
        check_latin1("response header value", &value)?;
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(PyValueError::new_err(format!(
                "response header value for {name:?} contains a control character (CR/LF not allowed)"
            )));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// The Rust side of one request's `start_response` and `write`.
pub struct ResponseHandle {
    pub response: SharedResponse,
    pub ctx: Arc<RequestCtx>,
    /// The request id, for `response_started` subscribers.
    pub request_id: String,
}

impl HandleType for ResponseHandle {
    const NAME: &'static CStr = c"mod_wsgi_rs.response";
}

/// `start_response(status, headers, exc_info=None)`; returns `write`.
#[pyfunction]
#[pyo3(signature = (h, status, headers, exc_info=None))]
pub fn _native_start_response<'py>(
    py: Python<'py>,
    h: &Bound<'py, PyAny>,
    status: &Bound<'py, PyAny>,
    headers: &Bound<'py, PyAny>,
    exc_info: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let this = handle::get::<ResponseHandle>(h)?;
    let exc_info = exc_info.filter(|e| !e.is_none());
    if exc_info.is_some_and(|e| e.cast::<PyTuple>().map_or(true, |t| t.len() != 3)) {
        return Err(PyRuntimeError::new_err(
            "start_response() argument 'exc_info' must be a 3-tuple or None",
        ));
    }
    {
        let resp = this.response.lock();
        match exc_info {
            Some(info) if resp.sent => return Err(reraise(info)),
            None if resp.status.is_some() => {
                return Err(PyRuntimeError::new_err(
                    "headers have already been set (start_response called twice without exc_info)",
                ))
            }
            _ => {}
        }
    }
    let parsed = parse_status(status).and_then(|s| {
        let mut headers = parse_headers(headers)?;
        let length = content_length(&this.ctx, &mut headers)?;
        Ok((s, headers, length))
    });
    let (status_line, header_list, content_length) =
        parsed.inspect_err(|_| this.response.lock().invalid = true)?;
    {
        let mut resp = this.response.lock();
        resp.status = Some(status_line);
        resp.headers = header_list;
        resp.content_length = content_length;
    }
    let bootstrap = crate::interp::module(py, "_mod_wsgi_rs")?;
    if bootstrap.getattr("events_on")?.is_truthy()? {
        let exc = exc_info.map_or_else(|| py.None().into_bound(py), |e| e.clone());
        bootstrap.call_method1("response_started", (&this.request_id, status, headers, exc))?;
    }
    let write = bootstrap.getattr("_native_write")?;
    crate::interp::module(py, "functools")?
        .getattr("partial")?
        .call1((write, h))
}

/// The legacy `write(data)` callable.
#[pyfunction]
pub fn _native_write(
    py: Python<'_>,
    h: &Bound<'_, PyAny>,
    data: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let this = handle::get::<ResponseHandle>(h)?;
    let bytes = data
        .cast::<PyBytes>()
        .map_err(|_| PyTypeError::new_err("write() argument must be a bytes object"))?;
    match send_chunks(
        py,
        &this.response,
        &this.ctx,
        &[bytes.as_bytes()],
        Push::Flush,
    ) {
        Ok(()) => Ok(()),
        Err(WriteError::ClientGone) => Err(PyIOError::new_err(
            "Apache/mod_wsgi failed to write response data: client connection closed",
        )),
        Err(WriteError::Failed(e)) => Err(PyIOError::new_err(format!(
            "Apache/mod_wsgi failed to write response data: {e}"
        ))),
    }
}

/// The response's one Content-Length: every `Content-Length` header must
/// be a plain decimal that fits Apache's signed 64-bit length, and
/// repeated ones must agree; the repeats are dropped, so the value that
/// limits the body is the one the client sees. Else an error for a 500
/// before anything is sent.
pub fn one_content_length(headers: &mut Vec<(String, String)>) -> Result<Option<u64>, String> {
    let mut found: Option<u64> = None;
    let mut err = None;
    headers.retain(|(name, value)| {
        if !name.eq_ignore_ascii_case("content-length") || err.is_some() {
            return true;
        }
        let v = value.trim();
        let parsed = (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| v.parse::<i64>().ok())
            .flatten()
            .map(|n| n as u64);
        match (parsed, found) {
            (None, _) => {
                err = Some(format!(
                    "invalid Content-Length header value {value:?} (a decimal from 0 to {})",
                    i64::MAX
                ));
                true
            }
            (Some(n), None) => {
                found = Some(n);
                true
            }
            (Some(n), Some(first)) if n == first => false,
            (Some(n), Some(first)) => {
                err = Some(format!(
                    "differing Content-Length headers ({first} and {n})"
                ));
                true
            }
        }
    });
    err.map_or(Ok(found), Err)
}

/// [`one_content_length`] for `start_response`: a refusal is logged
/// with its code and raised as `ValueError` (the app's 500).
fn content_length(ctx: &RequestCtx, headers: &mut Vec<(String, String)>) -> PyResult<Option<u64>> {
    one_content_length(headers).map_err(|why| {
        ctx.with(|b| {
            b.log(
                super::LogLevel::Error,
                &format!("[WSGI-RS-E111] start_response() refused: {why}; the response is a 500"),
            )
        });
        PyValueError::new_err(why)
    })
}

/// Re-raises the exception in `exc_info` (type, value, traceback).
fn reraise(info: &Bound<'_, PyAny>) -> PyErr {
    match info.get_item(1) {
        Ok(value) => PyErr::from_value(value),
        Err(e) => e,
    }
}

/// Sends status and headers if they have not gone yet.
pub fn send_headers(response: &SharedResponse, ctx: &RequestCtx) -> Result<(), WriteError> {
    let mut resp = response.lock();
    if resp.sent {
        return Ok(());
    }
    let Some((code, line)) = resp.status.clone() else {
        return Err(WriteError::Failed(
            "response has not been started (start_response was not called)".into(),
        ));
    };
    ctx.with(|b| b.start(code, &line, &resp.headers))
        .ok_or_else(|| WriteError::Failed("request has ended".into()))?
        .map_err(WriteError::Failed)?;
    resp.sent = true;
    Ok(())
}

/// Writes body chunks (headers first), truncated to a declared
/// Content-Length, with the GIL released while the server writes.
pub fn send_chunks(
    py: Python<'_>,
    response: &SharedResponse,
    ctx: &Arc<RequestCtx>,
    chunks: &[&[u8]],
    push: Push,
) -> Result<(), WriteError> {
    let total: u64 = chunks.iter().map(|c| c.len() as u64).sum();
    if total == 0 {
        ctx.io.output_written(chunks.len(), 0);
        return Ok(());
    }
    send_headers(response, ctx)?;
    let mut slices: Vec<&[u8]> = Vec::with_capacity(chunks.len());
    let whole = {
        let mut resp = response.lock();
        let whole = resp.written == 0 && push == Push::End && total <= SMALL_RESPONSE;
        let mut room = resp
            .content_length
            .map_or(u64::MAX, |cl| cl.saturating_sub(resp.written));
        for c in chunks {
            let n = (c.len() as u64).min(room) as usize;
            if n > 0 {
                slices.push(&c[..n]);
            }
            room -= n as u64;
            resp.written += n as u64;
        }
        whole
    };
    if slices.is_empty() {
        ctx.io.output_written(chunks.len(), 0);
        return Ok(());
    }
    let write = |b: &mut dyn Backend| b.write(&slices, push);
    let held = whole && ctx.with(|b| b.small_write_never_blocks()) == Some(true);
    let (written, took) = if held {
        let start = stats::timing().then(std::time::Instant::now);
        let written = ctx.with(write);
        (written, start.map_or(0, |t| t.elapsed().as_micros() as u64))
    } else {
        stats::detach_timed(py, || ctx.with(write))
    };
    ctx.io.output_written(chunks.len(), took);
    written.unwrap_or_else(|| Err(WriteError::Failed("request has ended".into())))?;
    let mut resp = response.lock();
    match push {
        Push::End => resp.ended = true,
        Push::Flush => resp.unflushed = false,
        Push::Buffer => resp.unflushed = true,
    }
    Ok(())
}

/// `mod_ssl.is_https()` for the auth scripts' environ.
#[pyfunction]
pub fn _native_is_https(h: &Bound<'_, PyAny>) -> PyResult<bool> {
    let this = handle::get::<ResponseHandle>(h)?;
    this.ctx
        .with(|b| b.is_https())
        .ok_or_else(|| PyRuntimeError::new_err("request object has expired"))
}

/// `mod_ssl.var_lookup(name)` for the auth scripts' environ.
#[pyfunction]
pub fn _native_ssl_var(h: &Bound<'_, PyAny>, name: &str) -> PyResult<Option<String>> {
    let this = handle::get::<ResponseHandle>(h)?;
    this.ctx
        .with(|b| b.ssl_var(name))
        .ok_or_else(|| PyRuntimeError::new_err("request object has expired"))
}
