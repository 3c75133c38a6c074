//! The process's request accounting behind `mod_wsgi.process_metrics()`
//! and `request_metrics()` (mod_wsgi 6.0.5's semantics): one record per
//! process, shared by all its interpreters, fed from each request's
//! [`RequestStats`] and emptied by each `request_metrics()` call.
//!
//! Always kept (a short lock at request start and end): the request
//! count, the busy time (the integral of requests in progress over
//! time, the basis of capacity utilisation) and per-thread counts.
//! Kept only after `start_recording_metrics()`: the per-interval phase
//! times with their histograms, I/O totals and status classes.

use parking_lot::{const_mutex, Mutex};

use super::stats::RequestStats;

/// Histogram buckets per phase: 16 octaves from 1 ms, 4 linear steps
/// each, plus one for 65.536 s and over (bucket 0 also takes < 1 ms).
pub const BUCKETS: usize = 65;

/// The bucket a duration (µs) falls in.
pub fn bucket(us: u64) -> usize {
    let ms = us as f64 / 1000.0;
    if ms < 1.0 {
        return 0;
    }
    if ms >= 65536.0 {
        return BUCKETS - 1;
    }
    // ms = m × 2^e with m in [1, 2): octave e, step (m - 1) × 4.
    let octave = ms.log2().floor();
    let m = ms / octave.exp2();
    let step = (((m - 1.0) * 4.0) as usize).min(3);
    octave as usize * 4 + step
}

/// One phase's interval totals.
#[derive(Clone, Copy)]
pub struct Phase {
    pub total_us: u64,
    /// `None` (reported as None) when nothing was recorded.
    pub min_us: Option<u64>,
    pub max_us: u64,
    pub buckets: [u32; BUCKETS],
}

impl Phase {
    const EMPTY: Phase = Phase {
        total_us: 0,
        min_us: None,
        max_us: 0,
        buckets: [0; BUCKETS],
    };

    fn record(&mut self, us: u64) {
        self.total_us += us;
        self.min_us = Some(self.min_us.map_or(us, |m| m.min(us)));
        self.max_us = self.max_us.max(us);
        self.buckets[bucket(us)] += 1;
    }
}

/// The phases of `request_metrics()`, in this order.
pub const PHASES: [&str; 8] = [
    "server_time",
    "queue_time",
    "daemon_time",
    "application_time",
    "request_time",
    "gil_wait_time",
    "input_read_time",
    "output_write_time",
];

/// What one interval (since recording started or the last
/// `request_metrics()`) collected.
#[derive(Clone, Copy)]
pub struct Interval {
    /// Requests recorded (the divisor of the phase means).
    pub requests: u64,
    pub phases: [Phase; 8],
    pub gil_wait_count: u64,
    pub input_bytes: u64,
    pub input_reads: u64,
    pub output_bytes: u64,
    pub output_writes: u64,
    /// Responses by status class 1xx … 5xx.
    pub status: [u64; 5],
}

impl Interval {
    const EMPTY: Interval = Interval {
        requests: 0,
        phases: [Phase::EMPTY; 8],
        gil_wait_count: 0,
        input_bytes: 0,
        input_reads: 0,
        output_bytes: 0,
        output_writes: 0,
        status: [0; 5],
    };

    fn record(&mut self, s: &RequestStats, in_daemon: bool) {
        let gap = |a: i64, b: i64| (a - b).max(0) as u64;
        // Daemon mode splits the time before the application into
        // Apache (server), the listen queue and the daemon's own part.
        let (server, queue, daemon) = if s.queue_start != 0 {
            (
                gap(s.queue_start, s.request_start),
                gap(s.daemon_start, s.queue_start),
                gap(s.application_start, s.daemon_start),
            )
        } else {
            (gap(s.application_start, s.request_start), 0, 0)
        };
        let application = gap(s.application_finish, s.application_start);
        self.requests += 1;
        let times = [
            server,
            queue,
            daemon,
            application,
            server + queue + daemon + application,
            s.gil_wait,
            s.input_time,
            s.output_time,
        ];
        for (i, (phase, us)) in self.phases.iter_mut().zip(times).enumerate() {
            // queue and daemon times exist in daemon processes only
            if in_daemon || !matches!(i, 1 | 2) {
                phase.record(us);
            }
        }
        self.gil_wait_count += s.gil_wait_count;
        self.input_bytes += s.input_bytes;
        self.input_reads += s.input_reads;
        self.output_bytes += s.output_bytes;
        self.output_writes += s.output_writes;
        if let 100..=599 = s.status {
            self.status[(s.status / 100 - 1) as usize] += 1;
        }
    }
}

