//! Anonymous shared memory made by the Apache parent: one `MAP_SHARED`
//! mapping that every process forked afterwards (Apache children, daemon
//! supervisors and their daemon processes) inherits at the same address.
//! It is seen as a slice of `AtomicU64` words, so the layers above read
//! and write it without `unsafe` and without a lock. It is never
//! unmapped: a graceful restart keeps it (the parent finds it again in
//! the userdata of httpd's process-lifetime pool), and children keep
//! their inherited copy until they exit.

use std::sync::atomic::AtomicU64;

/// A mapping of zeroed `u64` words, alive for the rest of the process.
pub struct Region {
    words: &'static [AtomicU64],
}

impl Region {
    /// Maps `words` zeroed words shared with every process forked later;
    /// `None` when the system refuses.
    pub fn create(words: usize) -> Option<Region> {
        let len = words.checked_mul(8)?.max(8);
        // SAFETY: an anonymous mapping with no address hint; the result
        // is checked for MAP_FAILED before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: p is a fresh, page-aligned (so 8-byte aligned) mapping
        // of len bytes, zero-filled by the kernel; every bit pattern is a
        // valid AtomicU64; it is never unmapped, so 'static holds; all
        // access goes through atomics, so other processes writing it
        // concurrently is no data race.
        let words = unsafe { std::slice::from_raw_parts(p.cast::<AtomicU64>(), len / 8) };
        Some(Region { words })
    }

    /// The mapping's words.
    pub fn words(&self) -> &'static [AtomicU64] {
        self.words
    }
}

/// True while process `pid` exists (a zombie not yet reaped counts; a
/// process of another user counts too).
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Clock ticks per second, the unit of CPU times in `/proc/<pid>/stat`.
pub fn clock_ticks() -> u64 {
    sysconf(libc::_SC_CLK_TCK, 100)
}

/// The system's page size, the unit of `/proc/<pid>/statm`.
pub fn page_size() -> u64 {
    sysconf(libc::_SC_PAGESIZE, 4096)
}

fn sysconf(name: libc::c_int, fallback: u64) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(name) };
    if v > 0 {
        v as u64
    } else {
        fallback
    }
}
