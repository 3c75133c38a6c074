//! Byte strings from httpd become Python `str` decoded as latin-1, as
//! PEP 3333 and mod_wsgi require.

use pyo3::prelude::*;
use pyo3::types::PyString;
use pyo3::{ffi, Bound};

/// Decodes `bytes` as latin-1 into a new `str`.
pub fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyString> {
    if bytes.is_ascii() {
        // ASCII is valid UTF-8 and decodes the same in latin-1.
        if let Ok(s) = std::str::from_utf8(bytes) {
            return PyString::new(py, s);
        }
    }
    // SAFETY: the GIL is held (py); PyUnicode_DecodeLatin1 copies len
    // bytes and cannot fail for any input except on memory exhaustion.
    unsafe {
        let raw = ffi::PyUnicode_DecodeLatin1(
            bytes.as_ptr().cast(),
            bytes.len() as ffi::Py_ssize_t,
            std::ptr::null(),
        );
        if raw.is_null() {
            ffi::PyErr_Clear();
            return PyString::new(py, &String::from_utf8_lossy(bytes));
        }
        Bound::from_owned_ptr(py, raw).cast_into_unchecked()
    }
}
