//! The `wsgi-script` handler: the checks mod_wsgi makes before running a
//! script, the CGI variables, and the call into the WSGI adapter.

use std::os::raw::c_int;

use super::backend::EmbeddedBackend;
use super::translate::{
    NOTE_APPLICATION_GROUP, NOTE_CALLABLE_OBJECT, NOTE_FORCED, NOTE_PASS_AUTHORIZATION,
};
use super::{dispatch, env, script};
use crate::apache::request::{BodyPolicy, FileKind};
use crate::apache::{Level, Request};
use crate::config::DirConfig;
use crate::ffi;
use crate::wsgi::{self, CgiVars, Extras, RequestCtx, RequestObjects, RunInfo};
use crate::{interp, module};
use pyo3::types::PyDictMethods;

const DECLINED: c_int = ffi::DECLINED as c_int;
const OK: c_int = ffi::OK as c_int;

fn is_wsgi_handler(h: Option<&[u8]>) -> bool {
    matches!(h, Some(b"wsgi-script") | Some(b"application/x-httpd-wsgi"))
}

/// What a request runs: a WSGI script's callable, or a
/// `WSGIHandlerScript`'s `handle_request`.
struct Target {
    script: String,
    mtime: i64,
    callable: String,
    handler_script: String,
    forced: bool,
    /// The handler script's own `application-group=`, if any.
    group: Option<String>,
    /// The handler script's own `pass-authorization=`, if any.
    pass_authorization: Option<bool>,
}

fn target(r: Request, dir: &DirConfig) -> Option<Target> {
    let filename = String::from_utf8_lossy(r.filename().unwrap_or(b"")).into_owned();
    if is_wsgi_handler(r.handler()) {
        let callable = note_or(r, NOTE_CALLABLE_OBJECT, Some(dir.callable())).unwrap_or_default();
        let forced = r.notes().get(NOTE_FORCED).is_some();
        return Some(Target {
            script: filename,
            mtime: r.file_mtime(),
            callable,
            handler_script: String::new(),
            forced,
            group: None,
            pass_authorization: None,
        });
    }
    let name = r.handler()?;
    let h = dir
        .handler_scripts
        .iter()
        .find(|h| h.name.as_bytes() == name)?;
    Some(Target {
        script: h.path.clone(),
        mtime: script::mtime_us(&h.path).unwrap_or(0),
        callable: "handle_request".to_owned(),
        handler_script: h.path.clone(),
        forced: true,
        group: h.application_group.clone(),
        pass_authorization: h.pass_authorization,
    })
}

pub fn handle(r: Request) -> c_int {
    let dir = module::dir_config(r);
    let Some(target) = target(r, dir) else {
        return DECLINED;
    };
    if let Err(status) = precheck(r, &target) {
        return status;
    }
    let policy = if dir.chunked_request == Some(true) {
        BodyPolicy::Dechunk
    } else {
        BodyPolicy::RefuseChunked
    };
    if let Err(status) = r.setup_body(policy) {
        if status == ffi::HTTP_LENGTH_REQUIRED as c_int {
            r.log(Level::Error, "[WSGI-RS-W202] chunked request body refused (411): support for chunked transfer encoding is off; enable it with WSGIChunkedRequest On");
        }
        return status;
    }
    let has_body = r.should_read_body();
    serve(r, dir, target, has_body)
}

/// mod_wsgi's checks, in its order: the handler is allowed here, the
/// script exists and is a file, path info is acceptable.
fn precheck(r: Request, target: &Target) -> Result<(), c_int> {
    let script = r
        .filename()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    if module::server_config(r.server()).python.restrict_embedded
        && target.handler_script.is_empty()
    {
        r.log(Level::Error, &format!(
            "[WSGI-RS-E106] Embedded mode of mod_wsgi_rs disabled by runtime configuration (WSGIRestrictEmbedded On); cannot run WSGI script '{script}' in this process: give it a WSGIProcessGroup"
        ));
        return Err(ffi::HTTP_INTERNAL_SERVER_ERROR as c_int);
    }
    if let Err(e) = module::dir_config(r).check_process_allowed("") {
        r.log(Level::Error, &format!("[WSGI-RS-E418] {e}"));
        return Err(ffi::HTTP_INTERNAL_SERVER_ERROR as c_int);
    }
    if !interp::is_initialized() {
        r.log(Level::Error, &format!(
            "[WSGI-RS-E106] Python is not running in this process (embedded mode disabled by WSGIRestrictEmbedded or initialisation failed); cannot run WSGI script '{script}'"
        ));
        return Err(ffi::HTTP_INTERNAL_SERVER_ERROR as c_int);
    }
    if !target.forced && !r.exec_cgi_allowed() {
        r.log(
            Level::Error,
            &format!("[WSGI-RS-W201] Options ExecCGI is off in this directory: {script}"),
        );
        return Err(ffi::HTTP_FORBIDDEN as c_int);
    }
    if !target.handler_script.is_empty() {
        // A handler script serves the request itself: like mod_wsgi
        // 4.9.4, the requested file need not exist.
        return Ok(());
    }
    match r.file_kind() {
        FileKind::Regular => {}
        FileKind::Directory => return Err(ffi::HTTP_FORBIDDEN as c_int),
        _ => {
            r.log(
                Level::Error,
                &format!("[WSGI-RS-E301] Target WSGI script not found or unable to stat: {script}"),
            );
            return Err(ffi::HTTP_NOT_FOUND as c_int);
        }
    }
    if !r.path_info().is_empty() && r.rejects_path_info() {
        return Err(ffi::HTTP_NOT_FOUND as c_int);
    }
    Ok(())
}

