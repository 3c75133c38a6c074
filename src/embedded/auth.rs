//! Python scripts in Apache's access, authentication and authorisation
//! phases (`WSGIAccessScript`, `WSGIAuthUserScript`,
//! `WSGIAuthGroupScript`). They always run in the Apache child, with a
//! cut-down environ (no `Authorization`, no `SetEnv` values), and any
//! failure denies access with the traceback in the error log.

use std::os::raw::c_int;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyString};

use super::script::{self, ScriptFailure};
use crate::apache::auth::{Authn, Authz};
use crate::apache::DirConf;
use crate::apache::{Level, Request};
use crate::config::scripts::ScriptRef;
use crate::config::DirConfig;
use crate::ffi;
use crate::interp::{self, latin1};
use crate::request::{env, RequestBackend};
use crate::wsgi::{RequestCtx, RequestObjects};

/// Variables never given to these scripts: credentials, and what
/// mod_wsgi's cut-down environ leaves out (notably REMOTE_USER, which
/// holds the claimed user while the password is still being checked).
const HIDDEN: &[&[u8]] = &[
    b"HTTP_AUTHORIZATION",
    b"HTTP_PROXY_AUTHORIZATION",
    b"PATH",
    b"AUTH_TYPE",
    b"REMOTE_USER",
    b"CONTEXT_DOCUMENT_ROOT",
    b"CONTEXT_PREFIX",
    b"GATEWAY_INTERFACE",
    b"PATH_TRANSLATED",
    b"REQUEST_SCHEME",
    b"SCRIPT_FILENAME",
];

/// Runs `func` of `script` with `(environ, *args)` and maps the result
/// with `map`; `None` when the call failed (already logged).
fn call<R>(
    r: Request,
    script: &ScriptRef,
    func: &str,
    args: impl for<'py> FnOnce(Python<'py>) -> Vec<Bound<'py, PyAny>>,
    map: impl for<'py> FnOnce(&Bound<'py, PyAny>) -> Result<R, String>,
) -> Option<R> {
    let ctx = RequestCtx::new(Box::new(RequestBackend::new(r, false, false)));
    let group = env::application_group(r, script.application_group.as_deref(), b"");
    let result = interp::with_group(&group, |py| {
        let outcome = (|| {
            let f = script::load(py, &script.path, func)?;
            let objects = RequestObjects::new(py, &ctx, "").map_err(ScriptFailure::Python)?;
            let environ = auth_environ(py, r, script, &objects).map_err(ScriptFailure::Python)?;
            let mut call_args = vec![environ.into_any()];
            call_args.extend(args(py));
            let tuple = pyo3::types::PyTuple::new(py, call_args).map_err(ScriptFailure::Python)?;
            let value = f.call1(tuple).map_err(ScriptFailure::Python)?;
            objects.flush_errors();
            map(&value).map_err(ScriptFailure::BadResult)
        })();
        outcome
            .map_err(|failure| script::report(py, r, &script.path, func, failure))
            .ok()
    });
    drop(ctx.expire());
    result.flatten()
}

fn auth_environ<'py>(
    py: Python<'py>,
    r: Request,
    script: &ScriptRef,
    objects: &RequestObjects,
) -> PyResult<Bound<'py, PyDict>> {
    let env = PyDict::new(py);
    for (k, v) in r.cgi_vars_snapshot().entries() {
        if !HIDDEN.contains(&k) {
            env.set_item(latin1(py, k), latin1(py, v))?;
        }
    }
    if !env.contains("PATH_INFO")? {
        env.set_item("PATH_INFO", "")?;
    }
    let (is_https, var_lookup) = objects.ssl_callables()?;
    env.set_item("mod_ssl.is_https", is_https)?;
    env.set_item("mod_ssl.var_lookup", var_lookup)?;
    let reloading = DirConfig::of(&r).reloading();
    env.set_item(
        "mod_wsgi.script_reloading",
        if reloading { "1" } else { "0" },
    )?;
    let (major, minor, patch) = crate::apache::server::apache_version();
    env.set_item("apache.version", (major, minor, patch))?;
    env.set_item("mod_wsgi.version", (4, 9, 4))?;
    env.set_item("mod_wsgi.process_group", "")?;
    env.set_item(
        "mod_wsgi.application_group",
        script.application_group.as_deref().unwrap_or(""),
    )?;
    env.set_item("wsgi.errors", &objects.errors)?;
    if DirConfig::of(&r).pass_apache_request == Some(true) {
        let capsule = interp::request_capsule(py, r)?;
        env.set_item("apache.request_rec", capsule)?;
    }
    Ok(env)
}

fn text_arg<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyAny> {
    latin1(py, bytes).into_any()
}

fn not_configured(r: Request, what: &str, directive: &str) {
    r.log(Level::Error, &format!(
        "[WSGI-RS-E501] {what} refers to the wsgi provider, but no {directive} is configured for this location"
    ));
}

