//! Loading scripts into their interpreters as a process starts
//! (`WSGIImportScript`, and script aliases naming both groups), in an
//! Apache child or a daemon process alike.

use std::time::UNIX_EPOCH;

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
/// logging failures through the process logger.
pub fn preload(mut jobs: Vec<(String, String)>) {
    jobs.dedup();
    for (path, group) in jobs {
        let group = if group == "%{GLOBAL}" {
            String::new()
        } else {
            group
        };
        let outcome = interp::with_group(&group, |py| {
            let mtime = mtime_us(&path)?;
            interp::import_script(py, &path, mtime).map_err(|e| {
                let mut lines = vec![format!(
                    "[WSGI-RS-E104] Failed to preload WSGI script '{path}'."
                )];
                lines.extend(traceback_lines(py, &e));
                lines.join("\n")
            })
        });
        if let Some(Err(msg)) = outcome {
            for line in msg.lines() {
                log_process(LogLevel::Error, line);
            }
        }
    }
}
