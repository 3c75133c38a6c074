//! Loading scripts into their interpreters as a process starts
//! (`WSGIImportScript`, and script aliases naming both groups), in an
//! Apache child or a daemon process alike, and running the service
//! scripts of a `threads=0` daemon process.

use std::time::UNIX_EPOCH;

use pyo3::exceptions::PySystemExit;

use super::backend::LogLevel;
use super::errors::log_process;
use super::response::traceback_lines;
use crate::interp;

/// A script file's modification time in microseconds (0 if the system
/// does not say).
pub fn mtime_us(path: &str) -> Result<i64, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot stat '{path}': {e}"))?;
    Ok(meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_micros() as i64))
}

/// Loads each `(script, application group)` into its interpreter now,
/// once each, logging failures (with their traceback) through the
/// process logger. A script that failed is not marked loaded, so the
/// first request that needs it tries again.
pub fn preload(jobs: Vec<(String, String)>) {
    for (path, group) in unique(jobs) {
        load_one(&path, &group, false);
    }
}

/// Runs the scripts of a `threads=0` daemon process, one after the
/// other, each for as long as it runs. `SystemExit` (how the process's
/// SIGTERM handler stops a script) ends a script quietly.
pub fn run_service(jobs: Vec<(String, String)>) {
    for (path, group) in unique(jobs) {
        load_one(&path, &group, true);
    }
}

/// `jobs` in order, without repeats (virtual hosts see the main
/// server's scripts too).
fn unique(jobs: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(jobs.len());
    for job in jobs {
        if !out.contains(&job) {
            out.push(job);
        }
    }
    out
}

fn load_one(path: &str, group: &str, service: bool) {
    let group = if group == "%{GLOBAL}" { "" } else { group };
    let outcome = interp::with_group(group, |py| {
        let mtime = mtime_us(path)?;
        match interp::import_script(py, path, mtime) {
            Ok(()) => Ok(()),
            Err(e) if service && e.is_instance_of::<PySystemExit>(py) => Ok(()),
            Err(e) => {
                let head = if service {
                    format!(
                        "[WSGI-RS-E451] The service script '{path}' raised an exception; \
                         the daemon process exits and is replaced."
                    )
                } else {
                    format!("[WSGI-RS-E104] Failed to preload WSGI script '{path}'.")
                };
                let mut lines = vec![head];
                lines.extend(traceback_lines(py, &e));
                Err(lines.join("\n"))
            }
        }
    });
    if let Some(Err(msg)) = outcome {
        for line in msg.lines() {
            log_process(LogLevel::Error, line);
        }
    }
}
