//! The version of the Python this module was built against, readable in
//! the Apache parent (no interpreter needed).

/// `Py_GetVersion()`: e.g. `3.11.2 (main, …) [GCC …]`.
pub fn python_version() -> String {
    // SAFETY: Py_GetVersion returns a static string and needs no
    // initialised interpreter.
    let p = unsafe { pyo3::ffi::Py_GetVersion() };
    // SAFETY: p is a static NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(p) }
        .to_string_lossy()
        .into_owned()
}
