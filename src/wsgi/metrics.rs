//! The metrics natives of the `mod_wsgi` module, as mod_wsgi 6.0.5 has
//! them: `server_metrics()` (Apache's scoreboard as Python data, with
//! mod_wsgi 4.9.4's keys and types; the bootstrap returns `None` itself
//! unless server metrics are enabled for the process, this native only
//! converts; the scoreboard is copied with the GIL released),
//! `start_recording_metrics()`, `request_metrics()` and
//! `process_metrics()` over the process's accounting (`interval.rs`),
//! and the current request's statistics for the events.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::interval::{self, Baseline, Interval, ThreadCounts, PHASES};
use super::stats::{self, now_us, RequestStats};
use crate::apache::process::{cpu_times, peak_rss};
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

/// The process's resident set size now, in bytes (`VmRSS`).
fn current_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// What the process is, from the bootstrap's `configure()`: its request
/// threads and whether it is a daemon process.
#[pyfunction]
pub fn _native_metrics_configure(threads_maximum: usize, daemon: bool) {
    interval::configure(now_us(), threads_maximum, daemon);
}

/// `mod_wsgi.start_recording_metrics()`: starts the first interval
/// (idempotent) and the clocked measurements.
#[pyfunction]
pub fn _native_start_recording_metrics() {
    stats::enable_timing();
    let now = now_us();
    let cpu = cpu_times(false);
    interval::with(|p| {
        if p.recording.is_none() {
            let (busy, count) = p.utilization(now, 0);
            p.recording = Some(Baseline {
                time: now,
                busy,
                count,
                cpu,
            });
        }
    });
}

/// `subscribe_events()` was called: the events carry the clocked
/// measurements from now on.
#[pyfunction]
pub fn _native_enable_stats_timing() {
    stats::enable_timing();
}

/// The current request's statistics on this thread, for the events.
#[pyfunction]
pub fn _native_request_stats(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let s = stats::current();
    let d = PyDict::new(py);
    let secs = RequestStats::seconds;
    d.set_item("server_pid", s.server_pid)?;
    d.set_item("request_start", secs(s.request_start))?;
    d.set_item("queue_start", secs(s.queue_start))?;
    d.set_item("daemon_start", secs(s.daemon_start))?;
    d.set_item("application_start", secs(s.application_start))?;
    if s.application_finish == 0 {
        return Ok(d);
    }
    d.set_item("input_reads", s.input_reads)?;
    d.set_item("input_length", s.input_bytes)?;
    d.set_item("input_time", secs(s.input_time as i64))?;
    d.set_item("output_length", s.output_bytes)?;
    d.set_item("output_writes", s.output_writes)?;
    d.set_item("output_time", secs(s.output_time as i64))?;
    let application = (s.application_finish - s.application_start).max(0);
    d.set_item("application_finish", secs(s.application_finish))?;
    d.set_item("application_time", secs(application))?;
    d.set_item("cpu_user_time", secs(s.cpu_user as i64))?;
    d.set_item("cpu_system_time", secs(s.cpu_system as i64))?;
    d.set_item("cpu_time", secs((s.cpu_user + s.cpu_system) as i64))?;
    d.set_item("status", s.status)?;
    d.set_item("gil_wait_time", secs(s.gil_wait as i64))?;
    d.set_item("gil_wait_count", s.gil_wait_count)?;
    Ok(d)
}

