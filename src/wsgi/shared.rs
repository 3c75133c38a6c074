//! The `mod_wsgi_rs` module of every interpreter: shared caches and
//! named locks (`crate::store`) for applications. Its classes are Python
//! (`shared_api.py`; the Django and Flask adapters are compiled from
//! source when imported) over the `_native_cache_*`/`_native_lock_*`
//! functions below, which take handles and release the GIL around every
//! store call (a write may wait for another process's transaction).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyModule, PyString};
use pyo3::wrap_pyfunction;

use super::errors::log_process;
use super::LogLevel;
use crate::interp::handle::{self, HandleType};
use crate::store::{self, Cache, Error, NamedLock};

const API: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
    concat!(include_str!("shared_api.py"), "\0").as_bytes(),
) {
    Ok(s) => s,
    Err(_) => panic!("shared_api.py contains a NUL byte"),
};

/// (module name, source) of the adapters, imported on demand.
const ADAPTERS: [(&str, &str); 2] = [
    ("mod_wsgi_rs.django", include_str!("shared_django.py")),
    ("mod_wsgi_rs.flask", include_str!("shared_flask.py")),
];

struct CacheHandle(Arc<Cache>);
impl HandleType for CacheHandle {
    const NAME: &'static std::ffi::CStr = c"mod_wsgi_rs.cache";
}

/// A held lock until released (or the handle is collected).
struct LockHandle(Mutex<Option<NamedLock>>);
impl HandleType for LockHandle {
    const NAME: &'static std::ffi::CStr = c"mod_wsgi_rs.lock";
}

/// Installs `mod_wsgi_rs` (and the adapters' finder) in this interpreter.
pub fn install(py: Python<'_>) -> PyResult<()> {
    let module = PyModule::from_code(py, API, c"<mod_wsgi_rs>", c"mod_wsgi_rs")?;
    module.add_function(wrap_pyfunction!(_native_cache_open, &module)?)?;
    module.add_function(wrap_pyfunction!(_native_cache_get, &module)?)?;
    module.add_function(wrap_pyfunction!(_native_cache_get_many, &module)?)?;
    module.add_function(wrap_pyfunction!(_native_cache_set_many, &module)?)?;
    module.add_function(wrap_pyfunction!(_native_cache_add, &module)?)?;
    module.add_function(wrap_pyfunction!(_native_cache_delete, &module)?)?;
    module.add_function(wrap_pyfunction!(_native_cache_incr, &module)?)?;
    module.add_function(wrap_pyfunction!(_native_cache_keys, &module)?)?;
    module.add_function(wrap_pyfunction!(_native_cache_clear, &module)?)?;
    module.add_function(wrap_pyfunction!(_native_cache_stats, &module)?)?;
    module.add_function(wrap_pyfunction!(_native_lock_acquire, &module)?)?;
    module.add_function(wrap_pyfunction!(_native_lock_release, &module)?)?;
    module.add_function(wrap_pyfunction!(_native_lock_scope, &module)?)?;
    let adapters = PyDict::new(py);
    for (name, source) in ADAPTERS {
        adapters.set_item(name, source)?;
    }
    module.call_method1("_install", (adapters,))?;
    Ok(())
}

/// Full stores are logged at most once a minute per process.
static FULL_LOGGED: AtomicU64 = AtomicU64::new(0);

/// The Python exception for a store error, of this interpreter's classes.
fn raise(py: Python<'_>, e: Error) -> PyErr {
    let class = match &e {
        Error::BadKey(_) | Error::NotANumber(_) => return PyValueError::new_err(e.to_string()),
        Error::Full(m) => {
            let now = store::now_ms() / 1000;
            let last = FULL_LOGGED.load(Ordering::Relaxed);
            if now >= last + 60 && FULL_LOGGED.swap(now, Ordering::Relaxed) == last {
                log_process(LogLevel::Error, &format!("[WSGI-RS-E701] {m}"));
            }
            "CacheFull"
        }
        Error::Timeout(_) => "LockTimeout",
        Error::Unknown(_) | Error::Io(_) => "CacheError",
    };
    let made = py
        .import("mod_wsgi_rs")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1((e.to_string(),)));
    match made {
        Ok(value) => PyErr::from_value(value),
        Err(err) => err,
    }
}

