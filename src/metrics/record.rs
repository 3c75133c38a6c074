//! The writing side, in each Apache child and daemon process: claim a
//! slot once, then per request a few relaxed atomic adds on that slot
//! (no lock, no system call, no allocation). The slot is process
//! state, kept in a static for the life of the process; the shared
//! memory itself is found through the process pool's userdata.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::OnceLock;

use super::layout::{self, Layout, Reason, ENTRIES, NAME_WORDS, URL_WORDS};
use super::layout::{E_ACTIVE, E_APP_GROUP, E_HIST, E_PROCESS_GROUP, E_STATE, E_STATUS};
use super::layout::{HIST_WORDS, H_DURATION, H_GIL, H_QUEUE};
use super::layout::{S_BUSY, S_EXIT_PENDING, S_GROUP, S_INTERPRETERS, S_KIND, S_LAST_REASON};
use super::layout::{S_PID, S_REQUESTS, S_RESTARTS, S_STARTED};
use super::layout::{T_METHOD, T_OWNER, T_SEQ, T_START, T_THREAD, T_URL};
use crate::apache::shm::pid_alive;

/// The slot this process records into.
#[derive(Clone, Copy)]
struct Mine {
    layout: Layout,
    slot: usize,
    /// Tells this process's thread-local entries from those a forked
    /// process inherited (pid and a per-claim count).
    token: u64,
}

/// Set once, when the process claims its slot (child_init, or a daemon
/// process's start); describes the process, like the other statics.
static MINE: OnceLock<Mine> = OnceLock::new();
static THREADS_SEEN: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// (token, thread entry + 1) of this thread in this process's slot.
    static THREAD: Cell<(u64, usize)> = const { Cell::new((0, 0)) };
}

/// One finished request, as the recording call needs it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample<'a> {
    pub process_group: &'a str,
    pub application_group: &'a str,
    /// The HTTP status sent (0 when none was).
    pub status: u16,
    /// From Apache's request start to the end (µs).
    pub duration_us: u64,
    /// Daemon mode: from the Apache child's send to the daemon's accept.
    pub queue_wait_us: u64,
    /// Waiting for the GIL (0 until measured).
    pub gil_wait_us: u64,
}

pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Claims a slot for this process (`kind`: Apache child or daemon
/// process of `group`). Prefers a free slot last used by the same kind
/// and group, so the restart counters keep their label; then one never
/// used; then any free one.
pub fn claim(layout: Layout, kind: u64, group: &str) -> bool {
    if MINE.get().is_some() {
        return true;
    }
    let me = std::process::id() as u64;
    let name = layout::pack::<NAME_WORDS>(group.as_bytes());
    let same = |s: usize| {
        layout.slot(s, S_KIND).load(Relaxed) == kind
            && layout::equals(layout.run(layout.slot(s, S_GROUP), NAME_WORDS), &name)
    };
    let unused = |s: usize| layout.slot(s, S_KIND).load(Relaxed) == 0;
    let passes: [&dyn Fn(usize) -> bool; 3] = [&same, &unused, &|_| true];
    for pass in passes {
        for s in (0..layout.slots()).filter(|&s| pass(s)) {
            let pid = layout.slot(s, S_PID);
            let old = pid.load(Relaxed);
            if (old == 0 || !pid_alive(old as i32))
                && pid.compare_exchange(old, me, AcqRel, Relaxed).is_ok()
            {
                take_over(layout, s, kind, &name);
                let token = (me << 20) ^ THREADS_SEEN.fetch_add(1, Relaxed);
                let _ = MINE.set(Mine {
                    layout,
                    slot: s,
                    token,
                });
                return true;
            }
        }
    }
    layout.dropped().fetch_add(1, Relaxed);
    false
}

/// Makes a claimed slot this process's: its identity, and the gauges a
/// dead previous owner may have left up.
fn take_over(l: Layout, s: usize, kind: u64, name: &[u64; NAME_WORDS]) {
    if !(l.slot(s, S_KIND).load(Relaxed) == kind
        && layout::equals(l.run(l.slot(s, S_GROUP), NAME_WORDS), name))
    {
        // A slot moving to another group starts its restarts afresh.
        for r in Reason::ALL {
            l.slot(s, S_RESTARTS + r.code() as usize - 1)
                .store(0, Relaxed);
        }
        l.slot(s, S_LAST_REASON).store(0, Relaxed);
    }
    l.slot(s, S_KIND).store(kind, Relaxed);
    layout::store(l.run(l.slot(s, S_GROUP), NAME_WORDS), name);
    l.slot(s, S_STARTED).store(now_us(), Relaxed);
    l.slot(s, S_EXIT_PENDING).store(0, Relaxed);
    l.slot(s, S_BUSY).store(0, Relaxed);
    l.slot(s, S_INTERPRETERS).store(0, Relaxed);
    for e in 0..ENTRIES {
        l.entry(s, e, E_ACTIVE).store(0, Relaxed);
    }
    for t in 0..l.threads() {
        l.thread(s, t, T_OWNER).store(0, Relaxed);
        l.thread(s, t, T_START).store(0, Relaxed);
    }
}

/// Gives the slot back when an Apache child exits (its counters stay).
pub fn release() {
    if let Some(m) = MINE.get() {
        let me = std::process::id() as u64;
        let _ = m
            .layout
            .slot(m.slot, S_PID)
            .compare_exchange(me, 0, AcqRel, Relaxed);
    }
}

/// A daemon process says why it is about to exit (the first reason
/// wins); the supervisor counts it when it reaps the process.
pub fn note_exit(reason: Reason) {
    if let Some(m) = MINE.get() {
        let w = m.layout.slot(m.slot, S_EXIT_PENDING);
        let _ = w.compare_exchange(0, reason.code(), Relaxed, Relaxed);
    }
}

/// The supervisor reaped daemon process `pid` (`status` from
/// `waitpid`): counts its restart under the reason it gave, or the one
/// its exit status shows, and frees its slot.
pub fn reaped(layout: Layout, pid: i32, status: i32) {
    let Some(s) = (0..layout.slots()).find(|&s| layout.slot(s, S_PID).load(Relaxed) == pid as u64)
    else {
        return;
    };
    let given = Reason::from_code(layout.slot(s, S_EXIT_PENDING).swap(0, Relaxed));
    let reason = given.unwrap_or_else(|| from_status(status));
    layout
        .slot(s, S_RESTARTS + reason.code() as usize - 1)
        .fetch_add(1, Relaxed);
    layout.slot(s, S_LAST_REASON).store(reason.code(), Relaxed);
    layout.slot(s, S_PID).store(0, Release);
}

fn from_status(status: i32) -> Reason {
    if libc::WIFSIGNALED(status) {
        match libc::WTERMSIG(status) {
            libc::SIGSEGV | libc::SIGBUS | libc::SIGABRT | libc::SIGILL | libc::SIGFPE => {
                Reason::Crash
            }
            _ => Reason::Signal,
        }
    } else {
        Reason::Crash
    }
}

/// How many Python interpreters this process runs now.
pub fn set_interpreters(n: usize) {
    if let Some(m) = MINE.get() {
        m.layout
            .slot(m.slot, S_INTERPRETERS)
            .store(n as u64, Relaxed);
    }
}

/// The label entry for (process group, application group) in this
/// process's slot, named on first use.
fn entry(m: &Mine, pg: &str, ag: &str) -> Option<usize> {
    let l = m.layout;
    let pgw = layout::pack::<NAME_WORDS>(pg.as_bytes());
    let agw = layout::pack::<NAME_WORDS>(ag.as_bytes());
    let named = |e: usize| {
        layout::equals(l.run(l.entry(m.slot, e, E_PROCESS_GROUP), NAME_WORDS), &pgw)
            && layout::equals(l.run(l.entry(m.slot, e, E_APP_GROUP), NAME_WORDS), &agw)
    };
    for e in 0..ENTRIES {
        let state = l.entry(m.slot, e, E_STATE);
        match state.load(Acquire) {
            2 if named(e) => return Some(e),
            2 | 1 => continue,
            _ => {
                if state.compare_exchange(0, 1, Acquire, Relaxed).is_ok() {
                    layout::store(l.run(l.entry(m.slot, e, E_PROCESS_GROUP), NAME_WORDS), &pgw);
                    layout::store(l.run(l.entry(m.slot, e, E_APP_GROUP), NAME_WORDS), &agw);
                    state.store(2, Release);
                    return Some(e);
                }
            }
        }
    }
    l.dropped().fetch_add(1, Relaxed);
    None
}

/// This thread's entry in the slot's thread table, claimed on first use.
fn thread_entry(m: &Mine) -> Option<usize> {
    let (token, idx) = THREAD.with(Cell::get);
    if token == m.token && idx > 0 {
        return Some(idx - 1);
    }
    let id = THREADS_SEEN.fetch_add(1, Relaxed) + 1;
    let found = (0..m.layout.threads()).find(|&t| {
        m.layout
            .thread(m.slot, t, T_OWNER)
            .compare_exchange(0, id, Relaxed, Relaxed)
            .is_ok()
    });
    if let Some(t) = found {
        THREAD.with(|c| c.set((m.token, t + 1)));
    }
    found
}

/// A request running in this process, from [`begin`] to
/// [`InFlight::finish`] (or its drop).
pub struct InFlight {
    mine: Option<Mine>,
    /// The label entry whose active gauge was raised (embedded mode).
    active: Option<usize>,
    thread: Option<usize>,
}

/// A request starts running its application in this process:
/// `count_active` where no Apache child counted it already (embedded
/// mode). Shows it on the status page as the thread's current request.
pub fn begin(
    pg: &str,
    ag: &str,
    method: &[u8],
    uri: &[u8],
    thread_id: u64,
    count_active: bool,
) -> InFlight {
    let Some(m) = MINE.get().copied() else {
        return InFlight {
            mine: None,
            active: None,
            thread: None,
        };
    };
    let l = m.layout;
    l.slot(m.slot, S_BUSY).fetch_add(1, Relaxed);
    let active = count_active.then(|| entry(&m, pg, ag)).flatten();
    if let Some(e) = active {
        l.entry(m.slot, e, E_ACTIVE).fetch_add(1, Relaxed);
    }
    let thread = thread_entry(&m);
    if let Some(t) = thread {
        let seq = l.thread(m.slot, t, T_SEQ);
        seq.fetch_add(1, AcqRel);
        l.thread(m.slot, t, T_THREAD).store(thread_id, Relaxed);
        l.thread(m.slot, t, T_METHOD)
            .store(layout::pack::<1>(method)[0], Relaxed);
        let url = layout::pack::<URL_WORDS>(uri);
        layout::store(l.run(l.thread(m.slot, t, T_URL), URL_WORDS), &url);
        l.thread(m.slot, t, T_START).store(now_us().max(1), Relaxed);
        seq.fetch_add(1, Release);
    }
    InFlight {
        mine: Some(m),
        active,
        thread,
    }
}

impl InFlight {
    /// Records the finished request and lowers the gauges.
    pub fn finish(self, s: &Sample<'_>) {
        let Some(m) = self.mine else {
            return;
        };
        let l = m.layout;
        l.slot(m.slot, S_REQUESTS).fetch_add(1, Relaxed);
        let Some(e) = entry(&m, s.process_group, s.application_group) else {
            return;
        };
        let class = layout::status_class(s.status);
        l.entry(m.slot, e, E_STATUS + class).fetch_add(1, Relaxed);
        let hist = |h: usize, us: u64| {
            let base = E_HIST + h * HIST_WORDS;
            l.entry(m.slot, e, base + layout::bucket(us))
                .fetch_add(1, Relaxed);
            l.entry(m.slot, e, base + layout::BUCKETS)
                .fetch_add(us, Relaxed);
            l.entry(m.slot, e, base + layout::BUCKETS + 1)
                .fetch_add(1, Relaxed);
        };
        hist(H_DURATION, s.duration_us);
        hist(H_QUEUE, s.queue_wait_us);
        hist(H_GIL, s.gil_wait_us);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let Some(m) = self.mine else {
            return;
        };
        let l = m.layout;
        l.slot(m.slot, S_BUSY).fetch_sub(1, Relaxed);
        if let Some(e) = self.active {
            l.entry(m.slot, e, E_ACTIVE).fetch_sub(1, Relaxed);
        }
        if let Some(t) = self.thread {
            let seq = l.thread(m.slot, t, T_SEQ);
            seq.fetch_add(1, AcqRel);
            l.thread(m.slot, t, T_START).store(0, Relaxed);
            seq.fetch_add(1, Release);
        }
    }
}

/// An Apache child relaying a request to a daemon group: the request is
/// active for that group until this is dropped.
pub struct Proxied {
    mine: Option<(Mine, usize)>,
}

pub fn begin_proxy(pg: &str, ag: &str) -> Proxied {
    let mine = MINE.get().and_then(|m| entry(m, pg, ag).map(|e| (*m, e)));
    if let Some((m, e)) = mine {
        m.layout.entry(m.slot, e, E_ACTIVE).fetch_add(1, Relaxed);
    }
    Proxied { mine }
}

impl Drop for Proxied {
    fn drop(&mut self) {
        if let Some((m, e)) = self.mine {
            m.layout.entry(m.slot, e, E_ACTIVE).fetch_sub(1, Relaxed);
        }
    }
}
