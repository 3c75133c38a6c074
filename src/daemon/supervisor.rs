//! The per-group supervisor: forked by the Apache parent, it drops
//! privileges (never to root), forks the daemon processes, respawns one
//! the moment it dies, starts a replacement as soon as one announces a
//! graceful recycle, and on SIGTERM (Apache restart or stop) lets them
//! drain and exits. It never starts Python.

use std::ffi::CString;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{sock, worker, GroupEntry};
use crate::apache::process::{self, Argv};
use crate::apache::{log, Level};
use crate::config::daemon::Ident;

static TERM: AtomicBool = AtomicBool::new(false);
static CHILD: AtomicBool = AtomicBool::new(false);
static USR1: AtomicBool = AtomicBool::new(false);
static USR2: AtomicBool = AtomicBool::new(false);

/// Signal handler: only an atomic store (async-signal-safe, cannot
/// panic), so unlike httpd's entry points it needs no panic guard.
extern "C" fn on_signal(sig: libc::c_int) {
    let flag = match sig {
        libc::SIGTERM | libc::SIGINT => &TERM,
        libc::SIGCHLD => &CHILD,
        libc::SIGUSR1 => &USR1,
        libc::SIGUSR2 => &USR2,
        _ => return,
    };
    flag.store(true, Ordering::SeqCst);
}

/// Installs `handler` (or the default/ignore disposition) for `sigs`,
/// without SA_RESTART so blocking calls return on a signal.
pub fn set_signals(sigs: &[libc::c_int], handler: libc::sighandler_t) {
    for &sig in sigs {
        // SAFETY: sigaction with a zeroed struct, an empty mask and a
        // handler that only stores to atomics (async-signal-safe).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Resets what a process forked from httpd inherited: httpd's signal
/// handlers and mask, and its listeners.
pub fn reset_after_fork(keep_fd: RawFd) {
    set_signals(
        &[libc::SIGHUP, libc::SIGWINCH, libc::SIGXCPU, libc::SIGALRM],
        libc::SIG_DFL,
    );
    set_signals(&[libc::SIGPIPE], libc::SIG_IGN);
    // SAFETY: an empty set unblocks every signal in this thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
    }
    process::close_listeners();
    sock::close_others(keep_fd);
}

pub fn resolve_uid(id: &Ident) -> Option<u32> {
    match id {
        Ident::Id(n) => Some(*n),
        Ident::Name(name) => {
            let c = CString::new(name.as_str()).ok()?;
            // SAFETY: getpwnam in a single-threaded context; the result is
            // read at once.
            let pw = unsafe { libc::getpwnam(c.as_ptr()) };
            // SAFETY: non-null results point to a valid passwd struct.
            (!pw.is_null()).then(|| unsafe { (*pw).pw_uid })
        }
    }
}

pub fn resolve_gid(id: &Ident) -> Option<u32> {
    match id {
        Ident::Id(n) => Some(*n),
        Ident::Name(name) => {
            let c = CString::new(name.as_str()).ok()?;
            // SAFETY: as in resolve_uid.
            let gr = unsafe { libc::getgrnam(c.as_ptr()) };
            // SAFETY: non-null results point to a valid group struct.
            (!gr.is_null()).then(|| unsafe { (*gr).gr_gid })
        }
    }
}

/// The user a group runs as: (uid, gid, name, home).
pub fn identity(g: &GroupEntry) -> Result<(u32, u32, String, Option<String>), String> {
    let (auid, agid, _) = process::apache_ids();
    let uid = match &g.conf.user {
        Some(u) => resolve_uid(u).ok_or_else(|| format!("user '{u:?}' does not exist"))?,
        None => auid,
    };
    let gid = match &g.conf.group {
        Some(x) => resolve_gid(x).ok_or_else(|| format!("group '{x:?}' does not exist"))?,
        None => agid,
    };
    // SAFETY: getpwuid in a single-threaded process; fields copied at once.
    let (name, home) = unsafe {
        let pw = libc::getpwuid(uid);
        if pw.is_null() {
            (format!("#{uid}"), None)
        } else {
            (
                crate::apache::cstr_lossy((*pw).pw_name).unwrap_or_default(),
                crate::apache::cstr_lossy((*pw).pw_dir),
            )
        }
    };
    Ok((uid, gid, name, home))
}

fn drop_privileges(g: &GroupEntry) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let (uid, gid, name, _) = identity(g)?;
    if uid == 0 {
        return Err(
            "WSGI daemon processes are never run as root; set user= to an unprivileged user".into(),
        );
    }
    let groups: Vec<libc::gid_t> = g
        .conf
        .supplementary_groups
        .iter()
        .filter_map(|s| resolve_gid(&Ident::Name(s.clone())))
        .collect();
    let cname = CString::new(name).unwrap_or_default();
    // SAFETY: plain credential system calls on this process; each result
    // is checked.
    let ok = unsafe {
        libc::setgid(gid) == 0
            && if groups.is_empty() {
                libc::initgroups(cname.as_ptr(), gid) == 0
            } else {
                libc::setgroups(groups.len(), groups.as_ptr()) == 0
            }
            && libc::setuid(uid) == 0
    };
    if !ok {
        return Err(format!(
            "cannot switch to uid {uid} gid {gid}: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: re-enables core dumps after setuid, as mod_wsgi does.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1) };
    Ok(())
}

/// Forks the supervisor of `g` from the Apache parent; its pid.
pub fn spawn(g: &GroupEntry, fd: RawFd, argv: Argv) -> Option<i32> {
    let parent = std::process::id() as i32;
    // SAFETY: the Apache parent is single-threaded and runs no Python;
    // the child only calls into its own code and exits with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        super::dlog(
            Level::Crit,
            &format!(
                "[WSGI-RS-E408] cannot fork the supervisor of daemon process group '{}': {}",
                g.conf.name,
                std::io::Error::last_os_error()
            ),
        );
        return None;
    }
    if pid > 0 {
        return Some(pid);
    }
    // The group's processes log to the error log of the virtual host
    // that defines it, as mod_wsgi's do.
    let main = log::forked_server();
    log::set_forked_log_server(super::startup::defining_server(main, &g.conf));
    let code = crate::apache::guard("daemon supervisor", 1, || run(g, fd, argv, parent));
    // SAFETY: leaving the forked process without running httpd's cleanups.
    unsafe { libc::_exit(code) }
}

fn describe(status: libc::c_int) -> String {
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        // SAFETY: strsignal returns a static description.
        let name = unsafe { crate::apache::cstr_lossy(libc::strsignal(sig)) }.unwrap_or_default();
        format!("killed by signal {sig} ({name})")
    } else {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    }
}

