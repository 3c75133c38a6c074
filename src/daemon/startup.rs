//! What a daemon process does around its requests: the scripts it loads
//! before it takes any (preloading), the server whose error log it
//! writes to, the `process_signal` events of SIGHUP and SIGUSR2
//! (`mod_wsgi.subscribe_signals()`), and the service scripts of a
//! `threads=0` group, which take no requests at all.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pyo3::types::PyAnyMethods;

use super::GroupEntry;
use crate::apache::server::Server;
use crate::apache::{Level, ServerConf};
use crate::config::daemon::DaemonGroup;
use crate::config::{Pattern, ServerConfig};
use crate::{interp, wsgi};

/// The scripts a process of `group` loads before it takes requests, in
/// configuration order: the `WSGIImportScript`s naming the group, and
/// the script aliases naming it with a fixed application group (for a
/// `WSGIScriptAliasMatch`, only a target without `$n`), as mod_wsgi
/// preloads them.
pub fn preload_jobs(main: Server, group: &str) -> Vec<(String, String)> {
    let fixed = |v: &str| v == "%{GLOBAL}" || !v.contains("%{");
    let mut jobs = Vec::new();
    let mut next = Some(main);
    while let Some(server) = next {
        let conf = ServerConfig::of(&server);
        for imp in &conf.python.import_scripts {
            if imp.process_group == group {
                jobs.push((imp.path.clone(), imp.application_group.clone()));
            }
        }
        for alias in &conf.aliases {
            let o = &alias.options;
            let (Some(pg), Some(ag)) = (&o.process_group, &o.application_group) else {
                continue;
            };
            let fixed_target =
                matches!(alias.pattern, Pattern::Prefix(_)) || !alias.target.contains('$');
            if pg == group && fixed(ag) && fixed_target {
                jobs.push((alias.target.clone(), ag.clone()));
            }
        }
        next = server.next();
    }
    jobs
}

/// The server whose error log (and `LogLevel`) a group's processes use:
/// the virtual host that defines the group, or the main server for a
/// group defined at server level. A virtual host also lists the main
/// server's groups, so the first server listing the group defines it.
pub fn defining_server(main: Server, conf: &Arc<DaemonGroup>) -> Server {
    let mut next = Some(main);
    while let Some(server) = next {
        if ServerConfig::of(&server)
            .daemons
            .iter()
            .any(|g| Arc::ptr_eq(g, conf))
        {
            return server;
        }
        next = server.next();
    }
    main
}

/// Points this process's standard error (file descriptor 2: C
/// extensions, faulthandler, Python's fatal errors) at the `ErrorLog` of
/// the virtual host that defines its group, when that is not the main
/// server's, as mod_wsgi does.
pub fn stderr_to_group_log(main: Server, conf: &Arc<DaemonGroup>) {
    let own = defining_server(main, conf);
    let (Some(fd), main_fd) = (own.error_log_fd(), main.error_log_fd()) else {
        return;
    };
    if Some(fd) != main_fd && fd != libc::STDERR_FILENO {
        // SAFETY: dup2 of an open descriptor of this process onto 2.
        unsafe { libc::dup2(fd, libc::STDERR_FILENO) };
    }
}

/// Set by the daemon's signal handler: a SIGHUP / SIGUSR2 to publish.
pub static HUP_EVENT: AtomicBool = AtomicBool::new(false);
pub static USR2_EVENT: AtomicBool = AtomicBool::new(false);

/// Starts the thread that publishes `process_signal` events: each
/// SIGHUP or SIGUSR2 the process receives is published in every
/// interpreter, on this thread, so a slow subscriber delays neither
/// requests nor shutdown.
pub fn start_signal_dispatcher() {
    let spawned = std::thread::Builder::new()
        .name("wsgi-signals".into())
        .spawn(|| loop {
            std::thread::sleep(Duration::from_millis(100));
            if HUP_EVENT.swap(false, Ordering::SeqCst) {
                publish_signal(libc::SIGHUP, "SIGHUP");
            }
            if USR2_EVENT.swap(false, Ordering::SeqCst) {
                publish_signal(libc::SIGUSR2, "SIGUSR2");
            }
        });
    if let Err(e) = spawned {
        super::dlog(Level::Error, &format!(
            "[WSGI-RS-E453] cannot start the signal dispatcher thread ({e}); SIGHUP and SIGUSR2 will not \
             reach mod_wsgi.subscribe_signals() subscribers in this process"
        ));
    }
}

/// Publishes `process_signal` in the main interpreter and every
/// sub-interpreter of this process.
fn publish_signal(signum: i32, signame: &str) {
    let groups = std::iter::once(String::new()).chain(interp::group_names());
    for group in groups {
        let failed = interp::with_group(&group, |py| {
            interp::module(py, "_mod_wsgi_rs")
                .and_then(|m| m.call_method1("publish_signal", (signum, signame)))
                .err()
                .map(|e| e.to_string())
        })
        .flatten();
        if let Some(e) = failed {
            super::dlog(
                Level::Error,
                &format!(
                "[WSGI-RS-E453] the process_signal event for {signame} could not be published in \
                 application group '{group}': {e}"
            ),
            );
        }
    }
}

/// A `threads=0` process: SIGTERM raises `SystemExit` in the main
/// thread, then the group's scripts run there, one after the other,
/// for as long as they run. When they have all returned the process
/// exits, and the supervisor starts a new one.
pub fn run_service(g: &GroupEntry, main: Server) -> i32 {
    let name = &g.conf.name;
    let jobs = preload_jobs(main, name);
    if jobs.is_empty() {
        super::dlog(Level::Warn, &format!(
            "[WSGI-RS-W452] daemon process group '{name}' has threads=0 but no WSGIImportScript names it; \
             the process has nothing to run and waits to be stopped"
        ));
        super::supervisor::set_signals(&[libc::SIGTERM], libc::SIG_DFL);
        loop {
            // SAFETY: pause only waits for a signal.
            unsafe { libc::pause() };
        }
    }
    let armed = interp::with_python(|py| {
        py.run(
            c"import signal\n\
def _mod_wsgi_rs_exit(signum, frame):\n    raise SystemExit(0)\n\
signal.signal(signal.SIGTERM, _mod_wsgi_rs_exit)\n\
del _mod_wsgi_rs_exit\n",
            None,
            None,
        )
        .map_err(|e| e.to_string())
    });
    if let Some(Err(e)) = armed {
        super::dlog(Level::Error, &format!(
            "[WSGI-RS-E451] daemon process group '{name}': the SIGTERM handler of the service script \
             could not be installed ({e}); the script will be stopped without SystemExit"
        ));
    }
    wsgi::run_service(jobs);
    super::dlog(
        Level::Info,
        &format!(
        "[WSGI-RS-I455] the service scripts of daemon process {} of group '{name}' have returned; \
         the process exits and is replaced",
        std::process::id()
    ),
    );
    interp::stop_callbacks("");
    0
}
