//! Byte strings from httpd become Python `str` decoded as latin-1, as
//! PEP 3333 and mod_wsgi require.

use pyo3::prelude::*;
use pyo3::types::PyString;
use pyo3::{ffi, Bound};

/// Decodes `bytes` as latin-1 into a new `str`.
pub fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyString> {
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

/// An unnamed capsule around a server pointer (`apache.request_rec`).
///
/// # Safety
/// `ptr` must be non-null; the capsule hands it to Python code as is.
pub unsafe fn request_capsule(
    py: Python<'_>,
    ptr: *mut std::ffi::c_void,
) -> PyResult<Bound<'_, PyAny>> {
    // SAFETY: the GIL is held; the capsule only carries the pointer (no
    // destructor); ptr is non-null per the contract.
    unsafe {
        let raw = ffi::PyCapsule_New(ptr, std::ptr::null(), None);
        Bound::from_owned_ptr_or_err(py, raw)
    }
}