/// `WSGIDispatchScript`, run before the request goes to its process
/// group: its choices (process group, application group, callable) are
/// left in the request notes, where the daemon proxy and the embedded
/// handler read the alias options too.
pub fn dispatch_request(r: Request) -> Result<(), c_int> {
    let dir = module::dir_config(r);
    let (Some(dispatch_script), Some(target)) = (&dir.dispatch_script, target(r, dir)) else {
        return Ok(());
    };
    if !interp::is_initialized() {
        r.log(Level::Error, "[WSGI-RS-E106] Python is not running in this process; the WSGIDispatchScript cannot run");
        return Err(ffi::HTTP_INTERNAL_SERVER_ERROR as c_int);
    }
    let prepared = Prepared::new(r, dir, &target, false);
    let process_group =
        note_or(r, c"mod_wsgi.process_group", dir.process_group.as_deref()).unwrap_or_default();
    let counters = env::peek_counters();
    let mut extras = prepared.extras(r, dir, &target, &counters, env::now_us());
    extras.process_group = &process_group;
    let dispatch_group = env::application_group(
        r,
        dispatch_script.application_group.as_deref(),
        &prepared.script_name,
    );
    let ctx = RequestCtx::new(Box::new(EmbeddedBackend::new(r, false, false)));
    let choice = interp::with_group(&dispatch_group, |py| {
        let objects =
            RequestObjects::new(py, &ctx, &prepared.request_id).map_err(|e| e.print(py))?;
        let env =
            wsgi::build_environ(py, &prepared.vars, &extras, &objects).map_err(|e| e.print(py))?;
        dispatch::choose(py, r, dispatch_script, &env)
    });
    drop(ctx.expire());
    let Some(Ok(choice)) = choice else {
        return Err(ffi::HTTP_INTERNAL_SERVER_ERROR as c_int);
    };
    let (notes, pool) = (r.notes(), r.pool());
    let chosen = [
        (c"mod_wsgi.process_group", choice.process_group),
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

/// The parts of a request's environ that the dispatch script's and the
/// application's share: CGI variables, application group, ids.
struct Prepared<'a> {
    vars: CgiVars<'a>,
    url_scheme: &'static str,
    script_name: Vec<u8>,
    group: String,
    request_id: String,
    listener_host: Vec<u8>,
    listener_port: String,
}

impl<'a> Prepared<'a> {
    fn new(r: Request, dir: &DirConfig, target: &Target, pass_auth: bool) -> Prepared<'a> {
        let (vars, url_scheme) = env::cgi_vars(r, dir, pass_auth);
        let script_name = vars
            .get_bytes("mod_wsgi.script_name")
            .unwrap_or(b"")
            .to_vec();
        let spec = target
            .group
            .clone()
            .or_else(|| note_or(r, NOTE_APPLICATION_GROUP, dir.application_group.as_deref()));
        let group = env::application_group(r, spec.as_deref(), &script_name);
        let request_id = String::from_utf8_lossy(r.log_id().unwrap_or(b"")).into_owned();
        let (listener_host, listener_port) = env::listener(r);
        Prepared {
            vars,
            url_scheme,
            script_name,
            group,
            request_id,
            listener_host,
            listener_port,
        }
    }

    /// The adapter's non-CGI facts (embedded mode: no process group).
    fn extras<'b>(
        &'b self,
        r: Request,
        dir: &DirConfig,
        target: &'b Target,
        counters: &env::Counters,
        script_start: i64,
    ) -> Extras<'b> {
        Extras {
            url_scheme: self.url_scheme,
            multithread: env::multithread(),
            multiprocess: env::multiprocess(),
            process_group: "",
            application_group: &self.group,
            callable_object: &target.callable,
            request_handler: r.handler().unwrap_or(b""),
            handler_script: &target.handler_script,
            script_reloading: dir.reloading(),
            enable_sendfile: dir.enable_sendfile == Some(true),
            listener_host: &self.listener_host,
            listener_port: self.listener_port.as_bytes(),
            request_id: self.request_id.as_bytes(),
            request_start_us: r.request_time(),
            script_start_us: script_start,
            thread_id: counters.thread_id,
            thread_requests: counters.thread_requests,
            total_requests: counters.total_requests,
        }
    }
}

