//! `start_response` and the `write()` callable it returns (PEP 3333),
//! with mod_wsgi's validation of the status and headers: nothing invalid
//! ever reaches the client.

use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyList, PyString, PyTuple};

use super::backend::{Push, RequestCtx, WriteError};

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
    let list: &Bound<'_, PyList> = headers
        .cast()
        .map_err(|_| PyTypeError::new_err("response headers must be a list"))?;
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
        if name.is_empty() || !name.chars().all(is_token_char) {
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

#[pyclass(module = "mod_wsgi", name = "StartResponse")]
pub struct StartResponse {
    pub response: SharedResponse,
    pub ctx: Arc<RequestCtx>,
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, headers, exc_info=None))]
    fn __call__(
        &self,
        py: Python<'_>,
        status: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
        exc_info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<Write>> {
        let exc_info = exc_info.filter(|e| !e.is_none());
        {
            let resp = self.response.lock();
            match exc_info {
                Some(info) if resp.sent => return Err(reraise(info)),
                None if resp.status.is_some() => return Err(PyRuntimeError::new_err(
                    "headers have already been set (start_response called twice without exc_info)",
                )),
                _ => {}
            }
        }
        let parsed = parse_status(status).and_then(|s| {
            let headers = parse_headers(headers)?;
            let length = content_length(&headers)?;
            Ok((s, headers, length))
        });
        let (status, headers, content_length) =
            parsed.inspect_err(|_| self.response.lock().invalid = true)?;
        let mut resp = self.response.lock();
        resp.status = Some(status);
        resp.headers = headers;
        resp.content_length = content_length;
        drop(resp);
        Py::new(
            py,
            Write {
                response: self.response.clone(),
                ctx: self.ctx.clone(),
            },
        )
    }
}

fn content_length(headers: &[(String, String)]) -> PyResult<Option<u64>> {
    match headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        None => Ok(None),
        Some((_, v)) => v.trim().parse::<u64>().map(Some).map_err(|_| {
            PyValueError::new_err(format!("invalid Content-Length header value {v:?}"))
        }),
    }
}

/// Re-raises the exception in `exc_info` (type, value, traceback).
fn reraise(info: &Bound<'_, PyAny>) -> PyErr {
    match info.get_item(1) {
        Ok(value) => PyErr::from_value(value),
        Err(e) => e,
    }
}

/// The legacy `write()` callable.
#[pyclass(module = "mod_wsgi", name = "Write")]
pub struct Write {
    response: SharedResponse,
    ctx: Arc<RequestCtx>,
}

#[pymethods]
impl Write {
    fn __call__(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let chunk: PyBackedBytes = data
            .extract()
            .map_err(|_| PyTypeError::new_err("write() argument must be a bytes-like object"))?;
        match send_chunks(py, &self.response, &self.ctx, &[chunk], Push::Flush) {
            Ok(()) => Ok(()),
            Err(WriteError::ClientGone) => Err(pyo3::exceptions::PyIOError::new_err(
                "client connection closed",
            )),
            Err(WriteError::Failed(e)) => Err(pyo3::exceptions::PyIOError::new_err(e)),
        }
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
    chunks: &[PyBackedBytes],
    push: Push,
) -> Result<(), WriteError> {
    let total: u64 = chunks.iter().map(|c| c.len() as u64).sum();
    if total == 0 {
        return Ok(());
    }
    send_headers(response, ctx)?;
    let mut slices: Vec<&[u8]> = Vec::with_capacity(chunks.len());
    {
        let mut resp = response.lock();
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
    }
    if slices.is_empty() {
        return Ok(());
    }
    py.detach(|| ctx.with(|b| b.write(&slices, push)))
        .unwrap_or_else(|| Err(WriteError::Failed("request has ended".into())))?;
    if push == Push::End {
        response.lock().ended = true;
    }
    Ok(())
}
