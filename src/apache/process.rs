//! Process-level facts and httpd's "other child" supervision, for daemon
//! mode: Apache's `User`/`Group`, the runtime directory, closing the
//! listeners in a forked process, the original argv (for the process
//! title), and registering a forked process so the MPM tells us when it
//! dies; and, for prefork, moving a child's exit out of the MPM's signal
//! handler ([`defer_exit_signals`]).

use std::ffi::{c_void, CString};
use std::os::raw::{c_char, c_int};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::server::{self, Server};
use super::Pool;
use crate::ffi;

/// Apache's `User` and `Group` (mod_unixd), as ids, and the user name.
pub fn apache_ids() -> (u32, u32, Option<String>) {
    let (mut uid, mut gid) = (0u32, 0u32);
    // SAFETY: reads two fields of mod_unixd's global configuration.
    unsafe { ffi::rs_unixd_ids(&mut uid, &mut gid) };
    // SAFETY: the name is null or a string living as long as the config.
    let name = unsafe { super::cstr_lossy(ffi::rs_unixd_user_name()) };
    (uid, gid, name)
}

/// This process's effective user id.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Closes Apache's listening sockets in a process forked from the parent.
pub fn close_listeners() {
    // SAFETY: called in a freshly forked process that does not serve
    // HTTP; ap_close_listeners only closes descriptors.
    unsafe { ffi::rs_close_listeners() };
}

/// `name` under httpd's runtime directory (`DefaultRuntimeDir`).
pub fn runtime_dir_relative(pool: Pool, name: &str) -> Option<String> {
    let c = CString::new(name).ok()?;
    // SAFETY: the pool is live; the result is allocated in it.
    unsafe { super::cstr_lossy(ffi::ap_runtime_dir_relative(pool.as_ptr(), c.as_ptr())) }
}

/// Redirects the request internally to `uri` (a daemon's `Location`
/// with status 200), as a GET without a body.
pub fn internal_redirect(r: super::Request, uri: &str) {
    let Ok(c) = CString::new(uri) else { return };
    r.set_method_get();
    let p = r.pool().strdup(c.as_bytes());
    // SAFETY: r is live; the URI lives in r->pool.
    unsafe {
        ffi::apr_table_unset((*r.as_ptr()).headers_in, c"Content-Length".as_ptr());
        ffi::ap_internal_redirect_handler(p, r.as_ptr());
    }
}

/// True when the MPM is shutting down or restarting.
pub fn mpm_stopping() -> bool {
    server::mpm_query(ffi::AP_MPMQ_MPM_STATE) == ffi::AP_MPMQ_STOPPING
}

/// The argument vector of the httpd process, whose memory is overwritten
/// to set a process title.
#[derive(Clone, Copy)]
pub struct Argv {
    argv: *const *const c_char,
    argc: c_int,
}

// SAFETY: a plain pointer into the process's own argv area, only used in
// a single-threaded forked process.
unsafe impl Send for Argv {}

impl Argv {
    pub fn of(s: Server) -> Argv {
        // SAFETY: a live server_rec's process is the process_rec of httpd.
        unsafe {
            let p = (*s.as_ptr()).process;
            Argv {
                argv: (*p).argv,
                argc: (*p).argc,
            }
        }
    }

    /// Writes `title` over the contiguous argv strings (what `ps` shows),
    /// truncated to the space they occupy, and sets the thread name.
    pub fn set_title(self, title: &str) {
        if self.argv.is_null() || self.argc < 1 {
            return;
        }
        // SAFETY: argv[0..argc] are the NUL-terminated strings main()
        // received; we only write within the contiguous area they span.
        unsafe {
            let start = *self.argv as *mut u8;
            let mut end = start.add(libc::strlen(start.cast()));
            for i in 1..self.argc as usize {
                let a = *self.argv.add(i) as *mut u8;
                if a != end.add(1) {
                    break;
                }
                end = a.add(libc::strlen(a.cast()));
            }
            let space = end.offset_from(start) as usize;
            let n = title.len().min(space);
            std::ptr::copy_nonoverlapping(title.as_ptr(), start, n);
            std::ptr::write_bytes(start.add(n), 0, space + 1 - n);
        }
        let comm = CString::new(title.chars().take(15).collect::<String>()).unwrap_or_default();
        // SAFETY: PR_SET_NAME copies up to 16 bytes of a C string.
        unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr()) };
    }
}

/// What the MPM reports about a registered process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// It exited or was killed; the raw wait status.
    Death(c_int),
    /// The MPM lost track of it.
    Lost,
    /// The configuration is going away (restart or stop).
    Gone,
}

/// A process registered with `apr_proc_other_child_register`. The
/// callback returns the pid of a replacement to keep supervising, or
/// `None` to stop.
pub struct Supervised {
    proc_: ffi::apr_proc_t,
    pool: Pool,
    on_event: Box<dyn FnMut(Event) -> Option<i32>>,
}

