//! Where everything sits in the shared words: a header, then one slot
//! per process (an Apache child or a daemon process). A slot holds the
//! process's identity, its gauges, its restart counters, a fixed table
//! of label entries (process group, application group) with request
//! counters and histograms, and one fixed-size entry per thread for the
//! request it serves now. Nothing here grows with traffic: the sizes are
//! decided when the parent creates the memory.
//!
//! Each slot is written only by its own process (and, for the restart
//! counters, by the supervisor that reaps it), with relaxed atomics:
//! readers sum slots and may see a request counted in one histogram and
//! not yet in another, never a torn word.

use std::sync::atomic::{AtomicU64, Ordering::*};

/// Bytes kept of a group name (longer names are cut).
pub const NAME_WORDS: usize = 8;
/// Bytes kept of a current request's URL, in words (192 bytes).
pub const URL_WORDS: usize = 24;
/// Label entries per slot: distinct (process group, application group)
/// pairs one process can record; more are counted as dropped.
pub const ENTRIES: usize = 16;
/// Upper bounds of the histogram buckets, in microseconds (the last
/// bucket, +Inf, follows).
pub const BOUNDS_US: [u64; 14] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000, 30_000_000,
];
pub const BUCKETS: usize = BOUNDS_US.len() + 1;
/// Status classes 1xx..5xx, then anything else.
pub const STATUS_CLASSES: usize = 6;
/// The histograms of an entry.
pub const HISTOGRAMS: usize = 3;
pub const H_DURATION: usize = 0;
pub const H_QUEUE: usize = 1;
pub const H_GIL: usize = 2;

/// Why a daemon process was replaced. The order is the layout's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    MaximumRequests,
    RestartInterval,
    InactivityTimeout,
    RequestTimeout,
    DeadlockTimeout,
    StartupTimeout,
    Signal,
    MemoryLimit,
    Crash,
}

impl Reason {
    pub const ALL: [Reason; 9] = [
        Reason::MaximumRequests,
        Reason::RestartInterval,
        Reason::InactivityTimeout,
        Reason::RequestTimeout,
        Reason::DeadlockTimeout,
        Reason::StartupTimeout,
        Reason::Signal,
        Reason::MemoryLimit,
        Reason::Crash,
    ];

    /// The label value (the daemon option's name where there is one).
    pub fn label(self) -> &'static str {
        match self {
            Reason::MaximumRequests => "maximum-requests",
            Reason::RestartInterval => "restart-interval",
            Reason::InactivityTimeout => "inactivity-timeout",
            Reason::RequestTimeout => "request-timeout",
            Reason::DeadlockTimeout => "deadlock-timeout",
            Reason::StartupTimeout => "startup-timeout",
            Reason::Signal => "signal",
            Reason::MemoryLimit => "memory-limit",
            Reason::Crash => "crash",
        }
    }

    fn index(self) -> usize {
        Reason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }

    /// The reason stored as `index + 1` (0: none).
    pub fn from_code(code: u64) -> Option<Reason> {
        Reason::ALL.get((code as usize).checked_sub(1)?).copied()
    }

    pub fn code(self) -> u64 {
        self.index() as u64 + 1
    }
}

/// What a slot holds.
pub const KIND_CHILD: u64 = 1;
pub const KIND_DAEMON: u64 = 2;

const MAGIC: u64 = 0x6d77_7273_6d65_7401; // "mwrsmet" + layout version 1

// Header words.
const HEADER_WORDS: usize = 8;
const H_MAGIC: usize = 0;
const H_SLOTS: usize = 1;
const H_THREADS: usize = 2;
const H_DROPPED: usize = 3;

// Slot words.
pub const S_PID: usize = 0;
pub const S_KIND: usize = 1;
/// When the process claimed the slot (µs since the epoch).
pub const S_STARTED: usize = 2;
pub const S_GROUP: usize = 3;
/// The reason the process gave before exiting (a `Reason` code).
pub const S_EXIT_PENDING: usize = S_GROUP + NAME_WORDS;
pub const S_LAST_REASON: usize = S_EXIT_PENDING + 1;
pub const S_RESTARTS: usize = S_LAST_REASON + 1;
pub const S_BUSY: usize = S_RESTARTS + Reason::ALL.len();
pub const S_REQUESTS: usize = S_BUSY + 1;
pub const S_INTERPRETERS: usize = S_REQUESTS + 1;
const S_ENTRIES: usize = S_INTERPRETERS + 1;

// Entry words (from the entry's start).
/// 0 free, 1 being named, 2 ready.
pub const E_STATE: usize = 0;
pub const E_PROCESS_GROUP: usize = 1;
pub const E_APP_GROUP: usize = E_PROCESS_GROUP + NAME_WORDS;
pub const E_ACTIVE: usize = E_APP_GROUP + NAME_WORDS;
pub const E_STATUS: usize = E_ACTIVE + 1;
pub const E_HIST: usize = E_STATUS + STATUS_CLASSES;
/// A histogram: the buckets (not cumulative), the sum (µs), the count.
pub const HIST_WORDS: usize = BUCKETS + 2;
const ENTRY_WORDS: usize = E_HIST + HISTOGRAMS * HIST_WORDS;

