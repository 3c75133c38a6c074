//! What differs between the CPython versions the module supports (3.11
//! to 3.15), in one place. The rest of the code asks here and never
//! tests a Python version itself: the `Py_3_12`… cfgs (set by
//! `pyo3-build-config` in build.rs for the Python the module is built
//! against) appear in this file only.
//!
//! | Difference | 3.11 | 3.12 and later |
//! |---|---|---|
//! | The thread's attached state (`current_thread_state`) | `_PyThreadState_UncheckedGet`: the GIL holder's state, whatever thread it belongs to | thread-local (`PyThreadState_GetUnchecked` from 3.13; the private getter is gone from the public headers) |
//! | `PyGILState` | bound to the first state a thread creates | rebound to every state a thread attaches, a sub-interpreter's too: never trusted to pick the main interpreter (`thread.rs`) |
//! | Sub-interpreters (`new_interpreter`) | `Py_NewInterpreter`, shared GIL | `Py_NewInterpreterFromConfig`; an own GIL (PEP 684) on request |
//! | Extensions in an own-GIL interpreter | — | CPython refuses those not declaring per-interpreter GIL support (`ImportError`), single-phase ones only after running their init |
//! | A single-phase module in a sub-interpreter | has its definition | 3.13+: a copy of the main interpreter's, without definition (`SINGLE_PHASE_COPY_HAS_NO_DEF`) |
//! | A module saying it does not support sub-interpreters | — | `Py_mod_multiple_interpreters` slot (`refuses_subinterpreters`; its id changes in 3.15) |
//! | Free-threaded build (`Py_GIL_DISABLED`, 3.13+) | — | `PyConfig.enable_gil` decides whether the GIL is on |
//! | Finalising with sub-interpreters alive | aborts | `Py_FinalizeEx` ends them itself, which needs every other thread state in them gone: not attempted (`FINALIZE_WITH_SUBINTERPRETERS`) |
//!
//! `PyConfig`'s layout differs between versions too; pyo3-ffi declares it
//! per version and init.rs sets only fields every version has.

use pyo3::ffi;

/// True when sub-interpreters can have their own GIL (CPython 3.12+).
pub const OWN_GIL: bool = cfg!(Py_3_12);

/// True on a free-threaded CPython build (`python3.13t`, `3.14t`).
pub const FREE_THREADED: bool = cfg!(Py_GIL_DISABLED);

/// Finalisation is skipped whenever sub-interpreters exist, on every
/// version: 3.11 aborts, and ending a sub-interpreter needs every worker
/// thread's state in it gone, which nothing here guarantees at child
/// exit (the states are kept for the threads' lives).
pub const FINALIZE_WITH_SUBINTERPRETERS: bool = false;

/// A single-phase extension module imported in a sub-interpreter is,
/// from 3.13 on, a copy of the main interpreter's module whose definition
/// pointer is not set (`PyModule_GetDef` returns null); multi-phase
/// modules always have theirs. So an extension module without a
/// definition is single-phase, on every version (before 3.13 every
/// extension module has one).
pub const SINGLE_PHASE_COPY_HAS_NO_DEF: bool = true;

/// True when a module definition's slot says the module does not
/// support sub-interpreters (`Py_mod_multiple_interpreters` set to
/// `Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED`, 3.12+). The slot's id is
/// 3 up to 3.14 (still accepted by 3.15) and 3.15's new number after.
pub fn refuses_subinterpreters(slot: &ffi::PyModuleDef_Slot) -> bool {
    #[cfg(Py_3_12)]
    {
        (slot.slot == 3 || slot.slot == ffi::Py_mod_multiple_interpreters)
            && slot.value == ffi::Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED
    }
    #[cfg(not(Py_3_12))]
    {
        let _ = slot;
        false
    }
}

/// The thread state current on this thread's side of the GIL: null when
/// none. On 3.11 it is the GIL holder's state, possibly another thread's
/// (callers compare it with states of their own).
pub fn current_thread_state() -> *mut ffi::PyThreadState {
    // SAFETY: the getter reads a variable and never fails.
    unsafe { ffi::compat::PyThreadState_GetUnchecked() }
}

/// Creates a sub-interpreter on this thread, whose own state must be
/// attached; returns the new interpreter's thread state, attached. With
/// `own_gil` (3.12+ only; ignored before) it gets its own GIL and
/// CPython's isolated settings, except that `subprocess` and daemon
/// threads stay allowed (these interpreters are never finalised), and the
/// caller's state is left detached.
///
/// # Safety
/// Python is initialised and this thread has a state attached.
pub unsafe fn new_interpreter(own_gil: bool) -> Result<*mut ffi::PyThreadState, String> {
    #[cfg(Py_3_12)]
    if own_gil {
        let config = ffi::PyInterpreterConfig {
            use_main_obmalloc: 0,
            allow_fork: 0,
            allow_exec: 1,
            allow_threads: 1,
            allow_daemon_threads: 1,
            check_multi_interp_extensions: 1,
            gil: ffi::PyInterpreterConfig_OWN_GIL,
        };
        let mut tstate = std::ptr::null_mut();
        // SAFETY: per this function's contract; the config is read
        // during the call only.
        let status = unsafe { ffi::Py_NewInterpreterFromConfig(&mut tstate, &config) };
        // SAFETY: status was returned by the call above.
        unsafe { super::init::check(status)? };
        return Ok(tstate);
    }
    let _ = own_gil;
    // SAFETY: per this function's contract.
    let tstate = unsafe { ffi::Py_NewInterpreter() };
    if tstate.is_null() {
        Err("Py_NewInterpreter failed".to_owned())
    } else {
        Ok(tstate)
    }
}

/// Sets whether a free-threaded build runs with the GIL: on, unless
/// `WSGIFreeThreading On` (extensions then decide at import, as in
/// `python3.13t`). Nothing to set on a build with a GIL.
pub fn set_free_threading(cfg: &mut ffi::PyConfig, free_threading: bool) {
    #[cfg(Py_GIL_DISABLED)]
    {
        cfg.enable_gil = if free_threading { 0 } else { 1 };
    }
    let _ = (cfg, free_threading);
}
