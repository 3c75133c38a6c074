//! The reading side: sums the slots into per-label totals, and copies
//! the processes and their current requests, for the Prometheus
//! endpoint and the status page. A scrape reads while processes write;
//! a current request is copied only when its entry did not change while
//! it was read (a sequence word, odd while written).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::*;

use super::layout::{self, Layout, Reason, BUCKETS, ENTRIES, HISTOGRAMS, HIST_WORDS};
use super::layout::{E_ACTIVE, E_APP_GROUP, E_HIST, E_PROCESS_GROUP, E_STATE, E_STATUS};
use super::layout::{KIND_CHILD, KIND_DAEMON, NAME_WORDS, STATUS_CLASSES, URL_WORDS};
use super::layout::{S_BUSY, S_GROUP, S_INTERPRETERS, S_KIND, S_LAST_REASON, S_PID};
use super::layout::{S_REQUESTS, S_RESTARTS, S_STARTED};
use super::layout::{T_METHOD, T_SEQ, T_START, T_THREAD, T_URL};
use crate::apache::shm::{clock_ticks, page_size, pid_alive};

/// A histogram's totals: buckets (not cumulative), sum (µs), count.
#[derive(Clone, Debug, Default)]
pub struct Hist {
    pub buckets: [u64; BUCKETS],
    pub sum_us: u64,
    pub count: u64,
}

/// Totals for one (process group, application group).
#[derive(Clone, Debug, Default)]
pub struct Labelled {
    pub status: [u64; STATUS_CLASSES],
    pub active: i64,
    pub hists: [Hist; HISTOGRAMS],
}

/// A request running now.
#[derive(Clone, Debug)]
pub struct Current {
    pub method: String,
    pub url: String,
    pub thread: u64,
    pub age_us: u64,
}

/// A live process with a slot.
#[derive(Clone, Debug)]
pub struct Proc {
    pub pid: i32,
    pub daemon: bool,
    pub uptime_us: u64,
    pub requests: u64,
    pub busy: i64,
    pub interpreters: u64,
    pub rss_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub last_reason: Option<Reason>,
    /// Longest-running first.
    pub current: Vec<Current>,
}

/// One group's processes and restart counts (embedded children are the
/// group named "").
#[derive(Clone, Debug, Default)]
pub struct Group {
    pub procs: Vec<Proc>,
    pub restarts: [u64; Reason::ALL.len()],
    pub daemon: bool,
}

/// Everything one reading sees.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub labelled: BTreeMap<(String, String), Labelled>,
    pub groups: BTreeMap<String, Group>,
    pub dropped: u64,
    pub slots: usize,
}

fn text(words: &[std::sync::atomic::AtomicU64]) -> String {
    String::from_utf8_lossy(&layout::unpack(words)).into_owned()
}

/// Reads every slot; `now_us` is the reading's time.
pub fn snapshot(l: Layout, now_us: u64) -> Snapshot {
    let mut snap = Snapshot {
        dropped: l.dropped().load(Relaxed),
        slots: l.slots(),
        ..Snapshot::default()
    };
    for s in 0..l.slots() {
        let kind = l.slot(s, S_KIND).load(Relaxed);
        if kind == 0 {
            continue;
        }
        let pid = l.slot(s, S_PID).load(Acquire) as i32;
        let alive = pid != 0 && pid_alive(pid);
        read_entries(l, s, alive, &mut snap.labelled);
        let group = text(l.run(l.slot(s, S_GROUP), NAME_WORDS));
        let g = snap.groups.entry(group).or_default();
        g.daemon = kind == KIND_DAEMON;
        for r in Reason::ALL {
            let code = r.code() as usize;
            g.restarts[code - 1] += l.slot(s, S_RESTARTS + code - 1).load(Relaxed);
        }
        if !alive {
            continue;
        }
        g.procs.push(process(l, s, pid, kind, now_us));
    }
    for g in snap.groups.values_mut() {
        g.procs.sort_by_key(|p| p.pid);
    }
    snap
}

/// Adds slot `s`'s label entries to `out`; its gauges only while its
/// process lives (a process that died mid-request left them up).
fn read_entries(l: Layout, s: usize, alive: bool, out: &mut BTreeMap<(String, String), Labelled>) {
    for e in 0..ENTRIES {
        if l.entry(s, e, E_STATE).load(Acquire) != 2 {
            continue;
        }
        let key = (
            text(l.run(l.entry(s, e, E_PROCESS_GROUP), NAME_WORDS)),
            text(l.run(l.entry(s, e, E_APP_GROUP), NAME_WORDS)),
        );
        let t = out.entry(key).or_default();
        for (c, v) in t.status.iter_mut().enumerate() {
            *v += l.entry(s, e, E_STATUS + c).load(Relaxed);
        }
        if alive {
            t.active += l.entry(s, e, E_ACTIVE).load(Relaxed) as i64;
        }
        for (h, hist) in t.hists.iter_mut().enumerate() {
            let base = E_HIST + h * HIST_WORDS;
            for (b, v) in hist.buckets.iter_mut().enumerate() {
                *v += l.entry(s, e, base + b).load(Relaxed);
            }
            hist.sum_us += l.entry(s, e, base + BUCKETS).load(Relaxed);
            hist.count += l.entry(s, e, base + BUCKETS + 1).load(Relaxed);
        }
    }
}

fn process(l: Layout, s: usize, pid: i32, kind: u64, now_us: u64) -> Proc {
    let (rss_bytes, cpu_seconds) = proc_usage(pid);
    let mut current: Vec<Current> = (0..l.threads())
        .filter_map(|t| current(l, s, t, now_us))
        .collect();
    current.sort_by_key(|c| std::cmp::Reverse(c.age_us));
    Proc {
        pid,
        daemon: kind != KIND_CHILD,
        uptime_us: now_us.saturating_sub(l.slot(s, S_STARTED).load(Relaxed)),
        requests: l.slot(s, S_REQUESTS).load(Relaxed),
        busy: l.slot(s, S_BUSY).load(Relaxed) as i64,
        interpreters: l.slot(s, S_INTERPRETERS).load(Relaxed),
        rss_bytes,
        cpu_seconds,
        last_reason: Reason::from_code(l.slot(s, S_LAST_REASON).load(Relaxed)),
        current,
    }
}

/// The request thread `t` of slot `s` serves now, if any.
fn current(l: Layout, s: usize, t: usize, now_us: u64) -> Option<Current> {
    let seq = l.thread(s, t, T_SEQ);
    for _ in 0..4 {
        let before = seq.load(Acquire);
        if before % 2 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let start = l.thread(s, t, T_START).load(Relaxed);
        let method = layout::unpack(std::slice::from_ref(l.thread(s, t, T_METHOD)));
        let url = layout::unpack(l.run(l.thread(s, t, T_URL), URL_WORDS));
        let thread = l.thread(s, t, T_THREAD).load(Relaxed);
        if seq.load(Acquire) != before {
            continue;
        }
        if start == 0 {
            return None;
        }
        return Some(Current {
            method: String::from_utf8_lossy(&method).into_owned(),
            url: String::from_utf8_lossy(&url).into_owned(),
            thread,
            age_us: now_us.saturating_sub(start),
        });
    }
    None
}

/// Resident memory (bytes) and CPU time (user + system, seconds) of a
/// process, from `/proc`.
fn proc_usage(pid: i32) -> (Option<u64>, Option<f64>) {
    let rss = std::fs::read_to_string(format!("/proc/{pid}/statm"))
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * page_size());
    let cpu = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name, which may hold spaces.
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
            Some(ticks as f64 / clock_ticks() as f64)
        });
    (rss, cpu)
}
