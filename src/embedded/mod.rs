//! Embedded mode: the application runs inside Apache's own child
//! processes. This layer maps URIs to scripts (translate_name), starts
//! Python in each child, and serves requests through the WSGI adapter.

mod auth;
mod backend;
mod dispatch;
pub(crate) mod env;
mod handler;
mod script;
mod translate;

pub use auth::{check_access, check_groups, check_password, get_realm_hash};
pub use backend::{level as log_level, EmbeddedBackend};
pub use handler::{dispatch_request, handle};
pub use translate::translate;

use crate::apache::server::{self, Server};
use crate::apache::{log, Level};
use crate::config::groups::is_static;
use crate::{interp, module, wsgi};

fn process_log(level: wsgi::LogLevel, msg: &str) {
    log::server(Server::none(), backend::level(level), msg);
}

/// Starts Python in this child (from `child_init`) unless embedded mode
/// is switched off, then preloads the scripts configured for it. Returns
/// true when Python is running.
pub fn start_python(s: Server) -> bool {
    let conf = module::server_config(s);
    if conf.python.restrict_embedded && !scripts_need_python(s) {
        return false;
    }
    let py_conf = &conf.python;
    let settings = interp::Settings {
        python_home: py_conf.home.clone(),
        python_path: py_conf.path.clone(),
        optimize: py_conf.optimize,
        dont_write_bytecode: py_conf.dont_write_bytecode,
        warnings: py_conf.warnings.clone(),
        hash_seed: py_conf.hash_seed,
        python_eggs: py_conf.python_eggs.clone(),
        restrict_stdin: py_conf.restrict_stdin,
        restrict_stdout: py_conf.restrict_stdout,
        restrict_signal: py_conf.restrict_signal.unwrap_or(true),
        destroy_interpreter: py_conf.destroy_interpreter.unwrap_or(true),
        threads_per_process: server::mpm_threads_per_child(),
        maximum_processes: server::mpm_max_daemons(),
        apache_version: server::apache_version(),
        server_description: server::description(),
        mpm_name: server::mpm_name(),
        build_date: server::build_date(),
        process_group: String::new(),
        server_metrics: py_conf.server_metrics,
        interpreter: py_conf.interpreter.clone(),
    };
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

/// True when some configuration runs Python in Apache's children even
/// though applications do not: access, auth, group, dispatch or handler
/// scripts, or embedded `WSGIImportScript`s.
fn scripts_need_python(s: Server) -> bool {
    let needs = |d: &crate::config::DirConfig| {
        d.access_script.is_some()
            || d.auth_user_script.is_some()
            || d.auth_group_script.is_some()
            || d.dispatch_script.is_some()
            || !d.handler_scripts.is_empty()
    };
    let mut next = Some(s);
    while let Some(server) = next {
        let conf = module::server_config(server);
        let embedded_import = conf
            .python
            .import_scripts
            .iter()
            .any(|i| i.process_group.is_empty() || i.process_group == "%{GLOBAL}");
        let dirs = module::server_dir_defaults(server)
            .into_iter()
            .chain(module::section_dir_configs(server));
        if embedded_import || dirs.into_iter().any(needs) {
            return true;
        }
        next = server.next();
    }
    false
}

/// Loads each `(script, application group)` into its interpreter now,
/// logging failures (a process's start-up preloading).
pub fn run_preloads(s: Server, mut jobs: Vec<(String, String)>) {
    jobs.dedup();
    for (path, group) in jobs {
        let group = if group == "%{GLOBAL}" {
            String::new()
        } else {
            group
        };
        let outcome = interp::with_group(&group, |py| {
            let mtime = script::mtime_us(&path).map_err(|e| e.to_string())?;
            interp::import_script(py, &path, mtime).map_err(|e| {
                let mut lines = vec![format!(
                    "[WSGI-RS-E104] Failed to preload WSGI script '{path}'."
                )];
                lines.extend(wsgi::traceback_lines(py, &e));
                lines.join("\n")
            })
        });
        if let Some(Err(msg)) = outcome {
            for line in msg.lines() {
                log::server(s, Level::Error, line);
            }
        }
    }
}

/// `WSGIImportScript … process-group=%{GLOBAL}`, and script aliases
/// naming both groups statically, are loaded as the process starts.
fn preload(s: Server) {
    let mut jobs: Vec<(String, String)> = Vec::new();
    let mut next = Some(s);
    while let Some(server) = next {
        let conf = module::server_config(server);
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
    run_preloads(s, jobs);
}
