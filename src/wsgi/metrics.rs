//! `mod_wsgi.server_metrics()`: Apache's scoreboard as Python data, with
//! mod_wsgi 4.9.4's keys and types. The bootstrap's `server_metrics()`
//! returns `None` itself unless server metrics are enabled for the
//! process; this native only converts. The scoreboard is copied with the
//! GIL released, then the dicts are built from the copy.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::apache::scoreboard::{self, Process, Snapshot, Worker};

/// Microseconds since the epoch as float seconds.
fn seconds(us: i64) -> f64 {
    us as f64 / 1e6
}

fn worker_dict<'py>(py: Python<'py>, w: &Worker) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("thread_num", w.thread_num)?;
    d.set_item("generation", w.generation)?;
    d.set_item("status", w.status.to_string())?;
    d.set_item("access_count", w.access_count)?;
    d.set_item("bytes_served", w.bytes_served)?;
    d.set_item("start_time", seconds(w.start_time))?;
    d.set_item("stop_time", seconds(w.stop_time))?;
    d.set_item("last_used", seconds(w.last_used))?;
    d.set_item("client", &w.client)?;
    d.set_item("request", &w.request)?;
    d.set_item("vhost", &w.vhost)?;
    Ok(d)
}

fn process_dict<'py>(py: Python<'py>, p: &Process) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("process_num", p.process_num)?;
    d.set_item("pid", p.pid)?;
    d.set_item("generation", p.generation)?;
    d.set_item("quiescing", p.quiescing)?;
    let workers = PyList::empty(py);
    for w in &p.workers {
        workers.append(worker_dict(py, w)?)?;
    }
    d.set_item("workers", workers)?;
    Ok(d)
}

fn snapshot_dict<'py>(py: Python<'py>, s: &Snapshot) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("server_limit", s.server_limit)?;
    d.set_item("thread_limit", s.thread_limit)?;
    d.set_item("running_generation", s.running_generation)?;
    d.set_item("restart_time", seconds(s.restart_time))?;
    d.set_item("current_time", seconds(s.current_time))?;
    // Whole seconds, as mod_wsgi reports it.
    d.set_item(
        "running_time",
        (s.current_time - s.restart_time).max(0) / 1_000_000,
    )?;
    let processes = PyList::empty(py);
    for p in &s.processes {
        processes.append(process_dict(py, p)?)?;
    }
    d.set_item("processes", processes)?;
    Ok(d)
}

/// A snapshot of the scoreboard as a dict, or `None` when this process
/// has no scoreboard.
#[pyfunction]
pub fn _native_server_metrics(py: Python<'_>) -> PyResult<Option<Bound<'_, PyDict>>> {
    match py.detach(scoreboard::snapshot) {
        Some(s) => snapshot_dict(py, &s).map(Some),
        None => Ok(None),
    }
}
