//! `wsgi.errors`, `sys.stdout` and `sys.stderr`: line-buffered text
//! streams into Apache's error log. A line written while a request runs
//! on the thread is logged against that request (its log id and client).

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use super::backend::{LogLevel, RequestCtx};

/// Where a line goes when no request is running: set once by the mode
/// that hosts Python (a plain function, no Python object).
static PROCESS_LOGGER: OnceLock<fn(LogLevel, &str)> = OnceLock::new();

thread_local! {
    static CURRENT: RefCell<Option<Arc<RequestCtx>>> = const { RefCell::new(None) };
}

pub fn set_process_logger(f: fn(LogLevel, &str)) {
    let _ = PROCESS_LOGGER.set(f);
}

/// Marks the request running on this thread for the lifetime of the
/// guard, so process-wide streams log against it.
pub struct CurrentRequest(());

impl CurrentRequest {
    pub fn enter(ctx: &Arc<RequestCtx>) -> CurrentRequest {
        CURRENT.with(|c| *c.borrow_mut() = Some(ctx.clone()));
        CurrentRequest(())
    }
}

impl Drop for CurrentRequest {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = None);
    }
}

fn log_process(line: &str) {
    let via_request = CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .and_then(|ctx| ctx.try_with(|b| b.log(LogLevel::Error, line)))
            .is_some()
    });
    if !via_request {
        if let Some(f) = PROCESS_LOGGER.get() {
            f(LogLevel::Error, line);
        }
    }
}

enum Target {
    Request(Arc<RequestCtx>),
    Process,
}

/// A write-only text stream into the error log.
#[pyclass(module = "mod_wsgi", name = "Log")]
pub struct Log {
    target: Target,
    name: String,
    pending: Mutex<String>,
    closed: Mutex<bool>,
}

impl Log {
    pub fn for_request(ctx: Arc<RequestCtx>) -> Log {
        Log::new(Target::Request(ctx), "<wsgi.errors>")
    }

    fn new(target: Target, name: &str) -> Log {
        Log {
            target,
            name: name.to_owned(),
            pending: Mutex::new(String::new()),
            closed: Mutex::new(false),
        }
    }

    fn emit(&self, line: &str) -> PyResult<()> {
        match &self.target {
            Target::Request(ctx) => ctx
                .with(|b| b.log(LogLevel::Error, line))
                .ok_or_else(|| PyRuntimeError::new_err("wsgi.errors used after its request ended")),
            Target::Process => {
                log_process(line);
                Ok(())
            }
        }
    }

    fn emit_complete_lines(&self, pending: &mut String) -> PyResult<()> {
        while let Some(i) = pending.find('\n') {
            let line: String = pending.drain(..=i).collect();
            self.emit(line.trim_end_matches('\n'))?;
        }
        Ok(())
    }

    /// Logs a partial last line (end of request, flush, close).
    pub fn flush_pending(&self) -> PyResult<()> {
        let rest = std::mem::take(&mut *self.pending.lock());
        if rest.is_empty() {
            return Ok(());
        }
        self.emit(&rest)
    }
}

#[pymethods]
impl Log {
    fn write(&self, text: &Bound<'_, PyAny>) -> PyResult<usize> {
        if *self.closed.lock() {
            return Err(PyValueError::new_err("I/O operation on closed file"));
        }
        let text: String = match text.extract::<pyo3::pybacked::PyBackedBytes>() {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => text.extract().map_err(|_| {
                pyo3::exceptions::PyTypeError::new_err(format!(
                    "{} write() argument must be str or bytes, not {}",
                    self.name,
                    text.get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                ))
            })?,
        };
        let n = text.len();
        let mut pending = self.pending.lock();
        pending.push_str(&text);
        self.emit_complete_lines(&mut pending)?;
        Ok(n)
    }

    fn writelines(&self, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        for line in lines.try_iter()? {
            self.write(&line?)?;
        }
        Ok(())
    }

    fn flush(&self) -> PyResult<()> {
        self.flush_pending()
    }

    fn close(&self) -> PyResult<()> {
        self.flush_pending()?;
        *self.closed.lock() = true;
        Ok(())
    }

    fn isatty(&self) -> bool {
        false
    }
    fn readable(&self) -> bool {
        false
    }
    fn writable(&self) -> bool {
        true
    }
    fn seekable(&self) -> bool {
        false
    }
    fn fileno(&self) -> PyResult<i32> {
        Err(PyOSError::new_err(
            "Apache log object has no file descriptor",
        ))
    }
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }
    #[getter]
    fn closed(&self) -> bool {
        *self.closed.lock()
    }
    #[getter]
    fn encoding(&self) -> &'static str {
        "utf-8"
    }
    #[getter]
    fn errors(&self) -> &'static str {
        "replace"
    }
    #[getter]
    fn line_buffering(&self) -> bool {
        true
    }
}

/// `io.TextIOWrapper` over a log, as mod_wsgi presents its streams:
/// utf-8, errors replaced, line buffered.
pub fn text_stream<'py>(py: Python<'py>, log: &Py<Log>) -> PyResult<Bound<'py, PyAny>> {
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("encoding", "utf-8")?;
    kwargs.set_item("errors", "replace")?;
    kwargs.set_item("line_buffering", true)?;
    py.import("io")?
        .getattr("TextIOWrapper")?
        .call((log.bind(py),), Some(&kwargs))
}

/// Replaces `sys.stdout` and `sys.stderr` with error-log streams.
pub fn install_std_streams(py: Python<'_>) -> PyResult<()> {
    let sys = py.import("sys")?;
    let stdout = Py::new(py, Log::new(Target::Process, "<stdout>"))?;
    let stderr = Py::new(py, Log::new(Target::Process, "<stderr>"))?;
    sys.setattr("stdout", text_stream(py, &stdout)?)?;
    sys.setattr("stderr", text_stream(py, &stderr)?)?;
    Ok(())
}
