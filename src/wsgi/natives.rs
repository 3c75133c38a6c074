//! Setting an interpreter up for the adapter: the native functions the
//! bootstrap's classes call, and the handles of its standard streams.
//! Run once in every interpreter, so each gets function objects of its
//! own.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule};
use pyo3::wrap_pyfunction;

use super::errors::{self, LogHandle};
use super::{input, metrics, start_response};
use crate::interp::handle;

/// Adds the `_native_*` functions to the bootstrap module and the stream
/// handles to the options `configure()` receives.
pub fn prepare_interpreter(
    module: &Bound<'_, PyModule>,
    options: &Bound<'_, PyDict>,
) -> PyResult<()> {
    let py = module.py();
    module.add_function(wrap_pyfunction!(input::_native_input_read, module)?)?;
    module.add_function(wrap_pyfunction!(input::_native_input_readline, module)?)?;
    module.add_function(wrap_pyfunction!(errors::_native_log_write, module)?)?;
    module.add_function(wrap_pyfunction!(errors::_native_log_flush, module)?)?;
    module.add_function(wrap_pyfunction!(errors::_native_server_log, module)?)?;
    module.add_function(wrap_pyfunction!(
        start_response::_native_start_response,
        module
    )?)?;
    module.add_function(wrap_pyfunction!(start_response::_native_write, module)?)?;
    module.add_function(wrap_pyfunction!(start_response::_native_is_https, module)?)?;
    module.add_function(wrap_pyfunction!(start_response::_native_ssl_var, module)?)?;
    module.add_function(wrap_pyfunction!(metrics::_native_server_metrics, module)?)?;
    module.add_function(wrap_pyfunction!(
        metrics::_native_metrics_configure,
        module
    )?)?;
    module.add_function(wrap_pyfunction!(
        metrics::_native_start_recording_metrics,
        module
    )?)?;
    module.add_function(wrap_pyfunction!(
        metrics::_native_enable_stats_timing,
        module
    )?)?;
    module.add_function(wrap_pyfunction!(metrics::_native_request_stats, module)?)?;
    module.add_function(wrap_pyfunction!(metrics::_native_request_metrics, module)?)?;
    module.add_function(wrap_pyfunction!(metrics::_native_process_metrics, module)?)?;
    options.set_item("environ_keys", super::keys::make_tuple(py)?)?;
    options.set_item("stdout", handle::new(py, LogHandle::for_process())?)?;
    options.set_item("stderr", handle::new(py, LogHandle::for_process())?)?;
    super::shared::install(py)?;
    Ok(())
}
