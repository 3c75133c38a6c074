//! Ending a group's supervisor with its configuration generation,
//! without leaving anything behind. On a graceful or full restart the
//! old supervisor drains its daemons while the new generation serves; it
//! stays registered with the MPM (on httpd's process-lifetime pool) until
//! it is reaped, so its exit is not reported as `AH00488: long lost
//! child came home!`. On `apache2 -k stop` the parent waits for it (its
//! daemons are gone once it is) and removes the group socket, so nothing
//! of daemon mode outlives Apache.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::apache::process::Supervised;
use crate::apache::Pool;

/// Tells the supervisor `pid` to drain (SIGTERM) and, depending on why
/// the generation ends, keeps watching it or waits for it.
pub fn retire(global: Pool, pid: i32, socket: &Path, exiting: bool, wait: Duration) {
    // SAFETY: signals our own supervisor process.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    if !exiting {
        // Reaped later by the MPM's maintenance: a known child, no restart.
        Supervised::register(global, pid, Box::new(|_| None));
        return;
    }
    if !wait_for_exit(pid, wait) {
        // Still draining past shutdown-timeout: end its daemons and it.
        for daemon in children_of(pid) {
            // SAFETY: signals a daemon process forked by our supervisor.
            unsafe { libc::kill(daemon, libc::SIGKILL) };
        }
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        wait_for_exit(pid, Duration::from_secs(1));
    }
    let _ = std::fs::remove_file(socket);
}

/// Reaps `pid`, waiting at most `wait`; false if it is still running.
fn wait_for_exit(pid: i32, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        let mut status = 0;
        // SAFETY: waits for our own child without blocking.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid || r < 0 {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The processes whose parent is `pid` (from `/proc/*/stat`).
fn children_of(pid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            // "pid (comm) state ppid ...": comm may hold spaces, so
            // fields are counted after the last ')'.
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            after.split_whitespace().nth(1).and_then(|x| x.parse().ok()) == Some(pid)
        })
        .collect()
}
