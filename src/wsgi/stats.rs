//! One request's measurements, as plain data: [`RequestStats`] is what
//! `wsgi::serve` knows about a request when it ends (its timestamps,
//! input and output counts and times, CPU time, GIL waits, status), and
//! what every consumer of per-request metrics records from: the
//! `mod_wsgi` Python API (`request_metrics()`, `process_metrics()`, the
//! `request_started`/`request_finished` events; `metrics.rs`) and any
//! other recorder given the finished struct.
//!
//! Counting is split by cost. The counts (reads, bytes, writes) are
//! always kept: an add on a counter the request owns. What needs a
//! clock or a system call (input and output time, GIL waits, CPU time)
//! is measured only while [`timing`] is on, which it is once some
//! interpreter of the process has called `start_recording_metrics()` or
//! `subscribe_events()` (or another recorder asked for it); until then
//! those fields stay 0.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use pyo3::marker::Ungil;
use pyo3::Python;

use crate::interp;

/// Everything measured about one request. Times are µs since the epoch
/// (wall clock, comparable between the Apache child and a daemon
/// process of the same machine); durations are µs; 0 means "not
/// measured" (or "does not apply", for the daemon stamps in embedded
/// mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// The process-local request thread number (`mod_wsgi.thread_id`,
    /// from 1).
    pub thread_id: u64,
    /// The Apache child process that took the request (this process in
    /// embedded mode).
    pub server_pid: u32,
    /// When Apache read the request line (`r->request_time`).
    pub request_start: i64,
    /// Daemon mode: when the Apache child sent the request to the
    /// daemon process (just before connecting). 0 in embedded mode.
    pub queue_start: i64,
    /// Daemon mode: when the daemon process accepted the request. 0 in
    /// embedded mode.
    pub daemon_start: i64,
    /// When the adapter started on the application (the script loaded).
    pub application_start: i64,
    /// When the response was complete and the iterable closed.
    pub application_finish: i64,
    /// Bytes of the body handed to the application by `wsgi.input`.
    pub input_bytes: u64,
    /// Reads from the server (each may serve several `read()` calls, or
    /// one `read()` may take several).
    pub input_reads: u64,
    /// Time spent waiting for body data (µs; timed only).
    pub input_time: u64,
    /// Body bytes passed to the server.
    pub output_bytes: u64,
    /// Body blocks written (each item of the iterable, each `write()`
    /// argument, a `wsgi.file_wrapper` file as one).
    pub output_writes: u64,
    /// Time spent writing the body (µs; timed only).
    pub output_time: u64,
    /// CPU time of the request's thread between application start and
    /// finish (µs; timed only).
    pub cpu_user: u64,
    pub cpu_system: u64,
    /// Time spent waiting to take the GIL back (entering the
    /// interpreter and after each blocking read or write), and how many
    /// times it was taken (µs; timed only).
    pub gil_wait: u64,
    pub gil_wait_count: u64,
    /// The HTTP status of the response (500 when the request failed
    /// before a status was sent).
    pub status: u16,
}

impl RequestStats {
    /// Seconds from µs, the unit of the Python API.
    pub fn seconds(us: i64) -> f64 {
        us as f64 / 1e6
    }
}

/// Whether the clocked measurements are taken in this process.
pub fn timing() -> bool {
    interp::stats_timing()
}

/// Turns the clocked measurements on for the rest of the process's
/// life (idempotent).
pub fn enable_timing() {
    interp::enable_stats_timing();
}

/// The per-request counters the request objects add to while the
/// application runs (`wsgi.input` reads, body writes). Atomics because
/// the objects may be used from any thread the application hands them
/// to; each add is one uncontended instruction.
#[derive(Default)]
pub struct IoCounters {
    input_bytes: AtomicU64,
    input_reads: AtomicU64,
    input_time: AtomicU64,
    output_writes: AtomicU64,
    output_time: AtomicU64,
}

impl IoCounters {
    /// `reads` reads from the server that took `time_us` in all.
    pub fn input_read(&self, reads: usize, time_us: u64) {
        self.input_reads.fetch_add(reads as u64, Ordering::Relaxed);
        if time_us > 0 {
            self.input_time.fetch_add(time_us, Ordering::Relaxed);
        }
    }

    /// `bytes` of the body returned to the application.
    pub fn input_given(&self, bytes: usize) {
        self.input_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// `blocks` body blocks written in `time_us`.
    pub fn output_written(&self, blocks: usize, time_us: u64) {
        self.output_writes
            .fetch_add(blocks as u64, Ordering::Relaxed);
        if time_us > 0 {
            self.output_time.fetch_add(time_us, Ordering::Relaxed);
        }
    }

    /// Copies the counts into `stats`.
    pub fn fill(&self, stats: &mut RequestStats) {
        stats.input_bytes = self.input_bytes.load(Ordering::Relaxed);
        stats.input_reads = self.input_reads.load(Ordering::Relaxed);
        stats.input_time = self.input_time.load(Ordering::Relaxed);
        stats.output_writes = self.output_writes.load(Ordering::Relaxed);
        stats.output_time = self.output_time.load(Ordering::Relaxed);
    }
}

/// Runs `f` with the GIL released, like `py.detach`. When timing is on
/// it also returns how long `f` took (µs) and adds the wait to take the
/// GIL back to this thread's GIL-wait count; otherwise the time is 0.
pub fn detach_timed<T, F>(py: Python<'_>, f: F) -> (T, u64)
where
    F: Ungil + Send + FnOnce() -> T,
    T: Ungil + Send,
{
    if !timing() {
        return (py.detach(f), 0);
    }
    let start = Instant::now();
    let (value, done) = py.detach(|| {
        let value = f();
        (value, Instant::now())
    });
    interp::add_gil_wait(done.elapsed().as_micros() as u64);
    (value, done.duration_since(start).as_micros() as u64)
}

/// This thread's CPU time (user, system) in µs, when timing is on.
pub fn thread_cpu() -> Option<(u64, u64)> {
    timing().then(|| crate::apache::process::cpu_times(true))
}

thread_local! {
    /// The statistics of the request this thread runs, as far as known,
    /// for the events' payloads (read only when something subscribed).
    static CURRENT: Cell<RequestStats> = Cell::new(RequestStats::default());
}

/// Makes `stats` what [`current`] returns on this thread.
pub fn set_current(stats: &RequestStats) {
    CURRENT.with(|c| c.set(*stats));
}

/// The statistics last given to [`set_current`] on this thread.
pub fn current() -> RequestStats {
    CURRENT.with(Cell::get)
}

/// µs since the epoch, now (the unit of the timestamps above).
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
