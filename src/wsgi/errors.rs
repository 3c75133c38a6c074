//! `wsgi.errors`, `sys.stdout` and `sys.stderr`: line-buffered streams
//! into Apache's error log. The Python side (`io.TextIOWrapper` over the
//! bootstrap's `Log`) hands bytes to `_native_log_write`; complete lines
//! are logged, a partial line waits for its newline or a flush. A line
//! written while a request runs on the thread is logged against that
//! request (its log id and client).

use std::cell::RefCell;
use std::ffi::CStr;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;

use super::backend::{LogLevel, RequestCtx};
use crate::interp::handle::{self, HandleType};

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

/// Logs a line against the request running on this thread, if any, else
/// process-wide.
pub fn log_process(level: LogLevel, line: &str) {
    let via_request = CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .and_then(|ctx| ctx.try_with(|b| b.log(level, line)))
            .is_some()
    });
    if !via_request {
        if let Some(f) = PROCESS_LOGGER.get() {
            f(level, line);
        }
    }
}

enum Target {
    Request(Arc<RequestCtx>),
    Process,
}

/// The Rust side of a log stream: where lines go, and the partial line.
pub struct LogHandle {
    target: Target,
    pending: Mutex<Vec<u8>>,
}

impl HandleType for LogHandle {
    const NAME: &'static CStr = c"mod_wsgi_rs.log";
}

impl LogHandle {
    pub fn for_request(ctx: Arc<RequestCtx>) -> LogHandle {
        LogHandle {
            target: Target::Request(ctx),
            pending: Mutex::new(Vec::new()),
        }
    }

    pub fn for_process() -> LogHandle {
        LogHandle {
            target: Target::Process,
            pending: Mutex::new(Vec::new()),
        }
    }

    fn emit(&self, line: &[u8]) -> PyResult<()> {
        let text = String::from_utf8_lossy(line);
        match &self.target {
            Target::Request(ctx) => ctx.with(|b| b.log(LogLevel::Error, &text)).ok_or_else(|| {
                PyRuntimeError::new_err(
                    "log object has expired (wsgi.errors used after its request ended)",
                )
            }),
            Target::Process => {
                log_process(LogLevel::Error, &text);
                Ok(())
            }
        }
    }

    fn write(&self, data: &[u8]) -> PyResult<()> {
        let mut pending = self.pending.lock();
        pending.extend_from_slice(data);
        while let Some(i) = pending.iter().position(|&c| c == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            self.emit(&line[..line.len() - 1])?;
        }
        Ok(())
    }

    /// Logs a partial last line (end of request, flush).
    pub fn flush(&self) -> PyResult<()> {
        let rest = std::mem::take(&mut *self.pending.lock());
        if rest.is_empty() {
            return Ok(());
        }
        self.emit(&rest)
    }
}

#[pyfunction]
pub fn _native_log_write(h: &Bound<'_, PyAny>, data: &Bound<'_, PyAny>) -> PyResult<usize> {
    let log = handle::get::<LogHandle>(h)?;
    if let Ok(bytes) = data.extract::<PyBackedBytes>() {
        log.write(&bytes)?;
        return Ok(bytes.len());
    }
    match data.extract::<String>() {
        Ok(text) => {
            log.write(text.as_bytes())?;
            Ok(text.chars().count())
        }
        Err(_) => Err(PyTypeError::new_err(
            "log write() argument must be str or bytes",
        )),
    }
}

#[pyfunction]
pub fn _native_log_flush(h: &Bound<'_, PyAny>) -> PyResult<()> {
    handle::get::<LogHandle>(h)?.flush()
}

/// `mod_wsgi.LogHandler` and warnings: a line at an Apache level
/// (2 crit … 7 debug).
#[pyfunction]
pub fn _native_server_log(level: i32, msg: &str) {
    let level = match level {
        ..=3 => LogLevel::Error,
        4 => LogLevel::Warn,
        5 => LogLevel::Notice,
        6 => LogLevel::Info,
        _ => LogLevel::Debug,
    };
    log_process(level, msg);
}
