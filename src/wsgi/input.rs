//! `wsgi.input`: the request body as a read-only binary stream. Every read
//! from the server runs with the GIL released.

use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::exceptions::{PyIOError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::backend::RequestCtx;

const CHUNK: usize = 64 * 1024;
const LINE_CHUNK: usize = 8 * 1024;

#[derive(Default)]
struct State {
    /// Bytes read from the server and not yet handed out: `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl State {
    fn available(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.buf.len() - self.pos);
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        out
    }
}

#[pyclass(module = "mod_wsgi", name = "Input")]
pub struct Input {
    ctx: Arc<RequestCtx>,
    state: Mutex<State>,
}

impl Input {
    pub fn new(ctx: Arc<RequestCtx>) -> Input {
        Input {
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
        if st.pos > 0 {
            st.buf.drain(..st.pos);
            st.pos = 0;
        }
        let start = st.buf.len();
        st.buf.resize(start + want, 0);
        let ctx = &self.ctx;
        let target = &mut st.buf[start..];
        let result = py.detach(|| ctx.with(|b| b.read_body(target)));
        let n = match result {
            None => {
                st.buf.truncate(start);
                return Err(PyRuntimeError::new_err(
                    "wsgi.input used after its request ended",
                ));
            }
            Some(Err(e)) => {
                st.buf.truncate(start);
                return Err(PyIOError::new_err(format!("request data read error: {e}")));
            }
            Some(Ok(n)) => n,
        };
        st.buf.truncate(start + n);
        st.eof = n == 0;
        Ok(n)
    }

    fn read_line(&self, py: Python<'_>, st: &mut State, limit: Option<usize>) -> PyResult<Vec<u8>> {
        loop {
            let avail = st.available();
            let cap = limit.unwrap_or(usize::MAX);
            if let Some(i) = avail.iter().take(cap).position(|&c| c == b'\n') {
                return Ok(st.take(i + 1));
            }
            if avail.len() >= cap {
                return Ok(st.take(cap));
            }
            if self.fill(py, st, LINE_CHUNK)? == 0 {
                let n = st.available().len();
                return Ok(st.take(n));
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

#[pymethods]
impl Input {
    #[pyo3(signature = (size=None))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        size: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let size = size_arg(size)?;
        let mut st = self.lock()?;
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
        let n = size.unwrap_or(usize::MAX);
        let out = st.take(n);
        Ok(PyBytes::new(py, &out))
    }

    #[pyo3(signature = (size=None))]
    fn readline<'py>(
        &self,
        py: Python<'py>,
        size: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let size = size_arg(size)?;
        let mut st = self.lock()?;
        if size == Some(0) {
            return Ok(PyBytes::new(py, b""));
        }
        let line = self.read_line(py, &mut st, size)?;
        Ok(PyBytes::new(py, &line))
    }

    #[pyo3(signature = (hint=None))]
    fn readlines<'py>(
        &self,
        py: Python<'py>,
        hint: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let hint = size_arg(hint)?.filter(|h| *h > 0);
        let mut st = self.lock()?;
        let lines = PyList::empty(py);
        let mut total = 0usize;
        loop {
            let line = self.read_line(py, &mut st, None)?;
            if line.is_empty() {
                break;
            }
            total += line.len();
            lines.append(PyBytes::new(py, &line))?;
            if hint.is_some_and(|h| total >= h) {
                break;
            }
        }
        Ok(lines)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let mut st = self.lock()?;
        let line = self.read_line(py, &mut st, None)?;
        Ok((!line.is_empty()).then(|| PyBytes::new(py, &line)))
    }

    fn close(&self) {}
}
