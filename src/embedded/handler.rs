//! The `wsgi-script` handler in embedded mode: embedded mode's own
//! checks, then the shared request step (`crate::request`) and the
//! shared WSGI entry (`wsgi::serve`). Also the `WSGIDispatchScript` step
//! that runs before a request goes to its process group.

use std::os::raw::c_int;

use pyo3::types::PyDictMethods;

use super::dispatch;
use crate::apache::{DirConf, Level, Request, ServerConf};
use crate::config::{DirConfig, ServerConfig};
use crate::ffi;
use crate::interp;
use crate::request::{self, env, Facts, RequestBackend, Target};
use crate::request::{NOTE_APPLICATION_GROUP, NOTE_CALLABLE_OBJECT, NOTE_PROCESS_GROUP};
use crate::wsgi::{self, App, Extras, RequestCtx, RequestObjects, RunInfo};

const DECLINED: c_int = ffi::DECLINED as c_int;
const OK: c_int = ffi::OK as c_int;
const SERVER_ERROR: c_int = ffi::HTTP_INTERNAL_SERVER_ERROR as c_int;

pub fn handle(r: Request) -> c_int {
    let dir = DirConfig::of(&r);
    let Some(target) = request::target(r, dir) else {
        return DECLINED;
    };
    if let Err(status) = embedded_checks(r, dir, &target) {
        return status;
    }
    match request::prepare(&r, dir, target) {
        Ok(facts) => serve(r, dir, facts),
        Err(status) => status,
    }
}

/// What only embedded mode checks: it is allowed here and Python runs.
fn embedded_checks(r: Request, dir: &DirConfig, target: &Target) -> Result<(), c_int> {
    let script = &target.script;
    let server = r.server();
    if ServerConfig::of(&server).python.restrict_embedded && target.handler_script.is_empty() {
        r.log(Level::Error, &format!(
            "[WSGI-RS-E106] Embedded mode of mod_wsgi_rs disabled by runtime configuration (WSGIRestrictEmbedded On); cannot run WSGI script '{script}' in this process: give it a WSGIProcessGroup"
        ));
        return Err(SERVER_ERROR);
    }
    if let Err(e) = dir.check_process_allowed("") {
        r.log(Level::Error, &format!("[WSGI-RS-E418] {e}"));
        return Err(SERVER_ERROR);
    }
    if !interp::is_initialized() {
        r.log(Level::Error, &format!(
            "[WSGI-RS-E106] Python is not running in this process (embedded mode disabled by WSGIRestrictEmbedded or initialisation failed); cannot run WSGI script '{script}'"
        ));
        return Err(SERVER_ERROR);
    }
    Ok(())
}

/// The adapter's non-CGI facts (embedded mode: no process group).
fn extras<'b>(
    r: &'b Request,
    dir: &DirConfig,
    facts: &'b Facts<'_>,
    counters: &env::Counters,
    script_start: i64,
) -> Extras<'b> {
    Extras {
        url_scheme: facts.url_scheme,
        multithread: env::multithread(),
        multiprocess: env::multiprocess(),
        process_group: "",
        application_group: &facts.group,
        callable_object: &facts.target.callable,
        request_handler: r.handler().unwrap_or(b""),
        handler_script: &facts.target.handler_script,
        script_reloading: dir.reloading(),
        enable_sendfile: dir.enable_sendfile == Some(true),
        listener_host: &facts.listener_host,
        listener_port: facts.listener_port.as_bytes(),
        request_id: facts.request_id.as_bytes(),
        request_start_us: r.request_time(),
        script_start_us: script_start,
        thread_id: counters.thread_id,
        thread_requests: counters.thread_requests,
        total_requests: counters.total_requests,
    }
}

