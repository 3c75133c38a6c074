//! One daemon process: sets up its environment (title, umask, home,
//! locale, limits), starts Python, runs `threads` request threads on the
//! group socket, and watches the recycle and timeout rules. A recycle is
//! graceful: stop accepting, tell the supervisor (which starts the
//! replacement at once), finish the requests in flight, exit.

use std::ffi::CString;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::serve::{self, Shared};
use super::supervisor::{identity, reset_after_fork, set_signals};
use super::{sock, startup, GroupEntry};
use crate::apache::process::Argv;
use crate::apache::Level;
use crate::{interp, metrics, wsgi};

static TERM: AtomicBool = AtomicBool::new(false);
static USR1: AtomicBool = AtomicBool::new(false);
static USR2: AtomicBool = AtomicBool::new(false);

/// Signal handler: only an atomic store (async-signal-safe, cannot
/// panic), so unlike httpd's entry points it needs no panic guard.
extern "C" fn on_signal(sig: libc::c_int) {
    match sig {
        libc::SIGTERM | libc::SIGINT => TERM.store(true, Ordering::SeqCst),
        libc::SIGUSR1 | libc::SIGXCPU => USR1.store(true, Ordering::SeqCst),
        libc::SIGUSR2 => {
            USR2.store(true, Ordering::SeqCst);
            startup::USR2_EVENT.store(true, Ordering::SeqCst);
        }
        libc::SIGHUP => startup::HUP_EVENT.store(true, Ordering::SeqCst),
        _ => {}
    }
}

fn note(level: Level, msg: &str) {
    super::dlog(level, msg);
}

fn process_log(level: wsgi::LogLevel, msg: &str) {
    note(crate::request::level(level), msg);
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) {
    if value == 0 {
        return;
    }
    let lim = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: setrlimit on this process with a valid struct.
    unsafe { libc::setrlimit(resource, &lim) };
}

fn setup_process(g: &GroupEntry, argv: Argv) {
    let c = &g.conf;
    argv.set_title(
        &c.process_title()
            .unwrap_or_else(|| format!("wsgi:{}", c.name)),
    );
    // SAFETY: umask and setpriority only change this process.
    unsafe {
        if let Some(mask) = c.umask {
            libc::umask(mask);
        }
        if c.cpu_priority != 0 {
            libc::setpriority(libc::PRIO_PROCESS, 0, c.cpu_priority);
        }
    }
    set_limit(libc::RLIMIT_CPU, c.cpu_time_limit);
    set_limit(libc::RLIMIT_DATA, c.memory_limit);
    set_limit(libc::RLIMIT_AS, c.virtual_memory_limit);
    let (auid, ..) = crate::apache::process::apache_ids();
    let home = match (&c.home, identity(g)) {
        (Some(h), _) => Some(h.clone()),
        (None, Ok((uid, _, _, home))) if uid != auid => home,
        _ => None,
    };
    if let Some(h) = home {
        if std::env::set_current_dir(&h).is_err() {
            note(Level::Notice, &format!(
                "[WSGI-RS-N411] daemon process group '{}': home directory '{h}' does not exist or is not accessible; using '/'",
                c.name
            ));
            let _ = std::env::set_current_dir("/");
        }
    }
    // SAFETY: the process is still single-threaded; setenv/setlocale are safe here.
    unsafe {
        if let Some(lang) = c.lang.as_deref().and_then(|l| CString::new(l).ok()) {
            libc::setenv(c"LANG".as_ptr(), lang.as_ptr(), 1);
        }
        if let Some(loc) = c.locale.as_deref().and_then(|l| CString::new(l).ok()) {
            libc::setenv(c"LC_ALL".as_ptr(), loc.as_ptr(), 1);
            libc::setlocale(libc::LC_ALL, loc.as_ptr());
        }
        if let Some(eggs) = c.python_eggs.as_deref().and_then(|l| CString::new(l).ok()) {
            libc::setenv(c"PYTHON_EGG_CACHE".as_ptr(), eggs.as_ptr(), 1);
        }
    }
}