fn cache<'a>(h: &'a Bound<'_, PyAny>) -> PyResult<&'a Arc<Cache>> {
    Ok(&handle::get::<CacheHandle>(h)?.0)
}

fn bytes_list<'py>(
    py: Python<'py>,
    items: Vec<Option<Vec<u8>>>,
) -> Vec<Option<Bound<'py, PyBytes>>> {
    items
        .into_iter()
        .map(|v| v.map(|v| PyBytes::new(py, &v)))
        .collect()
}

#[pyfunction]
fn _native_cache_open<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    match py.detach(|| store::open(name)) {
        Ok(s) => Ok(handle::new(py, CacheHandle(s))?.into_any()),
        Err(Error::Io(m)) => {
            let line = format!("[WSGI-RS-E702] shared cache '{name}' cannot be opened: {m}");
            log_process(LogLevel::Error, &line);
            Err(raise(py, Error::Io(line)))
        }
        Err(e) => Err(raise(py, e)),
    }
}

/// Runs `f` with the bytes of a key: `str` (UTF-8) and `bytes` read in
/// place, anything else through the Python `_key` (bytearray, memoryview,
/// or its TypeError), so the common call crosses into Python once.
fn with_key<R>(key: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> PyResult<R>) -> PyResult<R> {
    if let Ok(b) = key.cast::<PyBytes>() {
        return f(b.as_bytes());
    }
    if let Ok(s) = key.cast::<PyString>() {
        return f(s.to_str()?.as_bytes());
    }
    let converted = key
        .py()
        .import("mod_wsgi_rs")?
        .getattr("_key")?
        .call1((key,))?;
    f(converted.cast::<PyBytes>()?.as_bytes())
}

/// `Cache.get`'s value: the bytes, or None when absent or expired.
#[pyfunction]
fn _native_cache_get<'py>(
    py: Python<'py>,
    h: &Bound<'py, PyAny>,
    key: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let s = cache(h)?;
    with_key(key, |k| {
        let got = if s.is_remote() {
            py.detach(|| s.get_with(k, |v| v.map(<[u8]>::to_vec)))
                .map(|v| v.map(|v| PyBytes::new(py, &v)))
        } else {
            s.get_with(k, |v| v.map(|v| PyBytes::new(py, v)))
        };
        got.map_err(|e| raise(py, e))
    })
}

#[pyfunction]
fn _native_cache_get_many<'py>(
    py: Python<'py>,
    h: &Bound<'py, PyAny>,
    keys: Vec<Vec<u8>>,
) -> PyResult<Vec<Option<Bound<'py, PyBytes>>>> {
    let s = cache(h)?;
    let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let got = if s.is_remote() {
        py.detach(|| s.get_many(&refs))
    } else {
        s.get_many(&refs)
    };
    Ok(bytes_list(py, got.map_err(|e| raise(py, e))?))
}

#[pyfunction]
#[pyo3(signature = (h, items, ttl=None))]
fn _native_cache_set_many(
    py: Python<'_>,
    h: &Bound<'_, PyAny>,
    items: Vec<(Vec<u8>, Vec<u8>)>,
    ttl: Option<f64>,
) -> PyResult<()> {
    let s = cache(h)?;
    let refs: Vec<(&[u8], &[u8])> = items.iter().map(|(k, v)| (&k[..], &v[..])).collect();
    py.detach(|| s.set_many(&refs, ttl))
        .map_err(|e| raise(py, e))
}

