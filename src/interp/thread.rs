//! How a worker thread enters an interpreter.
//!
//! Each thread has one pinned thread state for the main interpreter,
//! made the first time it enters Python (`PyGILState_Ensure`, then
//! `PyEval_SaveThread`, leaving the state registered with a non-zero
//! counter) and kept in a thread-local for the thread's life, so
//! `threading.local` data survives across requests and no thread state
//! is created per request.
//!
//! The main interpreter is always entered by attaching that pinned state
//! explicitly, never by asking `PyGILState` which state is the thread's:
//! from CPython 3.12 on, attaching any thread state (a sub-interpreter's
//! included) rebinds the thread's `PyGILState` slot to it, so
//! `PyGILState_Ensure` after a named group's request would land in that
//! sub-interpreter. Once the pinned state is attached, PyO3's
//! `Python::attach` finds the GIL held and only counts.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use pyo3::{ffi, Python};

thread_local! {
    /// This thread's own main-interpreter thread state (null until the
    /// thread first enters Python). A C structure, not a Python object.
    static MAIN: Cell<*mut ffi::PyThreadState> = const { Cell::new(ptr::null_mut()) };
    /// This thread's thread state for each sub-interpreter (by
    /// interpreter state address), created once and kept.
    static SUBS: RefCell<HashMap<usize, usize>> = RefCell::new(HashMap::new());
    /// Time waited to take a GIL (µs) and how many times, since the
    /// request statistics last took it (`take_gil_wait`).
    static GIL_WAIT: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Whether GIL waits (and the adapter's other clocked request
/// statistics) are measured in this process: off until something asks
/// for them, so a process nobody measures reads no clock for it.
static STATS_TIMING: AtomicBool = AtomicBool::new(false);

pub fn stats_timing() -> bool {
    STATS_TIMING.load(Ordering::Relaxed)
}

pub fn enable_stats_timing() {
    STATS_TIMING.store(true, Ordering::Relaxed);
}

/// Adds one wait for a GIL of `us` microseconds to this thread's count.
pub fn add_gil_wait(us: u64) {
    GIL_WAIT.with(|w| {
        let (total, count) = w.get();
        w.set((total + us, count + 1));
    });
}

/// This thread's GIL waits (µs, count) since the last call, emptied.
pub fn take_gil_wait() -> (u64, u64) {
    GIL_WAIT.with(|w| w.replace((0, 0)))
}

/// This thread's thread state for sub-interpreter `interp`, created on
/// first use.
pub(super) fn sub_thread_state(interp: *mut ffi::PyInterpreterState) -> *mut ffi::PyThreadState {
    SUBS.with(|t| {
        *t.borrow_mut().entry(interp as usize).or_insert_with(|| {
            // SAFETY: interp is a live interpreter state; the new thread
            // state is bound to this thread for the rest of its life.
            unsafe { ffi::PyThreadState_New(interp) as usize }
        })
    }) as *mut ffi::PyThreadState
}

/// Records `tstate`, made on this thread by creating `interp`, as this
/// thread's state for it.
pub(super) fn adopt(interp: *mut ffi::PyInterpreterState, tstate: *mut ffi::PyThreadState) {
    SUBS.with(|t| t.borrow_mut().insert(interp as usize, tstate as usize));
}

/// The thread state this thread has attached, or null. CPython 3.11
/// reports the GIL holder of any thread (`compat`), so only one of this
/// thread's own states counts.
fn attached_here() -> *mut ffi::PyThreadState {
    let current = super::compat::current_thread_state();
    let own = !current.is_null()
        && (MAIN.with(Cell::get) == current
            || SUBS.with(|t| t.borrow().values().any(|&s| s == current as usize)));
    if own {
        current
    } else {
        ptr::null_mut()
    }
}

/// This thread's main-interpreter thread state, made on first use. Must
/// run before the thread creates a sub-interpreter thread state (CPython
/// 3.11 binds `PyGILState` to the first state a thread creates).
pub(super) fn main_thread_state() -> *mut ffi::PyThreadState {
    let pinned = MAIN.with(Cell::get);
    if !pinned.is_null() {
        return pinned;
    }
    // SAFETY: Python is initialised (checked by the callers) and nothing
    // of this thread is attached yet: Ensure attaches the thread's
    // main-interpreter state (creating it), SaveThread detaches it and
    // returns it; the Ensure is never released, so the state lives on.
    let tstate = unsafe {
        let _ = ffi::PyGILState_Ensure();
        ffi::PyEval_SaveThread()
    };
    MAIN.with(|m| m.set(tstate));
    tstate
}

/// Runs `body` with `tstate` (a thread state of this thread) attached,
/// and leaves the thread as it found it: the same state attached again
/// (a nested switch from another interpreter), or nothing attached.
pub(super) fn enter<R>(tstate: *mut ffi::PyThreadState, body: impl FnOnce() -> R) -> R {
    let attached = attached_here();
    if attached == tstate {
        return body();
    }
    let _switch = Switch::to(attached, tstate);
    body()
}

/// An attached thread state, undone on drop (also on unwinding).
struct Switch {
    previous: *mut ffi::PyThreadState,
}

impl Switch {
    fn to(previous: *mut ffi::PyThreadState, tstate: *mut ffi::PyThreadState) -> Switch {
        if !previous.is_null() {
            // SAFETY: `previous` is this thread's attached state;
            // detaching it releases its GIL.
            unsafe { ffi::PyEval_SaveThread() };
        }
        let timed = stats_timing().then(Instant::now);
        // SAFETY: `tstate` belongs to this thread and is not attached
        // anywhere; RestoreThread takes its GIL.
        unsafe { ffi::PyEval_RestoreThread(tstate) };
        if let Some(start) = timed {
            add_gil_wait(start.elapsed().as_micros() as u64);
        }
        Switch { previous }
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        // SAFETY: the state attached in `to` is still attached (PyO3's
        // detach re-attaches before returning); detach it and re-attach
        // the one found attached before.
        unsafe {
            ffi::PyEval_SaveThread();
            if !self.previous.is_null() {
                ffi::PyEval_RestoreThread(self.previous);
            }
        }
    }
}

/// Threads currently inside [`with_python`]; finalisation is skipped
/// while any is (a worker thread an MPM left running at an ungraceful
/// stop; prefork's in-handler exit never finalises, see
/// `embedded::stop_python`).
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

/// Runs `f` in the main interpreter on this thread's pinned thread
/// state. Returns `None` when Python is not running in this process.
pub fn with_python<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    if !super::is_initialized() {
        return None;
    }
    let _active = Active::enter();
    let main = main_thread_state();
    Some(enter(main, || Python::attach(f)))
}
