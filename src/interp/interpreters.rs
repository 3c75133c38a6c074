//! Application groups: the main interpreter (`""`, `%{GLOBAL}`) and
//! named sub-interpreters, created on first use, one per name per
//! process, each set up like the main one.
//!
//! Threads enter the main interpreter through their pinned thread state
//! (`thread.rs`); they enter a sub-interpreter through a thread state of
//! their own for it, created once per (thread, interpreter) and kept, so
//! `threading.local` persists. Both are attached explicitly. Nothing in a sub-interpreter goes through
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
    // The main-interpreter state first: CPython 3.11 binds PyGILState to
    // the first thread state a thread creates.
    super::thread::main_thread_state();
    let tstate = super::thread::sub_thread_state(interp as *mut ffi::PyInterpreterState);
    let mut out = None;
    super::thread::enter(tstate, || {
        let slot = &mut out;
        // SAFETY: `enter` attached this interpreter's thread state.
        let py = unsafe { Python::assume_attached() };
        run_attached(py, move |py| *slot = Some(f(py)));
    });
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

/// Creates the sub-interpreter for `group` (serialised: the registry is
/// re-checked under the main interpreter's GIL).
fn create(group: &str) -> Option<usize> {
    super::with_python(|_| {
        if let Some(existing) = lookup(group) {
            return Some(existing);
        }
        let own_gil = super::init::config().is_some_and(|(s, _)| wants_own_gil(s, group));
        // SAFETY: this thread's main thread state is attached.
        let sub = match unsafe { super::compat::new_interpreter(own_gil) } {
            Ok(sub) => sub,
            Err(e) => {
                eprintln!("sub-interpreter for application group '{group}': {e}");
                reattach_main();
                return None;
            }
        };
        // SAFETY: sub is a live thread state.
        let interp = unsafe { ffi::PyThreadState_GetInterpreter(sub) };
        if let Some((settings, prepare)) = super::init::config() {
            // SAFETY: sub is attached on this thread.
            let sub_py = unsafe { Python::assume_attached() };
            let name = group.to_owned();
            run_attached(sub_py, move |py| {
                if let Err(e) = super::bootstrap::install(py, settings, &name, *prepare) {
                    e.print(py);
                }
            });
        }
        super::thread::adopt(interp, sub);
        reattach_main();
        let mut by_name = REGISTRY.by_name.lock();
        by_name.insert(group.to_owned(), interp as usize);
        crate::metrics::set_interpreters(by_name.len() + 1);
        Some(interp as usize)
    })
    .flatten()
}

/// Detaches the new interpreter's state and attaches this thread's main
/// one again (with an own GIL, creation already detached it).
fn reattach_main() {
    // SAFETY: the state Py_NewInterpreter* made current is attached (or,
    // on failure, nothing is); the main state is this thread's and not
    // attached anywhere.
    unsafe {
        if !super::compat::current_thread_state().is_null() {
            ffi::PyEval_SaveThread();
        }
        ffi::PyEval_RestoreThread(super::thread::main_thread_state());
    }
}

/// True when `group`'s interpreter gets its own GIL: a named group,
/// `WSGIPerInterpreterGIL On` for it, and a Python that can (3.12+, not
/// free-threaded). The main interpreter always keeps the main GIL.
pub(super) fn wants_own_gil(settings: &super::Settings, group: &str) -> bool {
    !group.is_empty()
        && super::compat::OWN_GIL
        && !super::compat::FREE_THREADED
        && settings
            .interpreter
            .resolve(&settings.process_group, group)
            .per_interpreter_gil
            == Some(true)
}

/// The names of the sub-interpreters created in this process.
pub fn group_names() -> Vec<String> {
    REGISTRY.by_name.lock().keys().cloned().collect()
}
