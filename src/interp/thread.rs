//! One pinned thread state per Apache worker thread.
//!
//! The first time a thread enters Python it calls `PyGILState_Ensure` and
//! then `PyEval_SaveThread`, leaving a thread state registered for the
//! thread with a non-zero counter. Every later `Python::attach` on that
//! thread reuses it, so `threading.local` data survives across requests
//! and no thread state is created per request.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use pyo3::{ffi, Python};

thread_local! {
    static PINNED: Cell<bool> = const { Cell::new(false) };
}

/// Gives this thread its main-interpreter thread state (once). Must run
/// before the thread creates a sub-interpreter thread state: CPython
/// binds PyGILState to the first thread state a thread creates.
pub(super) fn pin_current_thread() {
    if PINNED.with(Cell::get) {
        return;
    }
    // SAFETY: Python is initialised (checked by the caller) and this
    // thread holds no thread state; Ensure creates one and takes the GIL,
    // SaveThread releases the GIL but keeps the state registered.
    unsafe {
        let _ = ffi::PyGILState_Ensure();
        ffi::PyEval_SaveThread();
    }
    PINNED.with(|p| p.set(true));
}

/// Threads currently inside [`with_python`]; finalisation is skipped
/// while any is (prefork runs child exit from a signal handler, possibly
/// in the middle of a request on the same thread).
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

pub(super) struct Active;

impl Active {
    pub(super) fn enter() -> Active {
        ACTIVE.fetch_add(1, Ordering::AcqRel);
        Active
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, Ordering::AcqRel);
    }
}

/// True while some thread is running Python for a request.
pub fn busy() -> bool {
    ACTIVE.load(Ordering::Acquire) > 0
}

/// Runs `f` holding the GIL on this thread's pinned thread state. Returns
/// `None` when Python is not running in this process.
pub fn with_python<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    if !super::is_initialized() {
        return None;
    }
    let _active = Active::enter();
    pin_current_thread();
    Some(Python::attach(f))
}