/// Runs the request's application in this process.
fn serve(r: Request, dir: &DirConfig, facts: Facts<'_>) -> c_int {
    let script_start = env::now_us();
    let counters = env::count_request();
    let extras = extras(&r, dir, &facts, &counters, script_start);
    let target = &facts.target;
    let sendfile = dir.enable_sendfile == Some(true);
    let ctx = RequestCtx::new(Box::new(RequestBackend::new(r, sendfile, facts.has_body)));
    let resource = String::from_utf8_lossy(r.filename().unwrap_or(b"")).into_owned();
    let app = App {
        script: &target.script,
        mtime: target.mtime,
        callable: &target.callable,
        reloading: dir.reloading(),
        resource: Some(&resource),
    };
    let info = RunInfo {
        script: &target.script,
        request_id: &facts.request_id,
        thread_id: counters.thread_id,
        start_us: script_start,
        request_start_us: r.request_time(),
        queue_start_us: 0,
        daemon_start_us: 0,
        server_pid: std::process::id(),
    };
    let pass_request = dir.pass_apache_request == Some(true);
    let served = interp::with_group(&facts.group, |py| {
        wsgi::serve(py, &app, &facts.vars, &extras, &ctx, &info, |environ, _| {
            if pass_request {
                if let Ok(capsule) = interp::request_capsule(py, r) {
                    let _ = environ.set_item("apache.request_rec", capsule);
                }
            }
        })
    });
    drop(ctx.expire());
    match served.map(|s| s.outcome) {
        Some(wsgi::Outcome::Done) => OK,
        Some(wsgi::Outcome::Status(s)) => s as c_int,
        None => {
            let group = &facts.group;
            r.log(Level::Error, &format!("[WSGI-RS-E107] application group '{group}' is not available (its interpreter could not be created); see the earlier log lines"));
            SERVER_ERROR
        }
    }
}

/// `WSGIDispatchScript`, run before the request goes to its process
/// group: its choices (process group, application group, callable) are
/// left in the request notes, where the daemon proxy and the embedded
/// handler read the alias options too.
pub fn dispatch_request(r: Request) -> Result<(), c_int> {
    let dir = DirConfig::of(&r);
    let (Some(dispatch_script), Some(target)) = (&dir.dispatch_script, request::target(r, dir))
    else {
        return Ok(());
    };
    if !interp::is_initialized() {
        r.log(Level::Error, "[WSGI-RS-E106] Python is not running in this process; the WSGIDispatchScript cannot run");
        return Err(SERVER_ERROR);
    }
    let facts = Facts::gather(&r, dir, target, false);
    let process_group = request::note(r, NOTE_PROCESS_GROUP)
        .or_else(|| dir.process_group.clone())
        .unwrap_or_default();
    let counters = env::peek_counters();
    let mut extras = extras(&r, dir, &facts, &counters, env::now_us());
    extras.process_group = &process_group;
    let dispatch_group = env::application_group(
        r,
        dispatch_script.application_group.as_deref(),
        &facts.script_name,
    );
    let ctx = RequestCtx::new(Box::new(RequestBackend::new(r, false, false)));
    let choice = interp::with_group(&dispatch_group, |py| {
        let objects = RequestObjects::new(py, &ctx, &facts.request_id).map_err(|e| e.print(py))?;
        let env =
            wsgi::build_environ(py, &facts.vars, &extras, &objects).map_err(|e| e.print(py))?;
        dispatch::choose(py, r, dispatch_script, &env)
    });
    drop(ctx.expire());
    let Some(Ok(choice)) = choice else {
        return Err(SERVER_ERROR);
    };
    let (notes, pool) = (r.notes(), r.pool());
    let chosen = [
        (NOTE_PROCESS_GROUP, choice.process_group),
        (NOTE_APPLICATION_GROUP, choice.application_group),
        (NOTE_CALLABLE_OBJECT, choice.callable_object),
    ];
    for (key, value) in chosen {
        if let Some(v) = value {
            notes.set(pool, key.to_bytes(), v.as_bytes());
        }
    }
    Ok(())
}
