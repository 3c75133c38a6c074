//! Installs the bootstrap module (`bootstrap.py`) in an interpreter and
//! calls into it to load WSGI scripts.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule};

use super::Settings;

const SOURCE: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
    concat!(include_str!("bootstrap.py"), "\0").as_bytes(),
) {
    Ok(s) => s,
    Err(_) => panic!("bootstrap.py contains a NUL byte"),
};

const MODULE: &str = "_mod_wsgi_rs";

/// Logged once per process (by its main interpreter) when the
/// configuration uses options this Python cannot honour.
const OLD_PYTHON_NOTICE: &str = "[WSGI-RS-N307] WSGIPerInterpreterGIL and WSGIFreeThreading \
     (also inside <WSGIInterpreterOptions>) need Python 3.12 or later (free threading: a \
     free-threaded build); this Python ignores them";

/// What the hosting layer adds to each interpreter before it is
/// configured (native functions, stream handles).
pub type Prepare = fn(&Bound<'_, PyModule>, &Bound<'_, PyDict>) -> PyResult<()>;

/// Why a script's callable could not be had.
pub enum LoadError {
    /// The script ran but has no attribute of that name.
    MissingCallable(String),
    /// Reading, compiling or running the script raised.
    Failed(PyErr),
}

/// Creates `_mod_wsgi_rs` in the current interpreter from the embedded
/// source and configures the interpreter (argv, streams, `mod_wsgi`,
/// `apache`, sys.path, signal restriction) for application group `group`.
pub fn install(py: Python<'_>, settings: &Settings, group: &str, prepare: Prepare) -> PyResult<()> {
    let module = PyModule::from_code(py, SOURCE, c"<mod_wsgi_rs bootstrap>", c"_mod_wsgi_rs")?;
    py.import("sys")?
        .getattr("modules")?
        .set_item(MODULE, &module)?;
    let options = PyDict::new(py);
    super::extensions::install(&module)?;
    prepare(&module, &options)?;
    let chosen = settings.interpreter.resolve(&settings.process_group, group);
    let mut python_path = settings.python_path.clone();
    python_path.extend(chosen.python_path.iter().cloned());
    options.set_item(
        "restrict_stdin",
        chosen.restrict_stdin.unwrap_or(settings.restrict_stdin),
    )?;
    options.set_item(
        "restrict_stdout",
        chosen.restrict_stdout.unwrap_or(settings.restrict_stdout),
    )?;
    options.set_item(
        "restrict_signal",
        chosen.restrict_signal.unwrap_or(settings.restrict_signal),
    )?;
    // The switch interval belongs to a GIL: the main interpreter's (shared
    // by groups without their own) and each own-GIL group's.
    let own_gil = super::interpreters::wants_own_gil(settings, group);
    if group.is_empty() || own_gil {
        options.set_item("switch_interval", chosen.switch_interval)?;
    }
    options.set_item("own_gil", own_gil)?;
    if group.is_empty() && !super::compat::OWN_GIL && settings.interpreter.uses_new_features() {
        options.set_item("notice", OLD_PYTHON_NOTICE)?;
    }
    options.set_item("python_eggs", settings.python_eggs.as_deref())?;
    options.set_item("description", &settings.server_description)?;
    options.set_item("mpm_name", &settings.mpm_name)?;
    options.set_item("build_date", &settings.build_date)?;
    options.set_item("server_metrics", settings.server_metrics)?;
    module.call_method1(
        "configure",
        (
            env!("CARGO_PKG_VERSION"),
            settings.apache_version,
            settings.threads_per_process,
            settings.maximum_processes,
            python_path,
            group,
            &settings.process_group,
            options,
        ),
    )?;
    Ok(())
}

/// The callable named `callable` in the script at `path`, loading or
/// reloading the script when needed. `resource` goes to the script's
/// `reload_required(resource)` hook, if it has one.
pub fn load_app<'py>(
    py: Python<'py>,
    path: &str,
    mtime: i64,
    callable: &str,
    reloading: bool,
    resource: Option<&str>,
) -> Result<Bound<'py, PyAny>, LoadError> {
    let module = super::strings::module(py, MODULE).map_err(LoadError::Failed)?;
    match module.call_method1("load", (path, mtime, callable, reloading, resource)) {
        Ok(app) => Ok(app),
        Err(e) if is_missing_callable(py, &module, &e) => {
            Err(LoadError::MissingCallable(e.value(py).to_string()))
        }
        Err(e) => Err(LoadError::Failed(e)),
    }
}

/// Preloads a script (`WSGIImportScript`, or an alias naming both groups).
pub fn import_script(py: Python<'_>, path: &str, mtime: i64) -> PyResult<()> {
    py.import(MODULE)?
        .call_method1("import_script", (path, mtime))?;
    Ok(())
}

/// Runs shutdown callbacks and `process_stopping` subscribers.
pub fn process_stopping(py: Python<'_>, reason: &str) {
    if let Err(e) = py
        .import(MODULE)
        .and_then(|m| m.call_method1("process_stopping", (reason,)))
    {
        e.print(py);
    }
}

/// Runs the interpreter's `atexit` callbacks (when it is not finalised).
pub fn run_atexit(py: Python<'_>) {
    if let Err(e) = py
        .import("atexit")
        .and_then(|m| m.call_method0("_run_exitfuncs"))
    {
        e.print(py);
    }
}

fn is_missing_callable(py: Python<'_>, module: &Bound<'_, PyModule>, err: &PyErr) -> bool {
    module
        .getattr("MissingCallable")
        .map(|t| err.get_type(py).is(&t))
        .unwrap_or(false)
}