fn run(g: &GroupEntry, fd: RawFd, argv: Argv, parent: i32) -> i32 {
    super::auth::keep_only(g.socket.as_os_str().as_encoded_bytes());
    reset_after_fork(fd);
    let signals = [
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGCHLD,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ];
    set_signals(&signals, on_signal as *const () as libc::sighandler_t);
    let name = &g.conf.name;
    argv.set_title(&format!("wsgi-sup:{name}"));
    if let Err(e) = drop_privileges(g) {
        super::dlog(
            Level::Crit,
            &format!("[WSGI-RS-E408] daemon process group '{name}' not started: {e}"),
        );
        std::thread::sleep(Duration::from_secs(5));
        return 1;
    }
    super::privs::die_with_parent(parent);
    let (notify_r, notify_w) = pipe();
    let mut procs = Processes::new(g.conf.processes as usize);
    while !TERM.load(Ordering::SeqCst) {
        procs.fill(|| spawn_daemon(g, fd, argv, notify_r, notify_w));
        procs.forward_signals();
        if wait_notify(notify_r, Duration::from_millis(500)) {
            procs.recycling(notify_r);
        }
        procs.reap(name, g.conf.threads == 0);
        if procs.fast_deaths > 3 {
            std::thread::sleep(Duration::from_secs(1));
        }
        CHILD.store(false, Ordering::SeqCst);
    }
    shutdown(
        &procs.slots,
        &procs.draining,
        g.conf.graceful_timeout.max(g.conf.shutdown_timeout),
    );
    0
}

