//! Shared state across the processes of one server (`WSGISharedCache`,
//! `mod_wsgi_rs.lock`): the storage itself, with no Python. A cache is an
//! LMDB environment (a memory-mapped file, multi-process safe, crash
//! safe) opened lazily by each process that uses it, after fork; a named
//! lock is an `flock` on a per-name file, released by the kernel when its
//! holder dies, or, asked for on a Redis cache, a leased key on that
//! server. `registry` keeps what this process may open (set once in
//! each child) and what it has opened; `perm` prepares the files in the
//! parent so that exactly the users of the server's processes can open
//! them. See docs/shared-state.md.

mod cache;
mod lmdb;
mod lock;
pub mod perm;
mod record;
mod redis;
mod redis_lock;
mod registry;

pub use cache::Cache;
pub use lmdb::{Lmdb, Stats};
pub use lock::NamedLock;
pub use record::now_ms;
pub use registry::{configure, lock, lock_scope, open, Plan};

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The store reached its `size=` limit even after dropping expired
    /// entries; nothing was written.
    Full(String),
    /// No `WSGISharedCache` of that name.
    Unknown(String),
    /// A key that LMDB cannot store (empty, or longer than 511 bytes).
    BadKey(String),
    /// `incr` on a value that is not a decimal integer, or overflowing.
    NotANumber(String),
    /// A lock was not acquired within its timeout.
    Timeout(String),
    /// The store could not be opened or read (the message says why).
    Io(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Full(m)
            | Error::Unknown(m)
            | Error::BadKey(m)
            | Error::NotANumber(m)
            | Error::Timeout(m)
            | Error::Io(m) => f.write_str(m),
        }
    }
}

/// LMDB's largest key (its default build), kept for Redis too so that
/// code moves between the two unchanged.
const MAX_KEY: usize = 511;

fn check_key(key: &[u8]) -> Result<(), Error> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(Error::BadKey(format!(
            "a cache key must be 1 to {MAX_KEY} bytes (got {})",
            key.len()
        )));
    }
    Ok(())
}