impl Supervised {
    /// Registers `pid`; the registration lives in (and ends with) `pool`.
    pub fn register(pool: Pool, pid: i32, on_event: Box<dyn FnMut(Event) -> Option<i32>>) {
        // SAFETY: apr_proc_t is plain data; only pid is read by APR.
        let mut proc_: ffi::apr_proc_t = unsafe { std::mem::zeroed() };
        proc_.pid = pid;
        let raw = pool.own(Supervised {
            proc_,
            pool,
            on_event,
        });
        // SAFETY: raw is pool-owned and outlives the registration, which
        // APR removes in a cleanup of the same pool registered later (so
        // it runs first).
        unsafe { register_raw(raw) };
    }
}

unsafe fn register_raw(raw: *mut Supervised) {
    // SAFETY: per the caller, raw is live for the pool's lifetime.
    unsafe {
        ffi::apr_proc_other_child_register(
            &mut (*raw).proc_,
            Some(maintenance),
            raw.cast(),
            std::ptr::null_mut(),
            (*raw).pool.as_ptr(),
        )
    };
}

unsafe extern "C" fn maintenance(reason: c_int, data: *mut c_void, status: c_int) {
    super::guard("other child maintenance", (), || {
        let raw = data.cast::<Supervised>();
        let event = match reason {
            ffi::APR_OC_REASON_DEATH => Event::Death(status),
            ffi::APR_OC_REASON_LOST => Event::Lost,
            ffi::APR_OC_REASON_RESTART | ffi::APR_OC_REASON_UNREGISTER => Event::Gone,
            _ => return,
        };
        // SAFETY: data is the pool-owned Supervised registered above.
        let sup = unsafe { &mut *raw };
        let next = (sup.on_event)(event);
        if matches!(event, Event::Death(_) | Event::Lost) {
            // SAFETY: data is registered; unregister before re-registering.
            unsafe { ffi::apr_proc_other_child_unregister(data) };
            if let Some(pid) = next {
                sup.proc_.pid = pid;
                // SAFETY: as in register.
                unsafe { register_raw(raw) };
            }
        }
    })
}

/// CPU time (user, system) in µs used so far by the calling thread
/// (`thread`) or by the whole process; zeros if the kernel refuses.
pub fn cpu_times(thread: bool) -> (u64, u64) {
    let who = if thread {
        libc::RUSAGE_THREAD
    } else {
        libc::RUSAGE_SELF
    };
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the rusage it is given; RUSAGE_THREAD is
    // Linux's, the only system httpd runs this module on.
    if unsafe { libc::getrusage(who, ru.as_mut_ptr()) } != 0 {
        return (0, 0);
    }
    // SAFETY: zeroed, then written by a successful getrusage.
    let ru = unsafe { ru.assume_init() };
    let us = |t: libc::timeval| (t.tv_sec as u64) * 1_000_000 + t.tv_usec as u64;
    (us(ru.ru_utime), us(ru.ru_stime))
}

/// The process's peak resident set size in bytes.
pub fn peak_rss() -> u64 {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: as in `cpu_times`.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) } != 0 {
        return 0;
    }
    // SAFETY: zeroed, then written by a successful getrusage.
    let ru = unsafe { ru.assume_init() };
    ru.ru_maxrss as u64 * 1024
}

// ---------------------------------------------------------------- exit signals
//
// prefork ends a child on SIGHUP/SIGTERM (`-k restart`, `-k stop`) by
// destroying the child pool from inside the signal handler, so every pool
// cleanup (Python's shutdown included) would run on top of whatever the
// child was interrupted in: malloc, a request, Python itself. The child's
// handlers are wrapped here: an idle child is stopped the way a graceful
// restart stops it (prefork's own SIGUSR1 handler: listeners closed, the
// accept loop ends), so the child pool is destroyed in normal context; a
// busy child (or a second signal) dies at once as before, with
// [`exiting_in_signal_handler`] true so the cleanups run no Python.

/// prefork's handler that ends the child at once (`just_die`); 0 until
/// [`defer_exit_signals`] wrapped it.
static MPM_DIE: AtomicUsize = AtomicUsize::new(0);
/// prefork's graceful-stop handler (`AP_SIG_GRACEFUL`, SIGUSR1 on Linux).
static MPM_STOP_LISTENING: AtomicUsize = AtomicUsize::new(0);
/// Set once a stop signal was turned into a graceful stop: the next one
/// (the parent's escalation) ends the child at once.
static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);
/// Set just before the child dies inside the signal handler.
static DYING_IN_HANDLER: AtomicBool = AtomicBool::new(false);
/// Set while the child pool's cleanups run in normal context: a stop
/// signal then is ignored (the exit is already under way).
static EXITING: AtomicBool = AtomicBool::new(false);