/// Forks one daemon process; its pid (negative when fork failed).
fn spawn_daemon(g: &GroupEntry, fd: RawFd, argv: Argv, notify_r: RawFd, notify_w: RawFd) -> i32 {
    let supervisor = std::process::id() as i32;
    // SAFETY: this process is single-threaded; the child runs the
    // daemon and exits with _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        super::privs::die_with_parent(supervisor);
        // SAFETY: closes our copy of the pipe's read end.
        unsafe { libc::close(notify_r) };
        let code = crate::apache::guard("daemon process", 1, || worker::run(g, fd, argv, notify_w));
        // SAFETY: the daemon leaves without unwinding into httpd code.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// The supervisor's daemon processes.
struct Processes {
    /// One slot per `processes=`: the pid serving in it and when it
    /// started; `None` until a new one is forked.
    slots: Vec<Option<(i32, Instant)>>,
    /// Processes recycling gracefully: their slot is already refilled,
    /// but they still finish their requests and get signals.
    draining: Vec<i32>,
    /// Unclean exits within a second of starting, in a row: above 3 the
    /// supervisor slows down instead of fork-looping.
    fast_deaths: u32,
}

impl Processes {
    fn new(n: usize) -> Processes {
        Processes {
            slots: vec![None; n],
            draining: Vec::new(),
            fast_deaths: 0,
        }
    }

    /// Starts a process in every empty slot.
    fn fill(&mut self, mut spawn: impl FnMut() -> i32) {
        for slot in self.slots.iter_mut().filter(|s| s.is_none()) {
            let pid = spawn();
            if pid > 0 {
                *slot = Some((pid, Instant::now()));
            }
        }
    }

    /// Passes SIGUSR2 (stack dumps) and SIGUSR1 (graceful restart) on.
    fn forward_signals(&self) {
        if USR2.swap(false, Ordering::SeqCst) {
            signal_all(&self.slots, &self.draining, libc::SIGUSR2);
        }
        if USR1.swap(false, Ordering::SeqCst) {
            signal_all(&self.slots, &[], libc::SIGUSR1);
        }
    }

    /// Processes that began a graceful recycle (their pids on the notify
    /// pipe) leave their slot, so a replacement starts at once.
    fn recycling(&mut self, notify_r: RawFd) {
        let mut buf = [0u8; 64];
        // SAFETY: reading into a local buffer from our pipe (poll said
        // it is readable).
        let got = unsafe { libc::read(notify_r, buf.as_mut_ptr().cast(), buf.len()) };
        for c in buf[..got.max(0) as usize].chunks_exact(4) {
            let pid = i32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            if let Some(slot) = self
                .slots
                .iter_mut()
                .find(|s| s.is_some_and(|(p, _)| p == pid))
            {
                *slot = None;
                self.draining.push(pid);
            }
        }
    }

    /// Reaps exited processes, logging and recording unclean exits. A
    /// service process (`service`: threads=0) that exits at once, even
    /// cleanly, counts as a fast death too: its script keeps returning.
    fn reap(&mut self, name: &str, service: bool) {
        loop {
            let mut status = 0;
            // SAFETY: reaps any exited child without blocking.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                return;
            }
            self.draining.retain(|p| *p != pid);
            let Some(slot) = self
                .slots
                .iter_mut()
                .find(|s| s.is_some_and(|(p, _)| p == pid))
            else {
                continue;
            };
            let started = slot.map(|(_, t)| t).unwrap_or_else(Instant::now);
            *slot = None;
            let clean = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
            if !clean {
                super::dlog(
                    Level::Error,
                    &format!(
                    "[WSGI-RS-E402] daemon process {pid} of group '{name}' {}; starting a new one",
                    describe(status)
                ),
                );
                super::proxy::record_death(pid, status);
            }
            if started.elapsed() < Duration::from_secs(1) && (!clean || service) {
                self.fast_deaths += 1;
            } else {
                self.fast_deaths = 0;
            }
        }
    }
}

fn signal_all(slots: &[Option<(i32, Instant)>], extra: &[i32], sig: libc::c_int) {
    for pid in slots
        .iter()
        .flatten()
        .map(|(p, _)| *p)
        .chain(extra.iter().copied())
    {
        // SAFETY: signals our own child.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Tells every daemon to drain (SIGTERM), waits up to `secs`, then kills
/// what is left.
fn shutdown(slots: &[Option<(i32, Instant)>], draining: &[i32], secs: u64) {
    signal_all(slots, draining, libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let mut status = 0;
        // SAFETY: reaps our children.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid < 0 {
            return;
        }
        if pid == 0 {
            if Instant::now() >= deadline {
                signal_all(slots, draining, libc::SIGKILL);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Waits for a recycle notice on the pipe; false on timeout or when a
/// signal arrived (SIGTERM, SIGCHLD are handled at once, not after the
/// rest of the wait).
fn wait_notify(fd: RawFd, wait: Duration) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; EINTR simply returns -1.
    unsafe { libc::poll(&mut p, 1, wait.as_millis() as libc::c_int) > 0 }
}

fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors.
    unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    (fds[0], fds[1])
}
