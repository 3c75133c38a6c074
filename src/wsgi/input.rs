//! `wsgi.input`: the request body as a read-only binary stream. The
//! Python class lives in the bootstrap; its Rust state is an
//! [`InputHandle`] and its reads are the `_native_input_*` functions.
//! Every read from the server runs with the GIL released.

use std::ffi::CStr;
use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::exceptions::{PyIOError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::backend::RequestCtx;
use super::stats;
use crate::interp::handle::{self, HandleType};

const CHUNK: usize = 64 * 1024;
const LINE_CHUNK: usize = 8 * 1024;
/// From this size on, `read(n)` reads straight into the result.
const DIRECT_MIN: usize = 16 * 1024;
/// ... up to this size: a larger request is read in pieces, so a huge
/// Content-Length never makes us allocate before the data arrives.
const DIRECT_MAX: usize = 16 * 1024 * 1024;

/// The read buffer: `buf[start..end]` holds bytes read from the server
/// and not yet handed out. `buf` only grows (zeroed once when it does),
/// so reads of a few kilobytes at a time cost no clearing.
#[derive(Default)]
struct State {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
}

impl State {
    fn available(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.end - self.start);
        let from = self.start;
        self.start += n;
        &self.buf[from..from + n]
    }

    fn compact(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Room for `want` more bytes after `end`, moving unread bytes to the
    /// front first when that makes room.
    fn reserve(&mut self, want: usize) -> &mut [u8] {
        if self.buf.len() - self.end < want && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < want {
            let grow = (self.end + want).max(self.buf.len() * 2);
            self.buf.resize(grow, 0);
        }
        &mut self.buf[self.end..self.end + want]
    }
}

/// The Rust side of one request's `wsgi.input`.
pub struct InputHandle {
    ctx: Arc<RequestCtx>,
    state: Mutex<State>,
}

impl HandleType for InputHandle {
    const NAME: &'static CStr = c"mod_wsgi_rs.input";
}

impl InputHandle {
    pub fn new(ctx: Arc<RequestCtx>) -> InputHandle {
        InputHandle {
            ctx,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> PyResult<parking_lot::MutexGuard<'_, State>> {
        if self.ctx.with(|_| ()).is_none() {
            return Err(PyRuntimeError::new_err(
                "request object has expired (wsgi.input used after its request ended)",
            ));
        }
        self.state
            .try_lock()
            .ok_or_else(|| PyRuntimeError::new_err("wsgi.input is being read by another thread"))
    }

    /// Reads up to `want` more bytes from the server into the buffer;
    /// returns how many arrived (0 at the end of the body).
    fn fill(&self, py: Python<'_>, st: &mut State, want: usize) -> PyResult<usize> {
        if st.eof {
            return Ok(0);
        }
        let ctx = &self.ctx;
        let target = st.reserve(want);
        let (result, took) = stats::detach_timed(py, || ctx.with(|b| b.read_body(target)));
        ctx.io.input_read(1, took);
        let n = match result {
            None => return Err(PyRuntimeError::new_err("request object has expired")),
            Some(Err(e)) => {
                return Err(PyIOError::new_err(format!(
                    "Apache/mod_wsgi request data read error: {e}"
                )))
            }
            Some(Ok(n)) => n,
        };
        st.end += n;
        st.eof = n == 0;
        Ok(n)
    }

    /// `read(n)` of a large block with nothing buffered: the body goes
    /// straight into the new bytes object (one pass, GIL released).
    fn read_direct<'py>(
        &self,
        py: Python<'py>,
        st: &mut State,
        n: usize,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let ctx = &self.ctx;
        let filled = crate::interp::bytes_filled(py, n, |buf| {
            let (got, took) = stats::detach_timed(py, || {
                let mut got = 0usize;
                let mut reads = 0usize;
                while got < n {
                    reads += 1;
                    match ctx.with(|b| b.read_body_uninit(&mut buf[got..])) {
                        Some(Ok(0)) => break,
                        Some(Ok(k)) => got += k,
                        Some(Err(e)) => {
                            return (
                                Err(format!("Apache/mod_wsgi request data read error: {e}")),
                                reads,
                            )
                        }
                        None => return (Err("request object has expired".to_owned()), reads),
                    }
                }
                (Ok(got), reads)
            });
            ctx.io.input_read(got.1, took);
            got.0
        })?;
        let bytes = filled.map_err(PyIOError::new_err)?;
        if bytes.as_bytes().len() < n {
            st.eof = true;
        }
        Ok(bytes)
    }

    fn read<'py>(&self, py: Python<'py>, size: Option<usize>) -> PyResult<Bound<'py, PyBytes>> {
        let mut st = self.lock()?;
        if let Some(n) = size.filter(|&n| (DIRECT_MIN..=DIRECT_MAX).contains(&n)) {
            if st.available().is_empty() && !st.eof {
                return self.read_direct(py, &mut st, n);
            }
        }
        match size {
            Some(0) => {}
            Some(n) => {
                while st.available().len() < n {
                    let want = (n - st.available().len()).clamp(1, CHUNK);
                    if self.fill(py, &mut st, want)? == 0 {
                        break;
                    }
                }
            }
            None => while self.fill(py, &mut st, CHUNK)? > 0 {},
        }
        let out = PyBytes::new(py, st.take(size.unwrap_or(usize::MAX)));
        st.compact();
        Ok(out)
    }

    fn readline<'py>(
        &self,
        py: Python<'py>,
        limit: Option<usize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mut st = self.lock()?;
        if limit == Some(0) {
            return Ok(PyBytes::new(py, b""));
        }
        let cap = limit.unwrap_or(usize::MAX);
        loop {
            let avail = st.available();
            let found = avail.iter().take(cap).position(|&c| c == b'\n');
            let n = match found {
                Some(i) => Some(i + 1),
                None if avail.len() >= cap => Some(cap),
                None => None,
            };
            if let Some(n) = n {
                let out = PyBytes::new(py, st.take(n));
                st.compact();
                return Ok(out);
            }
            if self.fill(py, &mut st, LINE_CHUNK)? == 0 {
                let n = st.available().len();
                let out = PyBytes::new(py, st.take(n));
                st.compact();
                return Ok(out);
            }
        }
    }
}

fn size_arg(size: Option<&Bound<'_, PyAny>>) -> PyResult<Option<usize>> {
    match size {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => {
            let n: i64 = v.extract()?;
            Ok((n >= 0).then_some(n as usize))
        }
    }
}

#[pyfunction]
#[pyo3(signature = (h, size=None))]
pub fn _native_input_read<'py>(
    py: Python<'py>,
    h: &Bound<'py, PyAny>,
    size: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let input = handle::get::<InputHandle>(h)?;
    let data = input.read(py, size_arg(size)?)?;
    input.ctx.io.input_given(data.as_bytes().len());
    Ok(data)
}

#[pyfunction]
#[pyo3(signature = (h, size=None))]
pub fn _native_input_readline<'py>(
    py: Python<'py>,
    h: &Bound<'py, PyAny>,
    size: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let input = handle::get::<InputHandle>(h)?;
    let line = input.readline(py, size_arg(size)?)?;
    input.ctx.io.input_given(line.as_bytes().len());
    Ok(line)
}