/// `mod_wsgi.process_metrics()`: the process's lifetime figures, or
/// `None` before `start_recording_metrics()`.
#[pyfunction]
pub fn _native_process_metrics(py: Python<'_>) -> PyResult<Option<Bound<'_, PyDict>>> {
    let now = now_us();
    let Some((busy, count, started, active, threads)) = interval::with(|p| {
        p.recording?;
        let (busy, count) = p.utilization(now, 0);
        Some((busy, count, p.started, p.active, p.threads.clone()))
    }) else {
        return Ok(None);
    };
    let (user, system) = cpu_times(false);
    let secs = |us: u64| us as f64 / 1e6;
    let d = PyDict::new(py);
    d.set_item("pid", std::process::id())?;
    d.set_item("request_busy_time", busy)?;
    d.set_item("request_count", count)?;
    d.set_item("memory_max_rss", peak_rss())?;
    d.set_item("memory_rss", current_rss())?;
    d.set_item("cpu_user_time", secs(user))?;
    d.set_item("cpu_system_time", secs(system))?;
    d.set_item("cpu_time", secs(user + system))?;
    d.set_item("restart_time", RequestStats::seconds(started))?;
    d.set_item("current_time", RequestStats::seconds(now))?;
    d.set_item("running_time", (now - started).max(0) / 1_000_000)?;
    let served: Vec<(usize, &ThreadCounts)> = threads
        .iter()
        .enumerate()
        .filter(|(_, t)| t.request_count > 0)
        .collect();
    d.set_item("request_threads", served.len())?;
    d.set_item("active_requests", active)?;
    let list = PyList::empty(py);
    for (i, t) in served {
        let entry = PyDict::new(py);
        entry.set_item("thread_id", i + 1)?;
        entry.set_item("request_count", t.request_count)?;
        list.append(entry)?;
    }
    d.set_item("threads", list)?;
    Ok(Some(d))
}

/// What `request_metrics()` reads under the lock.
struct Sample {
    start: Baseline,
    stop: Baseline,
    interval: Interval,
    threads: Vec<ThreadCounts>,
    maximum: usize,
    daemon: bool,
    now: i64,
}

/// Takes the interval and moves the baseline to now.
fn take_sample() -> Option<Sample> {
    let now = now_us();
    let cpu = cpu_times(false);
    interval::with(|p| {
        let start = p.recording?;
        let (busy, count) = p.utilization(now, 0);
        let stop = Baseline {
            time: now,
            busy,
            count,
            cpu,
        };
        p.recording = Some(stop);
        let (interval, threads) = p.drain(now);
        Some(Sample {
            start,
            stop,
            interval,
            threads,
            maximum: p.threads_maximum,
            daemon: p.daemon,
            now,
        })
    })
}

/// `mod_wsgi.request_metrics()`: what happened since the last call (or
/// since `start_recording_metrics()`), emptied by the call; `None`
/// before `start_recording_metrics()`.
#[pyfunction]
pub fn _native_request_metrics(py: Python<'_>) -> PyResult<Option<Bound<'_, PyDict>>> {
    let Some(s) = take_sample() else {
        return Ok(None);
    };
    let d = PyDict::new(py);
    let period = ((s.stop.time - s.start.time) as f64 / 1e6).max(1e-6);
    d.set_item("pid", std::process::id())?;
    d.set_item("start_time", RequestStats::seconds(s.start.time))?;
    d.set_item("stop_time", RequestStats::seconds(s.stop.time))?;
    d.set_item("sample_period", period)?;
    let rate = |a: u64, b: u64| a.saturating_sub(b) as f64 / 1e6 / period;
    let (user, system) = (
        rate(s.stop.cpu.0, s.start.cpu.0),
        rate(s.stop.cpu.1, s.start.cpu.1),
    );
    for (key, value) in [
        ("cpu_user_utilization", user),
        ("cpu_user_time", user),
        ("cpu_system_utilization", system),
        ("cpu_system_time", system),
        ("cpu_utilization", user + system),
        ("cpu_time", user + system),
    ] {
        d.set_item(key, value)?;
    }
    d.set_item("memory_max_rss", peak_rss())?;
    d.set_item("memory_rss", current_rss())?;
    let slots = |f: &dyn Fn(&ThreadCounts) -> u64| -> Vec<u64> {
        (0..s.maximum)
            .map(|i| s.threads.get(i).map_or(0, f))
            .collect()
    };
    let elapsed = |t: &ThreadCounts| {
        if t.started != 0 {
            (s.now - t.started).max(0) as u64
        } else {
            0
        }
    };
    let completed = slots(&|t| t.completed);
    let current = slots(&elapsed);
    let started = s.threads.iter().filter(|t| t.request_count > 0).count();
    let active = (0..s.maximum)
        .filter(|&i| completed[i] > 0 || current[i] > 0)
        .count();
    d.set_item("request_threads_maximum", s.maximum)?;
    d.set_item("request_threads_started", started)?;
    d.set_item("request_threads_active", active)?;
    let busy = s.stop.busy - s.start.busy;
    let count = s.stop.count - s.start.count;
    d.set_item("capacity_utilization", busy / period / s.maximum as f64)?;
    d.set_item("request_count", count)?;
    d.set_item("request_throughput", count as f64 / period)?;
    let iv = &s.interval;
    for (i, n) in iv.status.iter().enumerate() {
        d.set_item(format!("status_{}xx", i + 1), n)?;
    }
    d.set_item("input_bytes", iv.input_bytes)?;
    d.set_item("input_reads", iv.input_reads)?;
    d.set_item("output_bytes", iv.output_bytes)?;
    d.set_item("output_writes", iv.output_writes)?;
    let seconds_list = |v: Vec<u64>| v.into_iter().map(|us| us as f64 / 1e6).collect::<Vec<_>>();
    d.set_item("request_threads_completed", completed.clone())?;
    d.set_item("request_threads_buckets", completed)?;
    d.set_item(
        "request_threads_busy_time",
        seconds_list(slots(&|t| t.busy_us)),
    )?;
    d.set_item(
        "request_threads_cpu_time",
        seconds_list(slots(&|t| t.cpu_us)),
    )?;
    d.set_item("request_threads_current_elapsed", seconds_list(current))?;
    d.set_item(
        "request_threads_max_duration",
        seconds_list(slots(&|t| t.max_duration_us)),
    )?;
    for (name, phase) in PHASES.iter().zip(&iv.phases) {
        // Queue and daemon times exist in daemon processes only.
        let applies = s.daemon || !matches!(*name, "queue_time" | "daemon_time");
        d.set_item(format!("{name}_buckets"), phase.buckets.to_vec())?;
        let (min_key, max_key) = (format!("{name}_min_us"), format!("{name}_max_us"));
        if !applies {
            d.set_item(*name, py.None())?;
            d.set_item(min_key, py.None())?;
            d.set_item(max_key, py.None())?;
            continue;
        }
        let mean = if iv.requests > 0 {
            phase.total_us as f64 / 1e6 / iv.requests as f64
        } else {
            0.0
        };
        d.set_item(*name, mean)?;
        match phase.min_us {
            Some(min) => {
                d.set_item(min_key, min)?;
                d.set_item(max_key, phase.max_us)?;
            }
            None => {
                d.set_item(min_key, py.None())?;
                d.set_item(max_key, py.None())?;
            }
        }
    }
    d.set_item("gil_wait_count", iv.gil_wait_count)?;
    Ok(Some(d))
}
