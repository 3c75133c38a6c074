//! `wsgi.file_wrapper` (the bootstrap's `FileWrapper` class): when the
//! application returns one wrapping a regular file, the server sends the
//! file from its descriptor instead of Python reading it.

use pyo3::prelude::*;

/// The descriptor and byte range to send when `filelike` is a regular
/// file: `(fd, offset, length)`; `None` means "iterate it instead".
pub fn file_range(
    py: Python<'_>,
    filelike: &Bound<'_, PyAny>,
    limit: Option<u64>,
) -> Option<(i32, u64, u64)> {
    let fd: i32 = filelike.call_method0("fileno").ok()?.extract().ok()?;
    let offset: u64 = filelike.call_method0("tell").ok()?.extract().ok()?;
    let st = py.import("os").ok()?.call_method1("fstat", (fd,)).ok()?;
    let mode: u32 = st.getattr("st_mode").ok()?.extract().ok()?;
    if mode & 0o170000 != 0o100000 {
        return None;
    }
    let size: u64 = st.getattr("st_size").ok()?.extract().ok()?;
    let len = size.saturating_sub(offset);
    Some((fd, offset, limit.map_or(len, |l| l.min(len))))
}
