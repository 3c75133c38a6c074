//! `wsgi.file_wrapper`: wraps a file-like object; a real file is sent by
//! the server from its descriptor, anything else is read in `blksize`
//! pieces.

use pyo3::prelude::*;

#[pyclass(module = "mod_wsgi", name = "FileWrapper")]
pub struct FileWrapper {
    #[pyo3(get)]
    pub filelike: Py<PyAny>,
    #[pyo3(get)]
    pub blksize: usize,
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, blksize=8192))]
    fn new(filelike: Py<PyAny>, blksize: usize) -> FileWrapper {
        FileWrapper {
            filelike,
            blksize: blksize.max(1),
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let data = self
            .filelike
            .bind(py)
            .call_method1("read", (self.blksize,))?;
        Ok((data.len()? > 0).then_some(data))
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let f = self.filelike.bind(py);
        if f.hasattr("close")? {
            f.call_method0("close")?;
        }
        Ok(())
    }
}

/// The descriptor and byte range to send when the wrapped object is a
/// regular file opened for reading: `(fd, offset, length)`.
pub fn file_range(
    py: Python<'_>,
    wrapper: &FileWrapper,
    limit: Option<u64>,
) -> Option<(i32, u64, u64)> {
    let f = wrapper.filelike.bind(py);
    let fd: i32 = f.call_method0("fileno").ok()?.extract().ok()?;
    let offset: u64 = f.call_method0("tell").ok()?.extract().ok()?;
    let os = py.import("os").ok()?;
    let st = os.call_method1("fstat", (fd,)).ok()?;
    let mode: u32 = st.getattr("st_mode").ok()?.extract().ok()?;
    let is_regular = py
        .import("stat")
        .ok()?
        .call_method1("S_ISREG", (mode,))
        .ok()?
        .extract::<bool>()
        .ok()?;
    if !is_regular {
        return None;
    }
    let size: u64 = st.getattr("st_size").ok()?.extract().ok()?;
    let len = size.saturating_sub(offset);
    Some((fd, offset, limit.map_or(len, |l| l.min(len))))
}