// Thread words (from the thread entry's start).
/// Which thread of the process owns the entry (0: none).
pub const T_OWNER: usize = 0;
/// Odd while the entry is being written.
pub const T_SEQ: usize = 1;
/// When the current request started (µs; 0: idle).
pub const T_START: usize = 2;
pub const T_THREAD: usize = 3;
pub const T_METHOD: usize = 4;
pub const T_URL: usize = 5;
const THREAD_WORDS: usize = T_URL + URL_WORDS;

const SLOT_FIXED: usize = S_ENTRIES + ENTRIES * ENTRY_WORDS;

/// How many words a layout of `slots` slots of `threads` threads needs.
pub fn words_for(slots: usize, threads: usize) -> usize {
    HEADER_WORDS + slots * (SLOT_FIXED + threads * THREAD_WORDS)
}

/// The shared words seen through the layout.
#[derive(Clone, Copy)]
pub struct Layout {
    words: &'static [AtomicU64],
    slots: usize,
    threads: usize,
}

impl Layout {
    /// Writes the header of freshly zeroed words.
    pub fn init(words: &'static [AtomicU64], slots: usize, threads: usize) -> Option<Layout> {
        if words.len() < words_for(slots, threads) {
            return None;
        }
        words[H_SLOTS].store(slots as u64, Relaxed);
        words[H_THREADS].store(threads as u64, Relaxed);
        words[H_MAGIC].store(MAGIC, Release);
        Layout::open(words)
    }

    /// Reads the header of words [`Layout::init`] prepared.
    pub fn open(words: &'static [AtomicU64]) -> Option<Layout> {
        if words.first()?.load(Acquire) != MAGIC {
            return None;
        }
        let slots = words[H_SLOTS].load(Relaxed) as usize;
        let threads = words[H_THREADS].load(Relaxed) as usize;
        (words.len() >= words_for(slots, threads)).then_some(Layout {
            words,
            slots,
            threads,
        })
    }

    pub fn slots(&self) -> usize {
        self.slots
    }
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Recordings lost because a table was full.
    pub fn dropped(&self) -> &'static AtomicU64 {
        &self.words[H_DROPPED]
    }

    fn slot_base(&self, slot: usize) -> usize {
        HEADER_WORDS + slot * (SLOT_FIXED + self.threads * THREAD_WORDS)
    }

    /// Word `field` of slot `slot`.
    pub fn slot(&self, slot: usize, field: usize) -> &'static AtomicU64 {
        &self.words[self.slot_base(slot) + field]
    }

    /// Word `field` of label entry `entry` of slot `slot`.
    pub fn entry(&self, slot: usize, entry: usize, field: usize) -> &'static AtomicU64 {
        &self.words[self.slot_base(slot) + S_ENTRIES + entry * ENTRY_WORDS + field]
    }

    /// Word `field` of thread entry `thread` of slot `slot`.
    pub fn thread(&self, slot: usize, thread: usize, field: usize) -> &'static AtomicU64 {
        &self.words[self.slot_base(slot) + SLOT_FIXED + thread * THREAD_WORDS + field]
    }

    /// `n` consecutive words from `first` (a name or URL field).
    pub fn run(&self, first: &'static AtomicU64, n: usize) -> &'static [AtomicU64] {
        let start = (first as *const AtomicU64 as usize - self.words.as_ptr() as usize) / 8;
        &self.words[start..start + n]
    }
}

/// Packs the first `N * 8` bytes of `s` into words (zero-padded).
pub fn pack<const N: usize>(s: &[u8]) -> [u64; N] {
    let mut out = [0u64; N];
    for (i, chunk) in s.chunks(8).take(N).enumerate() {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        out[i] = u64::from_le_bytes(b);
    }
    out
}

/// The bytes packed in `words`, up to the first NUL.
pub fn unpack(words: &[AtomicU64]) -> Vec<u8> {
    let mut out: Vec<u8> = words
        .iter()
        .flat_map(|w| w.load(Relaxed).to_le_bytes())
        .collect();
    if let Some(end) = out.iter().position(|&b| b == 0) {
        out.truncate(end);
    }
    out
}

/// Stores packed words.
pub fn store(words: &[AtomicU64], packed: &[u64]) {
    for (w, v) in words.iter().zip(packed) {
        w.store(*v, Relaxed);
    }
}

/// True when `words` hold exactly `packed`.
pub fn equals(words: &[AtomicU64], packed: &[u64]) -> bool {
    words.iter().zip(packed).all(|(w, v)| w.load(Relaxed) == *v)
}

/// The bucket a duration falls in.
pub fn bucket(us: u64) -> usize {
    BOUNDS_US
        .iter()
        .position(|&b| us <= b)
        .unwrap_or(BOUNDS_US.len())
}

/// The status class index: 0 for 1xx … 4 for 5xx, 5 for anything else.
pub fn status_class(status: u16) -> usize {
    match status {
        100..=599 => (status / 100 - 1) as usize,
        _ => STATUS_CLASSES - 1,
    }
}
