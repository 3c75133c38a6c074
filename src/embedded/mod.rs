//! Embedded mode: the application runs inside Apache's own child
//! processes. This layer maps URIs to scripts (translate_name), starts
//! Python in each child, and serves requests through the WSGI adapter.

mod auth;
mod dispatch;
mod handler;
pub mod monitor;
mod script;
mod translate;

pub use auth::{check_access, check_groups, check_password, get_realm_hash};
pub use handler::{dispatch_request, handle};
pub use translate::translate;

use crate::apache::server::Server;
use crate::apache::{log, process, DirConf, Level, ServerConf};
use crate::config::groups::is_static;
use crate::config::{DirConfig, ServerConfig};
use crate::{interp, request, wsgi};

fn process_log(level: wsgi::LogLevel, msg: &str) {
    log::server(Server::none(), request::level(level), msg);
}

/// Starts Python in this child (from `child_init`) unless embedded mode
/// is switched off, then preloads the scripts configured for it. Returns
/// true when Python is running.
pub fn start_python(s: Server) -> bool {
    let conf = ServerConfig::of(&s);
    if conf.python.restrict_embedded && !scripts_need_python(s) {
        return false;
    }
    // prefork would otherwise run stop_python inside its signal handler.
    process::defer_exit_signals();
    let settings = request::python_settings(&conf.python);
    wsgi::set_process_logger(process_log);
    if let Err(e) = interp::initialize(&settings, wsgi::prepare_interpreter) {
        log::server(
            s,
            Level::Crit,
            &format!("[WSGI-RS-E106] Python could not be initialised in this child: {e}"),
        );
        return interp::is_initialized();
    }
    preload(s);
    true
}

/// The child pool's cleanup: Python's shutdown callbacks and
/// finalisation, in normal context only. A prefork child killed inside
/// its signal handler (busy, or a second signal) skips them: that code
/// may have interrupted anything, Python or malloc included, and only
/// async-signal-safe work may follow.
pub fn stop_python() {
    if process::exiting_in_signal_handler() {
        return;
    }
    process::begin_exit();
    interp::finalize();
}

/// True when some configuration runs Python in Apache's children even
/// though applications do not: access, auth, group, dispatch or handler
/// scripts, or embedded `WSGIImportScript`s.
fn scripts_need_python(s: Server) -> bool {
    let needs = DirConfig::runs_scripts;
    let mut next = Some(s);
    while let Some(server) = next {
        let conf = ServerConfig::of(&server);
        let embedded_import = conf
            .python
            .import_scripts
            .iter()
            .any(|i| i.process_group.is_empty() || i.process_group == "%{GLOBAL}");
        let dirs = DirConfig::server_defaults(&server)
            .into_iter()
            .chain(DirConfig::sections(&server));
        if embedded_import || dirs.into_iter().any(needs) {
            return true;
        }
        next = server.next();
    }
    false
}

/// `WSGIImportScript … process-group=%{GLOBAL}`, and script aliases
/// naming both groups statically, are loaded as the process starts.
fn preload(s: Server) {
    let mut jobs: Vec<(String, String)> = Vec::new();
    let mut next = Some(s);
    while let Some(server) = next {
        let conf = ServerConfig::of(&server);
        let embedded = |g: &str| g.is_empty() || g == "%{GLOBAL}";
        for imp in conf
            .python
            .import_scripts
            .iter()
            .filter(|i| embedded(&i.process_group))
        {
            jobs.push((imp.path.clone(), imp.application_group.clone()));
        }
        for alias in &conf.aliases {
            let o = &alias.options;
            if let (Some(pg), Some(g)) = (&o.process_group, &o.application_group) {
                if embedded(pg) && is_static(g) && !alias.target.contains('$') {
                    jobs.push((alias.target.clone(), g.clone()));
                }
            }
        }
        next = server.next();
    }
    wsgi::preload(jobs);
}
