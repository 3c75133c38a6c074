//! Byte strings from httpd become Python `str` decoded as latin-1, as
//! PEP 3333 and mod_wsgi require.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
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

extern "C" {
    // Exported by CPython (3.8 to 3.14; Cython and orjson use it too),
    // not in pyo3-ffi because it is underscored.
    fn _PyDict_NewPresized(minused: ffi::Py_ssize_t) -> *mut ffi::PyObject;
}

/// A new empty `dict` with room for `n` items before its first resize
/// (the environ grows to 40-odd keys: five resizes from an empty dict).
pub fn dict_with_capacity(py: Python<'_>, n: usize) -> PyResult<Bound<'_, PyDict>> {
    // SAFETY: the GIL is held; the call returns a new reference or NULL
    // with an exception set.
    unsafe {
        Bound::from_owned_ptr_or_err(py, _PyDict_NewPresized(n as ffi::Py_ssize_t))
            .map(|d| d.cast_into_unchecked())
    }
}

/// Decodes the decimal digits of `n` into a new `str` (no heap string
/// on the way).
pub fn decimal(py: Python<'_>, n: i64) -> Bound<'_, PyString> {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    latin1(py, &buf[i..])
}

/// An unnamed capsule around the live request's `request_rec` pointer
/// (`apache.request_rec`, for code that hands it to C).
pub fn request_capsule(py: Python<'_>, r: crate::apache::Request) -> PyResult<Bound<'_, PyAny>> {
    let ptr = r.as_ptr().cast::<std::ffi::c_void>();
    // SAFETY: the GIL is held; ptr is a live request_rec, so non-null;
    // the capsule only carries the pointer (no destructor).
    unsafe {
        let raw = ffi::PyCapsule_New(ptr, std::ptr::null(), None);
        Bound::from_owned_ptr_or_err(py, raw)
    }
}

/// A new `bytes` object of at most `n` bytes whose contents `fill`
/// writes in place (no zero-filling first, unlike `PyBytes::new_with`):
/// `fill` returns how many bytes it wrote from the start, and the object
/// is shrunk to that. `fill` runs with the GIL held; it may release it.
pub fn bytes_filled<'py, E>(
    py: Python<'py>,
    n: usize,
    fill: impl FnOnce(&mut [std::mem::MaybeUninit<u8>]) -> Result<usize, E>,
) -> PyResult<Result<Bound<'py, pyo3::types::PyBytes>, E>> {
    // SAFETY: the GIL is held; a NULL source asks CPython for an
    // uninitialised object of n bytes, which nothing else can see yet.
    let raw = unsafe { ffi::PyBytes_FromStringAndSize(std::ptr::null(), n as ffi::Py_ssize_t) };
    if raw.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: raw is a new bytes object with n writable bytes (plus the
    // trailing NUL CPython keeps); MaybeUninit makes no claim on them.
    let buf = unsafe {
        std::slice::from_raw_parts_mut(
            ffi::PyBytes_AsString(raw).cast::<std::mem::MaybeUninit<u8>>(),
            n,
        )
    };
    let got = match fill(buf) {
        Ok(got) => got.min(n),
        Err(e) => {
            // SAFETY: we own the only reference.
            unsafe { ffi::Py_DECREF(raw) };
            return Ok(Err(e));
        }
    };
    if got < n {
        // Short (the body ended early): a copy of the part written.
        // SAFETY: the first `got` bytes were written by `fill` (its
        // contract); then our only reference to raw is released.
        let short = unsafe {
            let part = std::slice::from_raw_parts(ffi::PyBytes_AsString(raw).cast::<u8>(), got);
            let copy = pyo3::types::PyBytes::new(py, part);
            ffi::Py_DECREF(raw);
            copy
        };
        return Ok(Ok(short));
    }
    // SAFETY: all n bytes were written by `fill`; raw is an owned
    // reference to a bytes object.
    Ok(Ok(unsafe {
        Bound::from_owned_ptr(py, raw).cast_into_unchecked()
    }))
}

/// The already-imported module `name` from `sys.modules`, without the
/// import machinery (`py.import`, and even `PyImport_GetModule`, format
/// and discard an `AttributeError` per call while checking the module's
/// spec); imports it when it is not there yet.
pub fn module<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, pyo3::types::PyModule>> {
    let key = PyString::new(py, name);
    // SAFETY: the GIL is held; PyImport_GetModuleDict returns the
    // current interpreter's sys.modules (borrowed), PyDict_GetItemWithError
    // a borrowed reference or NULL.
    let raw = unsafe {
        let modules = ffi::PyImport_GetModuleDict();
        if modules.is_null() {
            std::ptr::null_mut()
        } else {
            ffi::PyDict_GetItemWithError(modules, key.as_ptr())
        }
    };
    if !raw.is_null() {
        // SAFETY: a borrowed reference to the object sys.modules holds.
        let found = unsafe { Bound::from_borrowed_ptr(py, raw) };
        if let Ok(m) = found.cast_into::<pyo3::types::PyModule>() {
            return Ok(m);
        }
    } else if let Some(e) = PyErr::take(py) {
        return Err(e);
    }
    py.import(name)
}
