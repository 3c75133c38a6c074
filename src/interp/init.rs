//! Starting and stopping CPython in a child process.
//!
//! Python is initialised in `child_init` of each Apache child (or after
//! fork in a daemon), never in the Apache parent: a child forked from a
//! parent with Python running would hang, and the parent runs as root.

use std::ffi::CString;
use std::mem::MaybeUninit;
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use pyo3::prelude::*;
use pyo3::{ffi, Python};

/// What the configuration says about the interpreter.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub python_home: Option<String>,
    pub python_path: Vec<String>,
    pub optimize: i32,
    pub dont_write_bytecode: bool,
    pub threads_per_process: i32,
    pub maximum_processes: i32,
    pub apache_version: (i32, i32, i32),
}

/// The interpreter a child owns; one generation = one child process, so
/// these live as long as the process, not as long as a configuration.
static INITIALIZED: AtomicBool = AtomicBool::new(false);
static MAIN_TSTATE: AtomicPtr<ffi::PyThreadState> = AtomicPtr::new(ptr::null_mut());

/// The interpreter the module was built against; a venv's own `python`
/// is used instead when `WSGIPythonHome` names a virtualenv.
const BUILD_PYTHON: &str = match option_env!("PYO3_PYTHON") {
    Some(p) => p,
    None => "/usr/bin/python3",
};

pub fn is_initialized() -> bool {
    INITIALIZED.load(Ordering::Acquire)
}

/// Initialises Python in this process, runs `setup` on the initialising
/// thread (streams, modules), and releases the GIL.
pub fn initialize(
    settings: &Settings,
    setup: impl FnOnce(Python<'_>) -> PyResult<()>,
) -> Result<(), String> {
    if is_initialized() {
        return Ok(());
    }
    // SAFETY: called once per process, on the thread running child_init,
    // before any other thread touches Python.
    unsafe { start(settings)? };
    // SAFETY: Py_InitializeFromConfig succeeded and this thread holds the
    // GIL on the main thread state.
    let py = unsafe { Python::assume_attached() };
    let outcome = super::bootstrap::install(py, settings).and_then(|()| setup(py));
    if let Err(e) = &outcome {
        e.print(py);
    }
    // SAFETY: this thread holds the GIL; the main thread state is kept
    // for finalisation.
    let main = unsafe { ffi::PyEval_SaveThread() };
    MAIN_TSTATE.store(main, Ordering::Release);
    INITIALIZED.store(true, Ordering::Release);
    outcome.map_err(|e| format!("Python set-up failed: {e}"))
}

unsafe fn start(settings: &Settings) -> Result<(), String> {
    let mut cfg = MaybeUninit::<ffi::PyConfig>::uninit();
    // SAFETY: InitPythonConfig fills every field of the struct.
    unsafe { ffi::PyConfig_InitPythonConfig(cfg.as_mut_ptr()) };
    // SAFETY: initialised just above.
    let mut cfg = unsafe { cfg.assume_init() };
    cfg.install_signal_handlers = 0;
    cfg.parse_argv = 0;
    cfg.configure_c_stdio = 0;
    cfg.optimization_level = settings.optimize;
    cfg.write_bytecode = i32::from(!settings.dont_write_bytecode);

    let (program, home) = program_and_home(settings.python_home.as_deref());
    // SAFETY: cfg is a valid PyConfig; the strings are copied by Python.
    let status = unsafe { set_config_strings(&mut cfg, &program, home.as_deref()) };
    // SAFETY: cfg is valid; the status is inspected before use.
    let status = status.and_then(|()| unsafe { check(ffi::Py_InitializeFromConfig(&cfg)) });
    // SAFETY: cfg is valid and no longer needed.
    unsafe { ffi::PyConfig_Clear(&mut cfg) };
    status
}

/// mod_wsgi's rule: a home with `pyvenv.cfg` is a virtualenv, used through
/// its `bin/python`; any other home sets `PyConfig.home`.
fn program_and_home(home: Option<&str>) -> (String, Option<String>) {
    match home {
        Some(h) if Path::new(h).join("pyvenv.cfg").exists() => (format!("{h}/bin/python"), None),
        Some(h) => (BUILD_PYTHON.to_owned(), Some(h.to_owned())),
        None => (BUILD_PYTHON.to_owned(), None),
    }
}

unsafe fn set_config_strings(
    cfg: &mut ffi::PyConfig,
    program: &str,
    home: Option<&str>,
) -> Result<(), String> {
    let program = CString::new(program).map_err(|e| e.to_string())?;
    // SAFETY: cfg is valid; the string is decoded and copied.
    unsafe {
        check(ffi::PyConfig_SetBytesString(
            cfg,
            &mut cfg.program_name,
            program.as_ptr(),
        ))?
    };
    if let Some(home) = home {
        let home = CString::new(home).map_err(|e| e.to_string())?;
        // SAFETY: as above.
        unsafe {
            check(ffi::PyConfig_SetBytesString(
                cfg,
                &mut cfg.home,
                home.as_ptr(),
            ))?
        };
    }
    Ok(())
}

unsafe fn check(status: ffi::PyStatus) -> Result<(), String> {
    // SAFETY: status is a value returned by the C API.
    if unsafe { ffi::PyStatus_Exception(status) } == 0 {
        return Ok(());
    }
    let msg = if status.err_msg.is_null() {
        "unknown error".to_owned()
    } else {
        // SAFETY: err_msg is a static C string when set.
        unsafe { std::ffi::CStr::from_ptr(status.err_msg) }
            .to_string_lossy()
            .into_owned()
    };
    Err(msg)
}

/// Stops Python at child exit: runs `atexit` callbacks and finalises. A
/// watchdog ends the process if finalisation hangs (non-daemon threads).
pub fn finalize() {
    if super::thread::busy() || !INITIALIZED.swap(false, Ordering::AcqRel) {
        return;
    }
    let main = MAIN_TSTATE.swap(ptr::null_mut(), Ordering::AcqRel);
    if main.is_null() {
        return;
    }
    std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_secs(2));
        // SAFETY: the process is exiting; _exit skips further cleanup.
        unsafe { libc::_exit(0) };
    });
    // SAFETY: main is the thread state saved at initialisation; worker
    // threads have been joined by the MPM before the child pool's
    // cleanups run.
    unsafe {
        ffi::PyEval_RestoreThread(main);
        ffi::Py_FinalizeEx();
    }
}
