//! The request step both modes share: target, checks, body policy and
//! the facts of the environ.

use std::ffi::CStr;
use std::os::raw::c_int;

use super::NOTE_PASS_AUTHORIZATION;
use super::{env, NOTE_APPLICATION_GROUP, NOTE_CALLABLE_OBJECT, NOTE_FORCED};
use crate::apache::request::{BodyPolicy, FileKind};
use crate::apache::{Level, Request};
use crate::config::DirConfig;
use crate::ffi;
use crate::wsgi::CgiVars;

/// The handler names that run a WSGI script.
pub fn is_wsgi_handler(h: Option<&[u8]>) -> bool {
    matches!(h, Some(b"wsgi-script") | Some(b"application/x-httpd-wsgi"))
}

/// What a request runs: a WSGI script's callable, or a
/// `WSGIHandlerScript`'s `handle_request`.
pub struct Target {
    pub script: String,
    /// The script's modification time (µs), for reloading.
    pub mtime: i64,
    pub callable: String,
    /// The handler script's path; empty for a WSGI script.
    pub handler_script: String,
    /// A script alias or handler script chose this target, so
    /// `Options ExecCGI` is not needed.
    pub forced: bool,
    /// The handler script's own `application-group=`, if any.
    pub group: Option<String>,
    /// The handler script's own `pass-authorization=`, if any.
    pub pass_authorization: Option<bool>,
}

/// The target of a request, or `None` when it is not ours.
pub fn target(r: Request, dir: &DirConfig) -> Option<Target> {
    if is_wsgi_handler(r.handler()) {
        return Some(Target {
            script: String::from_utf8_lossy(r.filename().unwrap_or(b"")).into_owned(),
            mtime: r.file_mtime(),
            callable: note(r, NOTE_CALLABLE_OBJECT).unwrap_or_else(|| dir.callable().to_owned()),
            handler_script: String::new(),
            forced: r.notes().get(NOTE_FORCED).is_some(),
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
        mtime: crate::wsgi::mtime_us(&h.path).unwrap_or(0),
        callable: "handle_request".to_owned(),
        handler_script: h.path.clone(),
        forced: true,
        group: h.application_group.clone(),
        pass_authorization: h.pass_authorization,
    })
}

/// A request note as text.
pub fn note(r: Request, key: &CStr) -> Option<String> {
    r.notes()
        .get(key)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// mod_wsgi's checks, in its order: the handler is allowed here, the
/// script exists and is a file, path info is acceptable.
fn check(r: Request, target: &Target) -> Result<(), c_int> {
    if !target.forced && !r.exec_cgi_allowed() {
        let script = &target.script;
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
            let script = &target.script;
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

/// The chunked body policy (`WSGIChunkedRequest`); returns whether the
/// request has a body to read.
fn setup_body(r: Request, dir: &DirConfig) -> Result<bool, c_int> {
    let policy = if dir.chunked_request == Some(true) {
        BodyPolicy::Dechunk
    } else {
        BodyPolicy::RefuseChunked
    };
    if let Err(status) = r.setup_body(policy) {
        if status == ffi::HTTP_LENGTH_REQUIRED as c_int {
            r.log(Level::Error, "[WSGI-RS-W202] chunked request body refused (411): support for chunked transfer encoding is off; enable it with WSGIChunkedRequest On");
        }
        return Err(status);
    }
    Ok(r.should_read_body())
}

/// Whether the `Authorization` header reaches the application: the
/// handler script's option, else the alias's, else `WSGIPassAuthorization`.
pub fn pass_authorization(r: Request, dir: &DirConfig, target: &Target) -> bool {
    match (
        target.pass_authorization,
        r.notes().get(NOTE_PASS_AUTHORIZATION),
    ) {
        (Some(on), _) => on,
        (None, Some(v)) => v == b"1",
        (None, None) => dir.pass_authorization == Some(true),
    }
}

/// What the environ of a request is made of, in either mode.
pub struct Facts<'a> {
    pub target: Target,
    pub vars: CgiVars<'a>,
    pub url_scheme: &'static str,
    pub script_name: Vec<u8>,
    /// The expanded application group (empty: the main interpreter).
    pub group: String,
    pub request_id: String,
    pub listener_host: Vec<u8>,
    pub listener_port: String,
    /// The request has a body to read (after the chunked policy).
    pub has_body: bool,
}

impl<'a> Facts<'a> {
    /// Gathers the facts without checking anything (the dispatch
    /// script's environ uses this too).
    pub fn gather(r: &'a Request, dir: &DirConfig, target: Target, pass_auth: bool) -> Facts<'a> {
        let (vars, url_scheme) = env::cgi_vars(r, dir, pass_auth);
        let script_name = vars
            .get_bytes("mod_wsgi.script_name")
            .unwrap_or(b"")
            .to_vec();
        let spec = target
            .group
            .clone()
            .or_else(|| note(*r, NOTE_APPLICATION_GROUP))
            .or_else(|| dir.application_group.clone());
        let group = env::application_group(*r, spec.as_deref(), &script_name);
        let request_id = String::from_utf8_lossy(r.log_id().unwrap_or(b"")).into_owned();
        let (listener_host, listener_port) = env::listener(*r);
        Facts {
            target,
            vars,
            url_scheme,
            script_name,
            group,
            request_id,
            listener_host,
            listener_port,
            has_body: false,
        }
    }
}

/// The one request step of both modes: checks the target, applies the
/// chunked body policy and gathers the facts; `Err` is the status to
/// answer (already logged).
pub fn prepare<'a>(r: &'a Request, dir: &DirConfig, target: Target) -> Result<Facts<'a>, c_int> {
    check(*r, &target)?;
    let has_body = setup_body(*r, dir)?;
    let pass_auth = pass_authorization(*r, dir, &target);
    let mut facts = Facts::gather(r, dir, target, pass_auth);
    facts.has_body = has_body;
    Ok(facts)
}
