//! Metrics shared across processes: every Apache child and daemon
//! process records its requests in one shared memory created by the
//! Apache parent, so a single scrape (`SetHandler wsgi-metrics`, the
//! Prometheus text format) or a look at the status page
//! (`SetHandler wsgi-status`) sees the whole server. No Python here.
//!
//! - [`layout`]: where each counter sits (fixed sizes, decided from the
//!   configuration; nothing grows with traffic);
//! - [`record`]: a process's slot and the per-request recording (relaxed
//!   atomics, no lock);
//! - [`read`]: the sums and copies a reader takes;
//! - [`prom`] and [`status`]: the two outputs.
//!
//! The memory is made in post_config and hangs in the userdata of
//! httpd's process-lifetime pool, so a graceful restart finds and keeps
//! it (a new one is made only when the configuration needs more room);
//! children and daemon processes inherit it by fork.

#![forbid(unsafe_code)]

pub mod layout;
pub mod prom;
pub mod read;
pub mod record;
pub mod status;

use std::ffi::CStr;
use std::sync::Arc;

use crate::apache::server;
use crate::apache::shm::Region;
use crate::config::daemon::DaemonGroup;
pub use layout::Reason;
use layout::{Layout, KIND_CHILD, KIND_DAEMON};
pub use record::{begin, begin_proxy, note_exit, set_interpreters, InFlight, Proxied, Sample};

/// The process pool's userdata key of the shared memory.
const KEY: &CStr = c"mod_wsgi_rs.metrics";
/// At most this many current-request entries per process.
const MAX_THREADS: usize = 512;

/// The layout this server's processes share, if the parent made one.
fn layout_of(s: server::Server) -> Option<Layout> {
    if s.as_ptr().is_null() {
        return None;
    }
    let region = s.global_pool().shared::<Region>(KEY)?;
    Layout::open(region.words())
}

/// How many slots and thread entries the configuration needs: a slot
/// per Apache child (`ServerLimit`), two per daemon process (a
/// recycling process drains while its replacement starts), a few spare.
fn sizes(groups: &[Arc<DaemonGroup>]) -> (usize, usize) {
    let mut slots = server::mpm_query(crate::ffi::AP_MPMQ_HARD_LIMIT_DAEMONS).max(1) as usize;
    let mut threads = server::mpm_threads_per_child().max(1) as usize;
    for g in groups {
        slots += 2 * g.processes.max(1) as usize;
        threads = threads.max(g.threads as usize);
    }
    (slots + 4, threads.min(MAX_THREADS))
}

/// post_config, in the parent: makes the shared memory for the daemon
/// `groups` of the configuration, or keeps the one an earlier
/// generation made when it is large enough.
pub fn prepare(main: server::Server, groups: &[Arc<DaemonGroup>]) -> Result<(), String> {
    let (slots, threads) = sizes(groups);
    if let Some(l) = layout_of(main) {
        if l.slots() >= slots && l.threads() >= threads {
            return Ok(());
        }
    }
    let region = Region::create(layout::words_for(slots, threads)).ok_or_else(|| {
        format!("[WSGI-RS-E801] cannot create the shared memory for metrics ({slots} process slots of {threads} threads): {}", std::io::Error::last_os_error())
    })?;
    Layout::init(region.words(), slots, threads)
        .ok_or("[WSGI-RS-E801] the shared memory for metrics is too small")?;
    main.global_pool().set_shared(KEY, Arc::new(region));
    Ok(())
}

/// child_init: this Apache child takes a slot.
pub fn attach_child(main: server::Server) {
    if let Some(l) = layout_of(main) {
        record::claim(l, KIND_CHILD, "");
    }
}

/// A daemon process of `group` takes a slot at its start.
pub fn attach_daemon(main: server::Server, group: &str) {
    if let Some(l) = layout_of(main) {
        record::claim(l, KIND_DAEMON, group);
    }
}

/// An Apache child exits: its slot is free again (its counts stay).
pub fn detach() {
    record::release();
}

/// The supervisor reaped daemon process `pid`.
pub fn reaped(main: server::Server, pid: i32, status: i32) {
    if let Some(l) = layout_of(main) {
        record::reaped(l, pid, status);
    }
}

/// A reading of every process, or `None` without shared memory.
pub fn snapshot(main: server::Server) -> Option<read::Snapshot> {
    layout_of(main).map(|l| read::snapshot(l, record::now_us()))
}
