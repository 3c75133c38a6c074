//! Application groups: the main interpreter (`""`, `%{GLOBAL}`) and
//! named sub-interpreters, created on first use, one per name per
//! process, each set up like the main one.
//!
//! Threads enter the main interpreter through their pinned `PyGILState`
//! thread state; they enter a sub-interpreter through a thread state of
//! their own for it, created once per (thread, interpreter) and kept, so
//! `threading.local` persists. Nothing in a sub-interpreter goes through
//! `PyGILState`: the code runs inside a call to a PyO3 function object
//! made in that interpreter, which is how PyO3 expects to be entered from
//! an already attached thread.

use std::cell::RefCell;
use std::collections::HashMap;

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::{ffi, wrap_pyfunction};

/// Interpreter states by group name. Raw pointers to C structures, not
/// Python objects; they live until the process exits.
struct Registry {
    by_name: Mutex<HashMap<String, usize>>,
}

static REGISTRY: std::sync::LazyLock<Registry> = std::sync::LazyLock::new(|| Registry {
    by_name: Mutex::new(HashMap::new()),
});

/// Serialises sub-interpreter creation.
static CREATING: Mutex<()> = Mutex::new(());

/// A closure waiting to run inside the trampoline.
type Pending = Box<dyn FnOnce(Python<'_>)>;

thread_local! {
    /// This thread's thread state for each sub-interpreter.
    static TSTATES: RefCell<HashMap<usize, usize>> = RefCell::new(HashMap::new());
    /// The closure the trampoline runs (set for the duration of one call).
    static PENDING: RefCell<Option<Pending>> = const { RefCell::new(None) };
}

/// Runs `f` in the interpreter of application group `group` (`""` is the
/// main interpreter). `None` when Python is not running or the
/// sub-interpreter could not be created (logged by `setup`).
pub fn with_group<R>(group: &str, f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    if group.is_empty() {
        return super::with_python(f);
    }
    let interp = match lookup(group) {
        Some(i) => i,
        None => {
            // One creator at a time, waiting without the GIL (creation
            // releases it while the new interpreter imports).
            let _creating = CREATING.lock();
            create(group)?
        }
    };
    let _active = super::thread::Active::enter();
    super::thread::pin_current_thread();
    let tstate = thread_state_for(interp);
    // SAFETY: tstate belongs to this thread and to `interp`; it is not
    // current anywhere; RestoreThread takes the GIL and makes it current.
    unsafe { ffi::PyEval_RestoreThread(tstate as *mut ffi::PyThreadState) };
    let mut out = None;
    {
        let slot = &mut out;
        // SAFETY: the GIL is held on this interpreter's thread state.
        let py = unsafe { Python::assume_attached() };
        run_attached(py, move |py| *slot = Some(f(py)));
    }
    // SAFETY: releases the GIL taken above; the thread state stays ours.
    unsafe { ffi::PyEval_SaveThread() };
    out
}

/// Calls `f` through a PyO3 function object, so PyO3 counts this thread
/// as attached while `f` runs (objects dropped inside are released at
/// once, never deferred to another interpreter).
fn run_attached<'a>(py: Python<'_>, f: impl FnOnce(Python<'_>) + 'a) {
    let boxed: Box<dyn FnOnce(Python<'_>) + 'a> = Box::new(f);
    // SAFETY: the closure is taken out and run before this function
    // returns (or dropped here if the call never happened), so extending
    // its lifetime for storage in the thread-local is sound.
    let boxed: Pending = unsafe { std::mem::transmute(boxed) };
    PENDING.with(|p| *p.borrow_mut() = Some(boxed));
    let outcome = wrap_pyfunction!(enter, py).and_then(|func| func.call0().map(drop));
    if let Err(e) = outcome {
        e.print(py);
    }
    PENDING.with(|p| p.borrow_mut().take());
}

#[pyfunction]
fn enter(py: Python<'_>) {
    if let Some(f) = PENDING.with(|p| p.borrow_mut().take()) {
        f(py);
    }
}

fn lookup(group: &str) -> Option<usize> {
    REGISTRY.by_name.lock().get(group).copied()
}

fn thread_state_for(interp: usize) -> usize {
    TSTATES.with(|t| {
        *t.borrow_mut().entry(interp).or_insert_with(|| {
            // SAFETY: interp is a live interpreter state; the new thread
            // state is bound to this thread for the rest of its life.
            unsafe { ffi::PyThreadState_New(interp as *mut ffi::PyInterpreterState) as usize }
        })
    })
}

/// Creates the sub-interpreter for `group` (serialised: the main
/// interpreter's GIL is held throughout, and the registry is re-checked).
fn create(group: &str) -> Option<usize> {
    super::with_python(|py| {
        if let Some(existing) = lookup(group) {
            return Some(existing);
        }
        // SAFETY: this thread holds the GIL on its main thread state.
        let main = unsafe { ffi::PyThreadState_Get() };
        // SAFETY: Py_NewInterpreter creates an interpreter and a thread
        // state for it on this thread and makes that state current.
        let sub = unsafe { ffi::Py_NewInterpreter() };
        if sub.is_null() {
            // SAFETY: restore the thread state we came in with.
            unsafe { ffi::PyThreadState_Swap(main) };
            return None;
        }
        // SAFETY: sub is a live thread state.
        let interp = unsafe { ffi::PyThreadState_GetInterpreter(sub) } as usize;
        if let Some((settings, prepare)) = super::init::config() {
            // SAFETY: sub is current and the GIL is held.
            let sub_py = unsafe { Python::assume_attached() };
            let name = group.to_owned();
            run_attached(sub_py, move |py| {
                if let Err(e) = super::bootstrap::install(py, settings, &name, *prepare) {
                    e.print(py);
                }
            });
        }
        // SAFETY: make the main thread state current again (same GIL).
        unsafe { ffi::PyThreadState_Swap(main) };
        let _ = py;
        TSTATES.with(|t| t.borrow_mut().insert(interp, sub as usize));
        REGISTRY.by_name.lock().insert(group.to_owned(), interp);
        Some(interp)
    })
    .flatten()
}

/// The names of the sub-interpreters created in this process.
pub fn group_names() -> Vec<String> {
    REGISTRY.by_name.lock().keys().cloned().collect()
}