fn start_python(g: &GroupEntry) -> Result<(), String> {
    crate::request::configure_shared_state(crate::apache::log::forked_server());
    let c = &g.conf;
    let main = &g.python;
    let mut path = c.python_path.clone();
    if let Some(h) = &c.home {
        path.insert(0, h.clone());
    }
    // The server-wide settings, with the group's own options on top
    // (its python-path= replaces WSGIPythonPath).
    let settings = interp::Settings {
        python_home: c.python_home.clone().or_else(|| main.home.clone()),
        python_path: path,
        python_eggs: c.python_eggs.clone().or_else(|| main.python_eggs.clone()),
        threads_per_process: c.threads as i32,
        maximum_processes: c.processes as i32,
        process_group: c.name.clone(),
        server_metrics: c.server_metrics,
        // A service script may install signal handlers (mod_wsgi treats
        // WSGIRestrictSignal as Off there).
        restrict_signal: c.threads > 0 && main.restrict_signal.unwrap_or(true),
        interpreter: main.interpreter.with_switch_interval(c.switch_interval),
        ..crate::request::python_settings(main)
    };
    wsgi::set_process_logger(process_log);
    interp::initialize(&settings, wsgi::prepare_interpreter)?;
    Ok(())
}

/// The daemon process's main: returns the exit status.
pub fn run(g: &GroupEntry, fd: RawFd, argv: Argv, notify: RawFd) -> i32 {
    reset_after_fork(fd);
    metrics::attach_daemon(crate::apache::log::forked_server(), &g.conf.name);
    // Request threads take turns (whichever accept() wakes), and glibc
    // would give each its own malloc arena, each keeping the largest
    // body it ever held (15 threads x a 1 MiB upload = 15 MiB of RSS).
    // The GIL already serialises most allocation: two arenas suffice.
    // SAFETY: mallopt only tunes this process's allocator.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
    set_signals(
        &[
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGXCPU,
        ],
        on_signal as *const () as libc::sighandler_t,
    );
    if g.conf.threads > 0 {
        // For mod_wsgi.subscribe_signals(); a service script (threads=0)
        // handles its signals itself, as in mod_wsgi.
        set_signals(
            &[libc::SIGHUP],
            on_signal as *const () as libc::sighandler_t,
        );
    }
    startup::stderr_to_group_log(crate::apache::log::forked_server(), &g.conf);
    setup_process(g, argv);
    super::privs::clean_environment(g.conf.home.as_deref());
    if let Err(e) = start_python(g) {
        note(
            Level::Crit,
            &format!(
                "[WSGI-RS-E106] Python could not be initialised in daemon process group '{}': {e}",
                g.conf.name
            ),
        );
        std::thread::sleep(Duration::from_secs(2));
        return 1;
    }
    metrics::set_interpreters(1);
    let main = crate::apache::log::forked_server();
    if g.conf.threads == 0 {
        return startup::run_service(g, main);
    }
    // Loaded before the first accept: a new or replacement process takes
    // requests only once its scripts are in.
    wsgi::preload(startup::preload_jobs(main, &g.conf.name));
    startup::start_signal_dispatcher();
    sock::prepare_blocking_accept(fd, ACCEPT_WAIT);
    let shared = Arc::new(Shared::new(g, fd));
    let mut handles = Vec::new();
    for i in 0..g.conf.threads {
        let sh = shared.clone();
        let mut b = std::thread::Builder::new().name(format!("wsgi-{i}"));
        if let Some(sz) = g.conf.stack_size {
            b = b.stack_size(sz as usize);
        }
        match b.spawn(move || serve::worker_loop(&sh)) {
            Ok(h) => handles.push(h),
            Err(e) => note(
                Level::Error,
                &format!("[WSGI-RS-E408] cannot start a request thread: {e}"),
            ),
        }
    }
    let probe = Arc::new(AtomicU64::new(now_s()));
    if g.conf.deadlock_timeout > 0 {
        let p = probe.clone();
        let _ = std::thread::Builder::new()
            .name("wsgi-deadlock".into())
            .spawn(move || loop {
                interp::with_python(|_| ());
                p.store(now_s(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_secs(1));
            });
    }
    if let Some(reason) = monitor(g, &shared, &probe, notify) {
        interp::stop_callbacks(reason);
    }
    0
}

/// How long a request thread waits in `accept` before it checks whether
/// its process is stopping.
pub const ACCEPT_WAIT: Duration = Duration::from_millis(200);

pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The metrics' name and mod_wsgi's `shutdown_reason` (given to
/// shutdown callbacks) for a recycle reason of [`monitor`].
fn exit_reason(why: &str) -> (metrics::Reason, &'static str) {
    use metrics::Reason::*;
    let rules = [
        ("maximum-requests", MaximumRequests, "maximum_requests"),
        ("restart-interval", RestartInterval, "restart_interval"),
        (
            "inactivity-timeout",
            InactivityTimeout,
            "inactivity_timeout",
        ),
        ("request-timeout", RequestTimeout, "request_timeout"),
        ("startup-timeout", StartupTimeout, "startup_timeout"),
        ("graceful signal", Signal, "eviction_signal"),
    ];
    rules
        .iter()
        .find(|(prefix, _, _)| why.starts_with(prefix))
        .map_or((Signal, ""), |(_, r, s)| (*r, *s))
}

/// Watches signals and the recycle rules until the process should exit;
/// the `shutdown_reason` for shutdown callbacks, or `None` when they
/// cannot run (the GIL is stuck).
fn monitor(g: &GroupEntry, sh: &Shared, probe: &AtomicU64, notify: RawFd) -> Option<&'static str> {
    let c = &g.conf;
    let started = Instant::now();
    let mut drain_until: Option<Instant> = None;
    let mut shutdown_reason = "";
    loop {
        std::thread::sleep(Duration::from_millis(50));
        if USR2.swap(false, Ordering::SeqCst) {
            serve::dump_stacks("SIGUSR2", None);
        }
        let reason = if TERM.load(Ordering::SeqCst) {
            Some((
                "shutdown signal",
                c.graceful_timeout.max(c.shutdown_timeout),
            ))
        } else if USR1.swap(false, Ordering::SeqCst) {
            let t = if c.eviction_timeout > 0 {
                c.eviction_timeout
            } else {
                c.graceful_timeout
            };
            Some(("graceful signal", t))
        } else if c.maximum_requests > 0 && sh.served() >= c.maximum_requests {
            Some(("maximum-requests", c.graceful_timeout))
        } else if c.startup_timeout > 0
            && sh.never_loaded()
            && started.elapsed().as_secs() >= c.startup_timeout
        {
            Some(("startup-timeout: the WSGI script has not loaded", 0))
        } else if c.restart_interval > 0 && started.elapsed().as_secs() >= c.restart_interval {
            Some(("restart-interval", c.graceful_timeout))
        } else if sh.wedged() {
            let why = "request-timeout: a thread did not unwind within interrupt-timeout";
            Some((why, c.graceful_timeout))
        } else if c.inactivity_timeout > 0
            && sh.active() == 0
            && sh.idle_secs() >= c.inactivity_timeout
        {
            Some(("inactivity-timeout", 0))
        } else {
            None
        };
        if c.deadlock_timeout > 0
            && now_s().saturating_sub(probe.load(Ordering::Relaxed)) >= c.deadlock_timeout
        {
            note(Level::Error, &format!(
                "[WSGI-RS-E406] daemon process {} of group '{}': the Python GIL has not been available for {} s (deadlock-timeout); restarting the process",
                std::process::id(), c.name, c.deadlock_timeout
            ));
            metrics::note_exit(metrics::Reason::DeadlockTimeout);
            return None;
        }
        sh.check_request_timeouts();
        if let (Some((why, secs)), None) = (reason, drain_until) {
            let (metric, reason) = exit_reason(why);
            metrics::note_exit(metric);
            shutdown_reason = reason;
            sh.stop_accepting();
            let pid = std::process::id().to_le_bytes();
            // SAFETY: writes 4 bytes to the supervisor's pipe.
            unsafe { libc::write(notify, pid.as_ptr().cast(), 4) };
            note(Level::Info, &format!(
                "[WSGI-RS-I412] daemon process {} of group '{}' is recycling ({why}); finishing {} request(s) in flight",
                std::process::id(), c.name, sh.active()
            ));
            drain_until = Some(Instant::now() + Duration::from_secs(secs.max(1)));
        }
        if let Some(until) = drain_until {
            if sh.engaged() == 0 {
                return Some(shutdown_reason);
            }
            if Instant::now() >= until {
                note(Level::Warn, &format!(
                    "[WSGI-RS-W413] daemon process {} of group '{}': {} request(s) still running at the end of the drain time; exiting",
                    std::process::id(), c.name, sh.active()
                ));
                return Some(shutdown_reason);
            }
        }
    }
}