fn note_or(r: Request, key: &std::ffi::CStr, fallback: Option<&str>) -> Option<String> {
    r.notes()
        .get(key)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .or_else(|| fallback.map(str::to_owned))
}

fn serve(r: Request, dir: &DirConfig, target: Target, has_body: bool) -> c_int {
    let script = target.script.as_str();
    let pass_auth = match (
        target.pass_authorization,
        r.notes().get(NOTE_PASS_AUTHORIZATION),
    ) {
        (Some(on), _) => on,
        (None, Some(v)) => v == b"1",
        (None, None) => dir.pass_authorization == Some(true),
    };
    let script_start = env::now_us();
    let counters = env::count_request();
    let prepared = Prepared::new(r, dir, &target, pass_auth);
    let extras = prepared.extras(r, dir, &target, &counters, script_start);
    let (group, callable, request_id) = (&prepared.group, &target.callable, &prepared.request_id);
    let backend = EmbeddedBackend::new(r, dir.enable_sendfile == Some(true), has_body);
    let ctx = RequestCtx::new(Box::new(backend));
    let resource = String::from_utf8_lossy(r.filename().unwrap_or(b"")).into_owned();
    let info = RunInfo {
        script,
        request_id,
        thread_id: counters.thread_id,
        start_us: script_start,
    };
    let outcome = interp::with_group(group, |py| {
        // What loading the script logs goes to this request's log, at the
        // request's log level (WSGI-RS-I110, output of the script's code).
        let loaded = {
            let _current = wsgi::CurrentRequest::enter(&ctx);
            interp::load_app(
                py,
                script,
                target.mtime,
                callable,
                dir.reloading(),
                Some(&resource),
            )
        };
        let app = match loaded {
            Ok(app) => app,
            Err(e) => return load_failed(py, r, script, e),
        };
        let objects = match RequestObjects::new(py, &ctx, request_id) {
            Ok(o) => o,
            Err(e) => {
                e.print(py);
                return wsgi::Outcome::Status(500);
            }
        };
        let environ = match wsgi::build_environ(py, &prepared.vars, &extras, &objects) {
            Ok(env) => env,
            Err(e) => {
                e.print(py);
                return wsgi::Outcome::Status(500);
            }
        };
        if dir.pass_apache_request == Some(true) {
            // SAFETY: r is the live request this handler serves.
            if let Ok(capsule) = unsafe { interp::request_capsule(py, r.as_ptr().cast()) } {
                let _ = environ.set_item("apache.request_rec", capsule);
            }
        }
        wsgi::run(py, &app, &environ, &objects, &ctx, &info)
    });
    drop(ctx.expire());
    match outcome {
        Some(wsgi::Outcome::Done) => OK,
        Some(wsgi::Outcome::Status(s)) => s as c_int,
        None => {
            r.log(Level::Error, &format!("[WSGI-RS-E107] application group '{group}' is not available (its interpreter could not be created); see the earlier log lines"));
            ffi::HTTP_INTERNAL_SERVER_ERROR as c_int
        }
    }
}

fn load_failed(
    py: pyo3::Python<'_>,
    r: Request,
    script: &str,
    e: interp::LoadError,
) -> wsgi::Outcome {
    use pyo3::exceptions::{PyFileNotFoundError, PyImportError, PyPermissionError, PySyntaxError};
    use pyo3::types::PyAnyMethods;
    let err = match e {
        interp::LoadError::MissingCallable(msg) => {
            r.log(Level::Error, &format!("[WSGI-RS-E104] {msg}"));
            return wsgi::Outcome::Status(500);
        }
        interp::LoadError::Failed(err) => err,
    };
    let headline = if err.is_instance_of::<PyFileNotFoundError>(py) {
        format!("[WSGI-RS-E301] WSGI script '{script}' does not exist (it was removed after Apache mapped the request).")
    } else if err.is_instance_of::<PyPermissionError>(py) {
        // SAFETY: geteuid cannot fail.
        let uid = unsafe { libc::geteuid() };
        format!("[WSGI-RS-E302] WSGI script '{script}' cannot be read by the Apache child (uid {uid}); make it and its directories readable by Apache's User.")
    } else if err.is_instance_of::<PySyntaxError>(py) {
        format!("[WSGI-RS-E303] WSGI script '{script}' has a syntax error.")
    } else if err.is_instance_of::<PyImportError>(py) {
        let path = py
            .import("sys")
            .and_then(|s| s.getattr("path"))
            .map(|p| p.to_string())
            .unwrap_or_default();
        format!(
            "[WSGI-RS-E304] WSGI script '{script}' failed to import a module; sys.path is {path}"
        )
    } else {
        format!("[WSGI-RS-E104] Failed to exec Python script file '{script}'.")
    };
    r.log(Level::Error, &headline);
    r.log(
        Level::Error,
        &format!("Exception occurred processing WSGI script '{script}'."),
    );
    for line in wsgi::traceback_lines(py, &err) {
        r.log(Level::Error, &line);
    }
    wsgi::Outcome::Status(500)
}
