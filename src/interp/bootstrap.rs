//! Installs the bootstrap module (`bootstrap.py`) in the interpreter and
//! calls into it to load WSGI scripts.

use pyo3::prelude::*;
use pyo3::types::PyModule;

use super::Settings;

const SOURCE: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
    concat!(include_str!("bootstrap.py"), "\0").as_bytes(),
) {
    Ok(s) => s,
    Err(_) => panic!("bootstrap.py contains a NUL byte"),
};

const MODULE: &str = "_mod_wsgi_rs";

/// Why a script's callable could not be had.
pub enum LoadError {
    /// The script ran but has no attribute of that name.
    MissingCallable(String),
    /// Reading, compiling or running the script raised.
    Failed(PyErr),
}

/// Creates `_mod_wsgi_rs` from the embedded source and configures the
/// interpreter (argv, `mod_wsgi`, `apache`, sys.path).
pub fn install(py: Python<'_>, settings: &Settings) -> PyResult<()> {
    let module = PyModule::from_code(py, SOURCE, c"<mod_wsgi_rs bootstrap>", c"_mod_wsgi_rs")?;
    py.import("sys")?
        .getattr("modules")?
        .set_item(MODULE, &module)?;
    module.call_method1(
        "configure",
        (
            env!("CARGO_PKG_VERSION"),
            settings.apache_version,
            settings.threads_per_process,
            settings.maximum_processes,
            settings.python_path.clone(),
        ),
    )?;
    Ok(())
}

/// The callable named `callable` in the script at `path`, loading or
/// reloading the script when needed.
pub fn load_app<'py>(
    py: Python<'py>,
    path: &str,
    mtime: i64,
    callable: &str,
    reloading: bool,
) -> Result<Bound<'py, PyAny>, LoadError> {
    let module = py.import(MODULE).map_err(LoadError::Failed)?;
    match module.call_method1("load", (path, mtime, callable, reloading)) {
        Ok(app) => Ok(app),
        Err(e) if is_missing_callable(py, &module, &e) => {
            Err(LoadError::MissingCallable(e.value(py).to_string()))
        }
        Err(e) => Err(LoadError::Failed(e)),
    }
}

fn is_missing_callable(py: Python<'_>, module: &Bound<'_, PyModule>, err: &PyErr) -> bool {
    module
        .getattr("MissingCallable")
        .map(|t| err.get_type(py).is(&t))
        .unwrap_or(false)
}