/// One request thread's counts: for its life, and for the interval.
#[derive(Clone, Copy, Default)]
pub struct ThreadCounts {
    /// Requests since the process started.
    pub request_count: u64,
    /// When the request in progress started (µs), 0 when idle.
    pub busy_since: i64,
    pub started: i64,
    /// Interval: requests completed, busy time, CPU time, longest
    /// request (µs).
    pub completed: u64,
    pub busy_us: u64,
    pub cpu_us: u64,
    pub max_duration_us: u64,
}

/// The interval's starting point, set by `start_recording_metrics()`.
#[derive(Clone, Copy)]
pub struct Baseline {
    pub time: i64,
    pub busy: f64,
    pub count: u64,
    /// Process CPU (user, system) µs.
    pub cpu: (u64, u64),
}

/// The whole process's accounting.
pub struct Process {
    /// When the process's Python started (µs).
    pub started: i64,
    pub threads_maximum: usize,
    /// True in a daemon process (queue and daemon times apply).
    pub daemon: bool,
    pub active: u64,
    pub total: u64,
    /// Seconds of request time (Σ requests in progress × time).
    busy: f64,
    busy_at: i64,
    /// Indexed by thread id - 1.
    pub threads: Vec<ThreadCounts>,
    pub recording: Option<Baseline>,
    pub interval: Interval,
}

static PROCESS: Mutex<Process> = const_mutex(Process {
    started: 0,
    threads_maximum: 1,
    daemon: false,
    active: 0,
    total: 0,
    busy: 0.0,
    busy_at: 0,
    threads: Vec::new(),
    recording: None,
    interval: Interval::EMPTY,
});

impl Process {
    /// Brings the busy-time integral up to `now`, then applies a change
    /// of the requests in progress; returns (busy seconds, total count).
    pub fn utilization(&mut self, now: i64, change: i64) -> (f64, u64) {
        if self.busy_at != 0 {
            self.busy += self.active as f64 * ((now - self.busy_at).max(0) as f64 / 1e6);
        }
        self.busy_at = now;
        if change > 0 {
            self.active += 1;
        } else if change < 0 {
            self.active = self.active.saturating_sub(1);
            self.total += 1;
        }
        (self.busy, self.total)
    }

    fn thread(&mut self, id: u64) -> Option<&mut ThreadCounts> {
        let i = (id as usize).checked_sub(1)?;
        if i >= self.threads.len() {
            // Thread ids are small and dense; a bound keeps a bogus one
            // from growing the table.
            if i >= 4096 {
                return None;
            }
            self.threads.resize(i + 1, ThreadCounts::default());
        }
        self.threads.get_mut(i)
    }

    /// Empties the interval at `now`, returning it with each thread's
    /// counts (a request in progress gives its busy time so far to this
    /// interval, and the rest to the next).
    pub fn drain(&mut self, now: i64) -> (Interval, Vec<ThreadCounts>) {
        let interval = std::mem::replace(&mut self.interval, Interval::EMPTY);
        let mut threads = Vec::with_capacity(self.threads.len());
        for t in &mut self.threads {
            if t.started != 0 {
                t.busy_us += (now - t.busy_since).max(0) as u64;
                t.busy_since = now;
            }
            threads.push(*t);
            t.completed = 0;
            t.busy_us = 0;
            t.cpu_us = 0;
            t.max_duration_us = 0;
        }
        (interval, threads)
    }
}

/// Runs `f` on the process's accounting.
pub fn with<R>(f: impl FnOnce(&mut Process) -> R) -> R {
    f(&mut PROCESS.lock())
}

/// Sets what the process is (once per interpreter: the first call
/// decides the start time).
pub fn configure(now: i64, threads_maximum: usize, daemon: bool) {
    with(|p| {
        if p.started == 0 {
            p.started = now;
        }
        p.threads_maximum = threads_maximum.max(1);
        p.daemon = daemon;
    });
}

/// A request is starting on thread `thread_id` at `now`.
pub fn request_begin(thread_id: u64, now: i64) {
    with(|p| {
        p.utilization(now, 1);
        if let Some(t) = p.thread(thread_id) {
            t.request_count += 1;
            t.busy_since = now;
            t.started = now;
        }
    });
}

/// A request has ended: folds its statistics in.
pub fn request_end(s: &RequestStats, now: i64) {
    with(|p| {
        if let Some(t) = p.thread(s.thread_id) {
            if t.started != 0 {
                t.busy_us += (now - t.busy_since).max(0) as u64;
                t.max_duration_us = t.max_duration_us.max((now - t.started).max(0) as u64);
                t.completed += 1;
                t.cpu_us += s.cpu_user + s.cpu_system;
            }
            t.started = 0;
            t.busy_since = 0;
        }
        if p.recording.is_some() {
            let daemon = p.daemon;
            p.interval.record(s, daemon);
        }
        p.utilization(now, -1);
    });
}
