//! Interrupting a request thread: `mod_wsgi.RequestTimeout` raised
//! asynchronously in it (`PyThreadState_SetAsyncExc`), so a request past
//! `request-timeout` unwinds through its `except`/`finally` blocks. The
//! exception is delivered the next time the thread runs Python bytecode;
//! a thread blocked inside C code (a socket read, `os.read`) does not see
//! it until that call returns, which is what `interrupt-timeout` is for.

use pyo3::prelude::*;

/// Raises `mod_wsgi.RequestTimeout` in the thread `thread` (its
/// `threading.get_ident()`) of the interpreter of `group` (empty: the
/// main one). False when no such thread runs Python there.
pub fn raise_request_timeout(group: &str, thread: u64) -> bool {
    super::with_group(group, |py| {
        let Ok(class) = py
            .import("mod_wsgi")
            .and_then(|m| m.getattr("RequestTimeout"))
        else {
            return false;
        };
        // SAFETY: this thread is attached to the interpreter whose thread
        // states are searched, and `class` is a live object for the call
        // (the function takes its own reference).
        let n = unsafe {
            pyo3::ffi::PyThreadState_SetAsyncExc(thread as std::os::raw::c_long, class.as_ptr())
        };
        n == 1
    })
    .unwrap_or(false)
}