#[pyfunction]
#[pyo3(signature = (h, key, value, ttl=None))]
fn _native_cache_add(
    py: Python<'_>,
    h: &Bound<'_, PyAny>,
    key: Vec<u8>,
    value: Vec<u8>,
    ttl: Option<f64>,
) -> PyResult<bool> {
    let s = cache(h)?;
    py.detach(|| s.add(&key, &value, ttl))
        .map_err(|e| raise(py, e))
}

#[pyfunction]
fn _native_cache_delete(py: Python<'_>, h: &Bound<'_, PyAny>, key: Vec<u8>) -> PyResult<bool> {
    let s = cache(h)?;
    py.detach(|| s.delete(&key)).map_err(|e| raise(py, e))
}

#[pyfunction]
#[pyo3(signature = (h, key, delta, ttl=None))]
fn _native_cache_incr(
    py: Python<'_>,
    h: &Bound<'_, PyAny>,
    key: &Bound<'_, PyAny>,
    delta: i64,
    ttl: Option<f64>,
) -> PyResult<i64> {
    let s = cache(h)?;
    with_key(key, |k| {
        py.detach(|| s.incr(k, delta, ttl))
            .map_err(|e| raise(py, e))
    })
}

#[pyfunction]
fn _native_cache_keys<'py>(
    py: Python<'py>,
    h: &Bound<'py, PyAny>,
    prefix: Vec<u8>,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let s = cache(h)?;
    let keys = py.detach(|| s.keys(&prefix)).map_err(|e| raise(py, e))?;
    Ok(keys.iter().map(|k| PyBytes::new(py, k)).collect())
}

#[pyfunction]
fn _native_cache_clear(py: Python<'_>, h: &Bound<'_, PyAny>) -> PyResult<()> {
    let s = cache(h)?;
    py.detach(|| s.clear()).map_err(|e| raise(py, e))
}

#[pyfunction]
fn _native_cache_stats<'py>(
    py: Python<'py>,
    h: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let s = cache(h)?;
    let st = py.detach(|| s.stats()).map_err(|e| raise(py, e))?;
    let d = PyDict::new(py);
    d.set_item("entries", st.entries)?;
    d.set_item("used_bytes", st.used_bytes)?;
    d.set_item("size", st.size)?;
    d.set_item("readers", st.readers)?;
    d.set_item("max_readers", st.max_readers)?;
    d.set_item("path", st.path)?;
    Ok(d)
}

#[pyfunction]
#[pyo3(signature = (name, timeout=None, cache=None))]
fn _native_lock_acquire<'py>(
    py: Python<'py>,
    name: &str,
    timeout: Option<f64>,
    cache: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let timeout = match timeout {
        Some(t) if !(t >= 0.0 && t.is_finite()) => {
            return Err(PyValueError::new_err(
                "timeout must be None or a number >= 0",
            ))
        }
        t => t.map(Duration::from_secs_f64),
    };
    let held = py
        .detach(|| store::lock(name, timeout, cache))
        .map_err(|e| raise(py, e))?;
    Ok(handle::new(py, LockHandle(Mutex::new(Some(held))))?.into_any())
}

/// The cache a lock taken with `cache=` lives on, or `None` when it is
/// this machine's lock of that name.
#[pyfunction]
#[pyo3(signature = (cache=None))]
fn _native_lock_scope(py: Python<'_>, cache: Option<&str>) -> PyResult<Option<String>> {
    store::lock_scope(cache)
        .map(|s| s.map(str::to_owned))
        .map_err(|e| raise(py, e))
}

#[pyfunction]
fn _native_lock_release(h: &Bound<'_, PyAny>) -> PyResult<()> {
    let held = handle::get::<LockHandle>(h)?
        .0
        .lock()
        .take()
        .ok_or_else(|| PyRuntimeError::new_err("lock is not held"))?;
    // Releasing a Redis lock is a round trip to the server.
    h.py().detach(|| drop(held));
    Ok(())
}