/// `AuthBasicProvider wsgi`: `check_password(environ, user, password)`.
pub fn check_password(r: Request, user: &[u8], password: &[u8]) -> Authn {
    let Some(script) = DirConfig::of(&r).auth_user_script.clone() else {
        not_configured(r, "AuthBasicProvider", "WSGIAuthUserScript");
        return Authn::GeneralError;
    };
    let (u, p) = (user.to_vec(), password.to_vec());
    let outcome = call(
        r,
        &script,
        "check_password",
        move |py| vec![text_arg(py, &u), text_arg(py, &p)],
        |value| {
            if value.is_none() {
                Ok((Authn::UserNotFound, None))
            } else if let Ok(b) = value.cast::<PyBool>() {
                Ok((
                    if b.is_true() {
                        Authn::Granted
                    } else {
                        Authn::Denied
                    },
                    None,
                ))
            } else if let Ok(s) = value.cast::<PyString>() {
                let name = s.to_str().map_err(|e| e.to_string())?.to_owned();
                if name.is_empty() {
                    return Err("check_password() returned an empty user name".into());
                }
                Ok((Authn::Granted, Some(name)))
            } else {
                Err("check_password() must return True, False, None or a user name (str)".into())
            }
        },
    );
    match outcome {
        Some((status, replacement)) => {
            if let Some(name) = replacement {
                r.set_user(&name.chars().map(|c| c as u32 as u8).collect::<Vec<u8>>());
            }
            status
        }
        None => Authn::GeneralError,
    }
}

/// `AuthDigestProvider wsgi`: `get_realm_hash(environ, user, realm)`.
pub fn get_realm_hash(r: Request, user: &[u8], realm: &[u8]) -> (Authn, Option<String>) {
    let Some(script) = DirConfig::of(&r).auth_user_script.clone() else {
        not_configured(r, "AuthDigestProvider", "WSGIAuthUserScript");
        return (Authn::GeneralError, None);
    };
    let (u, rl) = (user.to_vec(), realm.to_vec());
    let outcome = call(
        r,
        &script,
        "get_realm_hash",
        move |py| vec![text_arg(py, &u), text_arg(py, &rl)],
        |value| {
            if value.is_none() {
                Ok(None)
            } else if let Ok(s) = value.cast::<PyString>() {
                Ok(Some(s.to_str().map_err(|e| e.to_string())?.to_owned()))
            } else {
                Err("get_realm_hash() must return None or the md5 hex digest of 'user:realm:password' (str)".into())
            }
        },
    );
    match outcome {
        Some(Some(hash)) => (Authn::UserFound, Some(hash)),
        Some(None) => (Authn::UserNotFound, None),
        None => (Authn::GeneralError, None),
    }
}

/// `Require wsgi-group g1 g2`: `groups_for_user(environ, user)`.
pub fn check_groups(r: Request, required: Vec<String>) -> Authz {
    let Some(user) = r.user().map(<[u8]>::to_vec) else {
        return Authz::DeniedNoUser;
    };
    let Some(script) = DirConfig::of(&r).auth_group_script.clone() else {
        not_configured(r, "Require wsgi-group", "WSGIAuthGroupScript");
        return Authz::GeneralError;
    };
    let u = user.clone();
    let groups = call(
        r,
        &script,
        "groups_for_user",
        move |py| vec![text_arg(py, &u)],
        |value| {
            let mut groups = Vec::new();
            for item in value.try_iter().map_err(|_| {
                "groups_for_user() must return an iterable of group names".to_string()
            })? {
                let item = item.map_err(|e| e.to_string())?;
                if let Ok(b) = item.cast::<PyBytes>() {
                    groups.push(String::from_utf8_lossy(b.as_bytes()).into_owned());
                } else {
                    groups.push(
                        item.extract::<String>()
                            .map_err(|_| "group names must be str or bytes".to_string())?,
                    );
                }
            }
            Ok(groups)
        },
    );
    let Some(groups) = groups else {
        return Authz::GeneralError;
    };
    if required.iter().any(|g| groups.contains(g)) {
        return Authz::Granted;
    }
    r.log(Level::Error, &format!(
        "[WSGI-RS-E503] Authorization of user '{}' to access '{}' failed: not a member of any of the groups {:?}",
        String::from_utf8_lossy(&user),
        String::from_utf8_lossy(r.uri()),
        required
    ));
    Authz::Denied
}

/// `WSGIAccessScript`: `allow_access(environ, host)`.
pub fn check_access(r: Request) -> c_int {
    let Some(script) = DirConfig::of(&r).access_script.clone() else {
        return ffi::DECLINED as c_int;
    };
    let host = r.remote_host().unwrap_or(b"").to_vec();
    let decision = call(
        r,
        &script,
        "allow_access",
        move |py| vec![text_arg(py, &host)],
        |value| {
            if value.is_none() {
                Ok(None)
            } else if let Ok(b) = value.cast::<PyBool>() {
                Ok(Some(b.is_true()))
            } else {
                Err("allow_access() must return True, False or None".into())
            }
        },
    );
    match decision {
        Some(None) => ffi::DECLINED as c_int,
        Some(Some(true)) => ffi::OK as c_int,
        Some(Some(false)) => {
            r.log(
                Level::Error,
                &format!(
                "[WSGI-RS-E504] Client denied by server configuration (WSGIAccessScript '{}'): {}",
                script.path,
                String::from_utf8_lossy(r.uri())
            ),
            );
            ffi::HTTP_FORBIDDEN as c_int
        }
        None => ffi::HTTP_INTERNAL_SERVER_ERROR as c_int,
    }
}