/// True when the child is exiting from inside a signal handler: pool
/// cleanups must then do only async-signal-safe work (no Python).
pub fn exiting_in_signal_handler() -> bool {
    DYING_IN_HANDLER.load(Ordering::Acquire)
}

/// Marks the start of the child's exit in normal context; later stop
/// signals are ignored (a watchdog bounds the exit instead).
pub fn begin_exit() {
    EXITING.store(true, Ordering::Release);
}

/// In a prefork child (from `child_init`), wraps the MPM's SIGHUP and
/// SIGTERM handlers as described above. Does nothing when the MPM is
/// threaded (its children exit in normal context after joining their
/// workers) or its handlers are not the expected ones (`-X`).
pub fn defer_exit_signals() {
    if server::mpm_is_threaded() {
        return;
    }
    let (Some(die), Some(stop)) = (handler_of(libc::SIGTERM), handler_of(libc::SIGUSR1)) else {
        return;
    };
    if handler_of(libc::SIGHUP) != Some(die) {
        return;
    }
    MPM_DIE.store(die, Ordering::Release);
    MPM_STOP_LISTENING.store(stop, Ordering::Release);
    for sig in [libc::SIGHUP, libc::SIGTERM] {
        replace_handler(sig, on_stop_signal as *const () as usize);
    }
}

/// The plain (non-`SA_SIGINFO`) handler function installed for `sig`.
fn handler_of(sig: c_int) -> Option<usize> {
    // SAFETY: sigaction with a null new action only reads the current one
    // into a zeroed struct.
    let old = unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, ptr::null(), &mut old) != 0 {
            return None;
        }
        old
    };
    let plain = old.sa_flags & libc::SA_SIGINFO == 0;
    let function = old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN;
    (plain && function).then_some(old.sa_sigaction)
}

/// Installs `handler` for `sig`, keeping the MPM's mask and flags.
fn replace_handler(sig: c_int, handler: usize) {
    // SAFETY: reads the current action, then installs the same one with
    // another plain handler; on_stop_signal is async-signal-safe.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, ptr::null(), &mut act) == 0 {
            act.sa_sigaction = handler;
            libc::sigaction(sig, &act, ptr::null_mut());
        }
    }
}

/// The wrapped SIGHUP/SIGTERM handler. Async-signal-safe only: atomics,
/// getpid, reads of the shared scoreboard, and prefork's own handlers.
/// Nothing in it can panic, so it has no panic guard (the guard logs,
/// which is not async-signal-safe).
extern "C" fn on_stop_signal(sig: c_int) {
    if EXITING.load(Ordering::Acquire) {
        return;
    }
    let stop = MPM_STOP_LISTENING.load(Ordering::Acquire);
    if stop != 0 && !STOP_REQUESTED.swap(true, Ordering::AcqRel) && child_is_idle() {
        // SAFETY: `stop` is prefork's SIGUSR1 handler read in
        // defer_exit_signals; prefork calls it in signal context itself.
        unsafe { call_handler(stop, libc::SIGUSR1) };
        return;
    }
    DYING_IN_HANDLER.store(true, Ordering::Release);
    let die = MPM_DIE.load(Ordering::Acquire);
    // SAFETY: `die` is the handler prefork installed for this signal;
    // it does not return (the child exits).
    unsafe { call_handler(die, sig) };
}

/// Calls a plain signal handler function by its address.
unsafe fn call_handler(address: usize, sig: c_int) {
    // SAFETY: per the caller, address is a non-null `void (*)(int)`.
    let f: extern "C" fn(c_int) = unsafe { std::mem::transmute(address) };
    f(sig);
}

/// True when this child's scoreboard slot says it waits for a connection
/// (between connections, nothing of a request on its stack). Only plain
/// reads of shared memory: no lock, no allocation.
fn child_is_idle() -> bool {
    // SAFETY: getpid cannot fail; the scoreboard accessors only index the
    // mapped image (null when out of range); the records are read
    // volatile because other processes write them.
    unsafe {
        if ffi::ap_exists_scoreboard_image() == 0 {
            return false;
        }
        let global = ffi::ap_get_scoreboard_global();
        if global.is_null() {
            return false;
        }
        let me = libc::getpid();
        let limit = ptr::read_volatile(ptr::addr_of!((*global).server_limit));
        for i in 0..limit.max(0) {
            let ps = ffi::ap_get_scoreboard_process(i);
            if ps.is_null() {
                return false;
            }
            if ptr::read_volatile(ptr::addr_of!((*ps).pid)) != me {
                continue;
            }
            let ws = ffi::ap_get_scoreboard_worker_from_indexes(i, 0);
            return !ws.is_null()
                && c_int::from(ptr::read_volatile(ptr::addr_of!((*ws).status)))
                    == ffi::SERVER_READY as c_int;
        }
    }
    false
}
