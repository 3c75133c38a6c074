//! Named locks across processes and threads: by default an exclusive
//! `flock` on a per-name file of this machine (a lock on a Redis cache's
//! server is `redis_lock.rs`). Each acquisition opens the file anew, so two threads of
//! one process exclude each other as two processes do (`flock` belongs to
//! the open file description), and the kernel releases the lock when its
//! holder closes the file or dies, `kill -9` included.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::Error;

/// A held lock; dropping it (closing the file, or deleting the Redis
/// key) releases it.
pub enum NamedLock {
    File(File),
    Redis(super::redis_lock::RedisLock),
}

/// Lock names are 1 to 200 bytes, wherever the lock lives.
pub(super) fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.len() > 200 {
        return Err(Error::BadKey(format!(
            "a lock name must be 1 to 200 bytes (got {})",
            name.len()
        )));
    }
    Ok(())
}

/// The file name of a lock: safe bytes kept, the others as `%XX`.
fn file_name(name: &str) -> Result<String, Error> {
    check_name(name)?;
    let mut out = String::from("lock-");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

fn flock(file: &File, blocking: bool) -> std::io::Result<bool> {
    let op = libc::LOCK_EX | if blocking { 0 } else { libc::LOCK_NB };
    loop {
        // SAFETY: flock on a descriptor this File owns; no memory involved.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) if !blocking => return Ok(false),
            _ => return Err(e),
        }
    }
}

/// Acquires the lock `name` in `dir`, waiting at most `timeout` (None:
/// as long as it takes).
pub fn acquire(dir: &Path, name: &str, timeout: Option<Duration>) -> Result<NamedLock, Error> {
    let path = dir.join(file_name(name)?);
    let file = OpenOptions::new()
        .read(true)
        .create(true)
        .append(true)
        .mode(0o660)
        .open(&path)
        .map_err(|e| {
            Error::Io(format!(
                "cannot open the lock file '{}': {e}",
                path.display()
            ))
        })?;
    let fail = |e: std::io::Error| Error::Io(format!("cannot lock '{}': {e}", path.display()));
    let Some(timeout) = timeout else {
        flock(&file, true).map_err(fail)?;
        return Ok(NamedLock::File(file));
    };
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_micros(200);
    loop {
        if flock(&file, false).map_err(fail)? {
            return Ok(NamedLock::File(file));
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Timeout(format!(
                "lock '{name}' not acquired within {:.3} s",
                timeout.as_secs_f64()
            )));
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}
