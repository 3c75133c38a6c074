//! Apache's scoreboard: the shared memory in which the MPM and its
//! children keep one record per process slot and per worker thread (what
//! mod_status shows). This module copies it into plain Rust values for
//! `mod_wsgi.server_metrics()`, and can create it before the MPM runs so
//! that daemon processes forked in post_config inherit it. It knows
//! nothing of Python.
//!
//! The records are written by other processes while they are read, with
//! no lock (httpd's own readers do the same), so each record is copied
//! with a volatile read and its strings are read only up to the size of
//! their arrays: a copy may mix an old and a new value, but never reads
//! outside the record.

use std::os::raw::c_char;
use std::ptr;

use super::server::Server;
use crate::ffi;

/// One worker (thread) slot of a process slot.
#[derive(Clone, Debug, PartialEq)]
pub struct Worker {
    pub thread_num: i32,
    pub generation: i32,
    /// The status letter mod_status shows (`_`, `W`, `.`, ...).
    pub status: char,
    pub access_count: u64,
    pub bytes_served: u64,
    /// Microseconds since the epoch (0: never).
    pub start_time: i64,
    pub stop_time: i64,
    pub last_used: i64,
    /// Only filled in with `ExtendedStatus On` (the default when
    /// mod_status is loaded), like `request` and `vhost`.
    pub client: String,
    pub request: String,
    pub vhost: String,
}

/// One process slot.
#[derive(Clone, Debug, PartialEq)]
pub struct Process {
    pub process_num: i32,
    pub pid: i32,
    pub generation: i32,
    pub quiescing: bool,
    pub workers: Vec<Worker>,
}

/// A copy of the whole scoreboard.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub server_limit: i32,
    pub thread_limit: i32,
    pub running_generation: i32,
    /// Microseconds since the epoch.
    pub restart_time: i64,
    /// When the copy was taken, microseconds since the epoch.
    pub current_time: i64,
    pub processes: Vec<Process>,
}

/// True when this process can see a scoreboard: an Apache child, the
/// parent once the MPM has run (or [`create_early`] did), and a process
/// forked from the parent after that.
pub fn exists() -> bool {
    // SAFETY: only reads httpd's scoreboard pointer.
    unsafe { ffi::ap_exists_scoreboard_image() != 0 }
}

/// The letter mod_status uses for a worker status (`?` for a value this
/// httpd version does not define).
pub fn status_letter(status: u8) -> char {
    match i32::from(status) {
        ffi::SERVER_DEAD => '.',
        ffi::SERVER_READY => '_',
        ffi::SERVER_STARTING => 'S',
        ffi::SERVER_BUSY_READ => 'R',
        ffi::SERVER_BUSY_WRITE => 'W',
        ffi::SERVER_BUSY_KEEPALIVE => 'K',
        ffi::SERVER_BUSY_LOG => 'L',
        ffi::SERVER_BUSY_DNS => 'D',
        ffi::SERVER_CLOSING => 'C',
        ffi::SERVER_GRACEFUL => 'G',
        ffi::SERVER_IDLE_KILL => 'I',
        _ => '?',
    }
}

/// A fixed-size string field: up to the first NUL or the end of the
/// array, whichever comes first, decoded as lossy UTF-8.
fn text(field: &[c_char]) -> String {
    let bytes: Vec<u8> = field
        .iter()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

// `unsigned long` is 64 bits here but 32 bits on other targets.
#[allow(clippy::useless_conversion)]
fn worker(w: &ffi::worker_score) -> Worker {
    Worker {
        thread_num: w.thread_num,
        generation: w.generation,
        status: status_letter(w.status),
        access_count: u64::from(w.access_count),
        bytes_served: w.bytes_served.max(0) as u64,
        start_time: w.start_time,
        stop_time: w.stop_time,
        last_used: w.last_used,
        client: text(&w.client),
        request: text(&w.request),
        vhost: text(&w.vhost),
    }
}

/// Copies the scoreboard, or `None` when this process has none.
pub fn snapshot() -> Option<Snapshot> {
    if !exists() {
        return None;
    }
    // SAFETY: the image exists, so its global record is mapped in this
    // process for the rest of its life (httpd never unmaps it while the
    // process runs).
    let global = unsafe { ffi::ap_get_scoreboard_global() };
    if global.is_null() {
        return None;
    }
    // SAFETY: global points to a live global_score; a volatile copy
    // because other processes write it.
    let g = unsafe { ptr::read_volatile(global) };
    // SAFETY: apr_time_now has no preconditions.
    let current_time = unsafe { ffi::apr_time_now() };
    let mut processes = Vec::with_capacity(g.server_limit.max(0) as usize);
    for i in 0..g.server_limit.max(0) {
        // SAFETY: httpd checks the index against the image's limits and
        // returns null when it is out of range.
        let ps = unsafe { ffi::ap_get_scoreboard_process(i) };
        if ps.is_null() {
            break;
        }
        // SAFETY: ps points to a live process_score (volatile: shared).
        let p = unsafe { ptr::read_volatile(ps) };
        let mut workers = Vec::with_capacity(g.thread_limit.max(0) as usize);
        for j in 0..g.thread_limit.max(0) {
            // SAFETY: as for the process slot: bounds-checked by httpd.
            let ws = unsafe { ffi::ap_get_scoreboard_worker_from_indexes(i, j) };
            if ws.is_null() {
                break;
            }
            // SAFETY: ws points to a live worker_score (volatile: shared).
            workers.push(worker(&unsafe { ptr::read_volatile(ws) }));
        }
        processes.push(Process {
            process_num: i,
            pid: p.pid,
            generation: p.generation,
            quiescing: p.quiescing != 0,
            workers,
        });
    }
    Some(Snapshot {
        server_limit: g.server_limit,
        thread_limit: g.thread_limit,
        running_generation: g.running_generation,
        restart_time: g.restart_time,
        current_time,
        processes,
    })
}

/// Creates the scoreboard in the Apache parent if it does not exist yet.
///
/// httpd creates it in the `pre_mpm` hook, which at the first start runs
/// after post_config, where the daemon supervisors are forked; after
/// that it keeps the same shared mapping for the parent's whole life and
/// only resets it (core's `pre_mpm` finds it and clears its records). So
/// creating it here, exactly as core would (shared, in the process pool
/// the MPMs pass to `pre_mpm`), lets processes forked now see the same
/// scoreboard as the Apache children forked later. Call only from the
/// parent's post_config (the real pass, not the pre-flight one), when the
/// MPM's limits are known.
pub fn create_early(s: Server) -> Result<(), String> {
    if exists() {
        return Ok(());
    }
    // SAFETY: s is the live main server; its process_rec and that
    // record's pool live as long as the httpd process.
    let pool = unsafe { (*(*s.as_ptr()).process).pool };
    // SAFETY: called in the single-threaded parent during post_config,
    // with the pool and type httpd's MPMs use for the same call.
    let rc = unsafe { ffi::ap_create_scoreboard(pool, ffi::ap_scoreboard_e_SB_SHARED) };
    if rc == ffi::OK && exists() {
        Ok(())
    } else {
        Err(format!("ap_create_scoreboard returned {rc}"))
    }
}
