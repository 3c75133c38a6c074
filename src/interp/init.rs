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
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::{ffi, Python};

use super::bootstrap::Prepare;

/// What the configuration says about the interpreter.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub python_home: Option<String>,
    pub python_path: Vec<String>,
    pub optimize: i32,
    pub dont_write_bytecode: bool,
    pub warnings: Vec<String>,
    /// `WSGIPythonHashSeed`: `None` is random.
    pub hash_seed: Option<u32>,
    pub python_eggs: Option<String>,
    pub restrict_stdin: bool,
    pub restrict_stdout: bool,
    pub restrict_signal: bool,
    /// `WSGIDestroyInterpreter`: finalise Python at process exit.
    pub destroy_interpreter: bool,
    pub threads_per_process: i32,
    pub maximum_processes: i32,
    pub apache_version: (i32, i32, i32),
    pub server_description: String,
    pub mpm_name: String,
    pub build_date: String,
    /// The daemon process group this process serves (`""`: embedded).
    pub process_group: String,
    /// `mod_wsgi.server_metrics()` returns the scoreboard
    /// (`WSGIServerMetrics On`, or the daemon group's `server-metrics=On`).
    pub server_metrics: bool,
    /// `WSGIPerInterpreterGIL`, `WSGISwitchInterval`, `WSGIFreeThreading`
    /// and the `<WSGIInterpreterOptions>` sections.
    pub interpreter: crate::config::interp_options::InterpreterOptions,
}

/// The settings and set-up of this process's interpreters, kept so named
/// sub-interpreters created later are set up like the main one.
static CONFIG: OnceLock<(Settings, Prepare)> = OnceLock::new();

/// The settings and set-up Python was started with in this process.
pub(super) fn config() -> Option<&'static (Settings, Prepare)> {
    CONFIG.get()
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
pub fn initialize(settings: &Settings, prepare: Prepare) -> Result<(), String> {
    if is_initialized() {
        return Ok(());
    }
    // SAFETY: called once per process, on the thread running child_init,
    // before any other thread touches Python.
    unsafe { start(settings)? };
    let _ = CONFIG.set((settings.clone(), prepare));
    // The initialising thread holds the GIL on the main thread state, so
    // PyGILState_Ensure inside attach only counts it.
    let outcome = Python::attach(|py| {
        let outcome = super::bootstrap::install(py, settings, "", prepare);
        if let Err(e) = &outcome {
            e.print(py);
        }
        outcome
    });
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
    let free_threading = settings
        .interpreter
        .resolve(&settings.process_group, "")
        .free_threading;
    super::compat::set_free_threading(&mut cfg, free_threading.unwrap_or(false));
    if let Some(seed) = settings.hash_seed {
        cfg.use_hash_seed = 1;
        cfg.hash_seed = seed as std::os::raw::c_ulong;
    }
    for w in &settings.warnings {
        // SAFETY: cfg is a valid PyConfig; the list copies the string.
        unsafe { append_wide(&mut cfg, w)? };
    }

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

/// Appends a `-W` option to `PyConfig.warnoptions`.
unsafe fn append_wide(cfg: &mut ffi::PyConfig, text: &str) -> Result<(), String> {
    let c = CString::new(text).map_err(|e| e.to_string())?;
    // SAFETY: Py_DecodeLocale needs no interpreter; the result is freed
    // below after the list copied it.
    unsafe {
        let wide = ffi::Py_DecodeLocale(c.as_ptr(), std::ptr::null_mut());
        if wide.is_null() {
            return Err(format!("cannot decode warning option {text:?}"));
        }
        let status = ffi::PyWideStringList_Append(&mut cfg.warnoptions, wide);
        ffi::PyMem_RawFree(wide.cast());
        check(status)
    }
}

pub(super) unsafe fn check(status: ffi::PyStatus) -> Result<(), String> {
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

/// Signal handler: only `_exit` (async-signal-safe, cannot panic), so it
/// needs no panic guard.
extern "C" fn exit_now(_signal: std::os::raw::c_int) {
    // SAFETY: _exit is async-signal-safe; the process is exiting anyway.
    unsafe { libc::_exit(0) };
}

/// Ends the process `limit` from now if it is still finalising. A thread,
/// so it works in threaded MPMs too (their children block SIGALRM in
/// every thread); SIGALRM only if no thread can be started.
fn arm_exit_watchdog(limit: Duration) {
    let watchdog = std::thread::Builder::new()
        .name("wsgi-exit-watch".into())
        .spawn(move || {
            std::thread::sleep(limit);
            // SAFETY: ends the whole process at once, running nothing of
            // the threads still finalising.
            unsafe { libc::_exit(0) };
        });
    if watchdog.is_err() {
        // SAFETY: installs a handler that only calls _exit, and arms
        // alarm(); both are async-signal-safe.
        unsafe {
            libc::signal(libc::SIGALRM, exit_now as *const () as libc::sighandler_t);
            libc::alarm(limit.as_secs().max(1) as u32);
        }
    }
}

/// Before a daemon process exits (it does not finalise: its request
/// threads may still hold thread states): runs shutdown callbacks and
/// `process_stopping` subscribers with mod_wsgi's `shutdown_reason`,
/// then `atexit` callbacks, in every interpreter.
pub fn stop_callbacks(reason: &str) {
    if super::thread::busy() || !INITIALIZED.load(Ordering::Acquire) {
        return;
    }
    run_shutdown_callbacks(reason, true);
}

/// Shutdown callbacks and `atexit` of each named group, then the main
/// interpreter's shutdown callbacks (and its `atexit` when `main_atexit`;
/// else `Py_FinalizeEx` runs them). Armed with the exit watchdog: they
/// and what follows get a bounded time together.
fn run_shutdown_callbacks(reason: &str, main_atexit: bool) {
    arm_exit_watchdog(Duration::from_secs(2));
    for group in &super::interpreters::group_names() {
        super::interpreters::with_group(group, |py| {
            super::bootstrap::process_stopping(py, reason);
            super::bootstrap::run_atexit(py);
        });
    }
    super::with_python(|py| {
        super::bootstrap::process_stopping(py, reason);
        if main_atexit {
            super::bootstrap::run_atexit(py);
        }
    });
}

/// Stops Python at child exit: runs shutdown and `atexit` callbacks and
/// finalises. A watchdog ends the process if this hangs (non-daemon
/// threads, a stuck callback). Runs Python, so never call it from a
/// signal handler (the caller checks; see `embedded::stop_python`).
pub fn finalize() {
    if super::thread::busy() || !INITIALIZED.load(Ordering::Acquire) {
        return;
    }
    let groups = super::interpreters::group_names();
    let destroy = config().is_none_or(|(s, _)| s.destroy_interpreter);
    let keep = !groups.is_empty() && !super::compat::FINALIZE_WITH_SUBINTERPRETERS;
    // Not finalisable (see compat): the main interpreter's atexit
    // callbacks run with the others (while Python still counts as
    // initialised); the process exit reclaims the rest.
    run_shutdown_callbacks("", destroy && keep);
    if !INITIALIZED.swap(false, Ordering::AcqRel) || !destroy || keep {
        return;
    }
    let main = MAIN_TSTATE.swap(ptr::null_mut(), Ordering::AcqRel);
    if main.is_null() {
        return;
    }
    // SAFETY: main is the thread state saved at initialisation; worker
    // threads have been joined by the MPM before the child pool's
    // cleanups run.
    unsafe {
        ffi::PyEval_RestoreThread(main);
        ffi::Py_FinalizeEx();
    }
}
