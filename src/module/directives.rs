//! The directive table and its handlers. Each handler parses with the
//! pure functions of `crate::config` and stores into the pool-owned
//! configuration; errors name the directive and the fix, and fail
//! `apache2 -t`.

use std::ffi::c_void;
use std::os::raw::{c_char, c_int};
use std::sync::Arc;

use super::interp_directives;
use super::store::{Alias, ImportScript, Pattern, ServerConfig};
use crate::apache::cmd::{self, split_conf_words, Cmd, AUTHCFG, FILEINFO, SERVER, SERVER_DIR};
use crate::apache::{self, cstr_lossy, regex::Regex};
use crate::config::daemon::DaemonGroup;
use crate::config::proxy::{ProxyHeader, TrustedNet};
use crate::config::python_home::{check_python_home, parse_version};
use crate::config::scripts::{HandlerScript, ScriptRef};
use crate::config::{AliasOptions, DirConfig, HeadMode};
use crate::daemon::GroupEntry;
use crate::ffi;

/// `command_rec` array terminated by a zeroed entry.
#[repr(transparent)]
pub struct Table(pub [ffi::command_rec; 47]);
// SAFETY: httpd only reads the table; the pointers in it are 'static.
unsafe impl Sync for Table {}

impl Table {
    pub const fn as_ptr(&'static self) -> *const ffi::command_rec {
        self.0.as_ptr()
    }
}

pub static TABLE: Table = Table([
    cmd::raw_args(c"WSGIScriptAlias", script_alias, SERVER, c"URL-path file-path [process-group=NAME] [application-group=NAME] [callable-object=NAME] [pass-authorization=On|Off]"),
    cmd::raw_args(c"WSGIScriptAliasMatch", script_alias_match, SERVER, c"regex file-path [options]"),
    cmd::take1(c"WSGIPythonPath", python_path, SERVER, c"Colon-separated directories added to sys.path"),
    cmd::take1(c"WSGIPythonHome", python_home, SERVER, c"Python home or virtualenv directory"),
    cmd::take1(c"WSGIPythonOptimize", python_optimize, SERVER, c"Python optimisation level: 0, 1 or 2"),
    cmd::flag(c"WSGIDontWriteBytecode", dont_write_bytecode, SERVER, c"On: do not write .pyc files"),
    cmd::flag(c"WSGIRestrictEmbedded", restrict_embedded, SERVER, c"On: refuse to run applications in Apache's own processes"),
    cmd::take1(c"WSGIApplicationGroup", application_group, SERVER_DIR, c"Application group (interpreter): %{GLOBAL} or a name"),
    cmd::take1(c"WSGIProcessGroup", process_group, SERVER_DIR, c"Daemon process group name, %{ENV:var}, or %{GLOBAL} for embedded mode"),
    cmd::raw_args(c"WSGIDaemonProcess", daemon_process, SERVER, c"name [option=value ...]"),
    cmd::take1(c"WSGICallableObject", callable_object, FILEINFO, c"Name of the WSGI callable in the script (default: application)"),
    cmd::flag(c"WSGIPassAuthorization", pass_authorization, FILEINFO, c"On: pass the Authorization header to the application"),
    cmd::flag(c"WSGIChunkedRequest", chunked_request, FILEINFO, c"On: accept chunked request bodies"),
    cmd::take1(c"WSGIMapHEADToGET", map_head_to_get, FILEINFO, c"On | Off | Auto: present HEAD requests as GET"),
    cmd::flag(c"WSGIEnableSendfile", enable_sendfile, FILEINFO, c"On: send wsgi.file_wrapper files with sendfile"),
    cmd::flag(c"WSGIScriptReloading", script_reloading, FILEINFO, c"On: reload a script when its file changes"),
    cmd::iterate(c"WSGITrustedProxyHeaders", trusted_proxy_headers, FILEINFO, c"Forwarding headers to trust (X-Forwarded-For, ...)"),
    cmd::iterate(c"WSGITrustedProxies", trusted_proxies, FILEINFO, c"Proxy addresses or CIDR networks whose headers are trusted"),
    cmd::raw_args(c"WSGIAccessScript", access_script, AUTHCFG, c"path [application-group=NAME]: allow_access(environ, host)"),
    cmd::raw_args(c"WSGIAuthUserScript", auth_user_script, AUTHCFG, c"path [application-group=NAME]: check_password / get_realm_hash"),
    cmd::raw_args(c"WSGIAuthGroupScript", auth_group_script, AUTHCFG, c"path [application-group=NAME]: groups_for_user(environ, user)"),
    cmd::flag(c"WSGIGroupAuthoritative", group_authoritative, AUTHCFG, c"Accepted for compatibility (no effect with Apache 2.4 authz providers)"),
    cmd::raw_args(c"WSGIDispatchScript", dispatch_script, SERVER_DIR, c"path [application-group=NAME]: choose group and callable per request"),
    cmd::raw_args(c"WSGIHandlerScript", handler_script, SERVER_DIR, c"handler-name path [process-group=NAME] [application-group=NAME] [pass-authorization=On|Off]"),
    cmd::flag(c"WSGIPassApacheRequest", pass_apache_request, SERVER_DIR, c"On: add apache.request_rec (a capsule) to the environ"),
    cmd::take1(c"WSGIPythonWarnings", python_warnings, SERVER, c"A Python -W warning filter (repeatable)"),
    cmd::take1(c"WSGIPythonHashSeed", python_hash_seed, SERVER, c"random or a number from 0 to 4294967295"),
    cmd::take1(c"WSGIPythonEggs", python_eggs, SERVER, c"Directory for PYTHON_EGG_CACHE"),
    cmd::flag(c"WSGIRestrictStdin", restrict_stdin, SERVER, c"On: sys.stdin raises on use"),
    cmd::flag(c"WSGIRestrictStdout", restrict_stdout, SERVER, c"On: sys.stdout raises on use"),
    cmd::flag(c"WSGIRestrictSignal", restrict_signal, SERVER, c"On (default): signal.signal() is logged and ignored"),
    cmd::flag(c"WSGIDestroyInterpreter", destroy_interpreter, SERVER, c"Off: skip Python finalisation at process exit"),
    cmd::flag(c"WSGICaseSensitivity", case_sensitivity, SERVER, c"Whether script paths are case sensitive"),
    cmd::flag(c"WSGIServerMetrics", server_metrics, SERVER, c"On: mod_wsgi.server_metrics() returns Apache's scoreboard in embedded mode"),
    cmd::raw_args(c"WSGIImportScript", import_script, SERVER, c"path process-group=NAME application-group=NAME"),
    cmd::take1(c"WSGISocketPrefix", socket_prefix, SERVER, c"Path prefix of the daemon sockets (default: the runtime directory's 'wsgi')"),
    cmd::flag(c"WSGISocketRotation", accepted_flag, SERVER, c"Accepted for compatibility: daemon socket names are always stable across restarts"),
    cmd::take1(c"WSGIAcceptMutex", accepted_noop, SERVER, c"Accepted for compatibility: daemon processes need no accept mutex"),
    cmd::iterate(c"WSGIRestrictProcess", restrict_process, SERVER_DIR, c"Process groups requests here may use (%{GLOBAL} for embedded mode)"),
    cmd::flag(c"WSGIErrorOverride", error_override, FILEINFO, c"On: daemon error responses (4xx/5xx) are replaced by Apache's ErrorDocument"),
    cmd::flag(c"WSGILazyInitialization", accepted_flag, SERVER, c"Accepted for compatibility: Python always starts in the child processes"),
    cmd::flag(c"WSGIVerboseDebugging", accepted_flag, SERVER, c"Accepted for compatibility: use LogLevel wsgi:debug"),
    cmd::flag(c"WSGIPerInterpreterGIL", interp_directives::per_interpreter_gil, SERVER, c"On: named application groups get their own GIL (Python 3.12+)"),
    cmd::take1(c"WSGISwitchInterval", interp_directives::switch_interval, SERVER, c"Seconds between GIL hand-offs (sys.setswitchinterval)"),
    cmd::flag(c"WSGIFreeThreading", interp_directives::free_threading, SERVER, c"On: a free-threaded Python runs without the GIL"),
    cmd::raw_args(c"<WSGIInterpreterOptions", interp_directives::interpreter_options, SERVER, c"[process-group=NAME] [application-group=NAME]: interpreter options for those groups"),
    // SAFETY: a zeroed command_rec (null name) terminates the table.
    unsafe { std::mem::zeroed() },
]);

/// Runs a directive handler inside the panic guard and turns its result
/// into what httpd expects.
pub(super) fn run(
    cmd: *mut ffi::cmd_parms,
    body: impl FnOnce(Cmd) -> Result<(), String>,
) -> *const c_char {
    apache::guard(
        "directive",
        c"mod_wsgi_rs: internal error parsing a directive".as_ptr(),
        || {
            // SAFETY: httpd passes the live cmd_parms of this directive.
            let cmd = unsafe { Cmd::from_raw(cmd) };
            let name = cmd.directive_name();
            let result = body(cmd).map_err(|e| {
                if e.starts_with(&name) {
                    e
                } else {
                    format!("{name}: {e}")
                }
            });
            cmd.result(result)
        },
    )
}

pub(super) fn server_conf<'a>(cmd: Cmd) -> &'a mut ServerConfig {
    // SAFETY: the slot was created by create_server_config for this
    // server and is only written while the configuration is parsed, on
    // one thread.
    unsafe {
        &mut *apache::server::module_config((*cmd.server()).module_config, super::module_ptr())
            .cast::<ServerConfig>()
    }
}

fn dir_conf<'a>(mconfig: *mut c_void) -> &'a mut DirConfig {
    // SAFETY: mconfig is the DirConfig create_dir_config made for the
    // section being parsed.
    unsafe { &mut *mconfig.cast::<DirConfig>() }
}

pub(super) fn arg(p: *const c_char) -> String {
    // SAFETY: httpd passes NUL-terminated argument strings.
    unsafe { cstr_lossy(p) }.unwrap_or_default()
}

fn words(cmd: Cmd, line: *const c_char) -> Vec<String> {
    split_conf_words(cmd.pool(), line)
}

unsafe extern "C" fn script_alias(
    cmd: *mut ffi::cmd_parms,
    _m: *mut c_void,
    line: *const c_char,
) -> *const c_char {
    run(cmd, |cmd| {
        let w = words(cmd, line);
        if w.len() < 2 {
            return Err(
                "requires a URL-path and a file-path, e.g. WSGIScriptAlias / /srv/app/app.wsgi"
                    .into(),
            );
        }
        let options = AliasOptions::parse("WSGIScriptAlias", &w[2..])?;
        warn_if_missing(cmd, &w[1]);
        let alias = Alias {
            pattern: Pattern::Prefix(w[0].as_bytes().to_vec()),
            target: w[1].clone(),
            options,
        };
        server_conf(cmd).aliases.push(Arc::new(alias));
        Ok(())
    })
}

unsafe extern "C" fn script_alias_match(
    cmd: *mut ffi::cmd_parms,
    _m: *mut c_void,
    line: *const c_char,
) -> *const c_char {
    run(cmd, |cmd| {
        let w = words(cmd, line);
        if w.len() < 2 {
            return Err("requires a regular expression and a file-path, e.g. WSGIScriptAliasMatch ^/app/([^/]+) /srv/$1.wsgi".into());
        }
        let options = AliasOptions::parse("WSGIScriptAliasMatch", &w[2..])?;
        let regex = Regex::compile(cmd.pool(), &w[0])
            .ok_or_else(|| format!("'{}' is not a valid regular expression", w[0]))?;
        let alias = Alias {
            pattern: Pattern::Regex(regex),
            target: w[1].clone(),
            options,
        };
        server_conf(cmd).aliases.push(Arc::new(alias));
        Ok(())
    })
}

unsafe extern "C" fn python_path(
    cmd: *mut ffi::cmd_parms,
    _m: *mut c_void,
    value: *const c_char,
) -> *const c_char {
    run(cmd, |cmd| {
        cmd.check_global_only()?;
        let conf = server_conf(cmd);
        conf.python.path.extend(
            arg(value)
                .split(':')
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
        );
        Ok(())
    })
}

unsafe extern "C" fn python_home(
    cmd: *mut ffi::cmd_parms,
    _m: *mut c_void,
    value: *const c_char,
) -> *const c_char {
    run(cmd, |cmd| {
        cmd.check_global_only()?;
        let home = arg(value);
        check_home("WSGIPythonHome", &home)?;
        server_conf(cmd).python.home = Some(home);
        Ok(())
    })
}

unsafe extern "C" fn python_optimize(
    cmd: *mut ffi::cmd_parms,
    _m: *mut c_void,
    value: *const c_char,
) -> *const c_char {
    run(cmd, |cmd| {
        cmd.check_global_only()?;
        let v = arg(value);
        let level = v
            .parse::<i32>()
            .ok()
            .filter(|l| (0..=2).contains(l))
            .ok_or_else(|| format!("must be 0, 1 or 2 (got '{v}')"))?;
        server_conf(cmd).python.optimize = level;
        Ok(())
    })
}

unsafe extern "C" fn application_group(
    cmd: *mut ffi::cmd_parms,
    m: *mut c_void,
    value: *const c_char,
) -> *const c_char {
    run(cmd, |_| {
        dir_conf(m).application_group = Some(arg(value));
        Ok(())
    })
}

unsafe extern "C" fn process_group(
    cmd: *mut ffi::cmd_parms,
    m: *mut c_void,
    value: *const c_char,
) -> *const c_char {
    run(cmd, |_| {
        dir_conf(m).process_group = Some(arg(value));
        Ok(())
    })
}

unsafe extern "C" fn daemon_process(
    cmd: *mut ffi::cmd_parms,
    _m: *mut c_void,
    line: *const c_char,
) -> *const c_char {
    run(cmd, |cmd| {
        let group = DaemonGroup::parse(&words(cmd, line))?;
        if let Some(home) = &group.python_home {
            check_home(
                &format!("python-home= of WSGIDaemonProcess {}", group.name),
                home,
            )?;
        }
        let conf = server_conf(cmd);
        if conf.daemons.iter().any(|g| g.conf.name == group.name) {
            return Err(format!(
                "Name duplicates previous WSGI daemon definition: '{}'",
                group.name
            ));
        }
        conf.daemons.push(Arc::new(GroupEntry::new(group)));
        Ok(())
    })
}

unsafe extern "C" fn socket_prefix(
    cmd: *mut ffi::cmd_parms,
    _m: *mut c_void,
    value: *const c_char,
) -> *const c_char {
    run(cmd, |cmd| {
        cmd.check_global_only()?;
        let v = arg(value);
        let path = if v.starts_with('/') {
            v
        } else {
            // SAFETY: the pool is live; the result is a string in it.
            let root = unsafe {
                cstr_lossy(ffi::ap_server_root_relative(
                    cmd.pool().as_ptr(),
                    cmd.pool().strdup(v.as_bytes()),
                ))
            };
            root.unwrap_or(v)
        };
        server_conf(cmd).socket_prefix = Some(path);
        Ok(())
    })
}

unsafe extern "C" fn restrict_process(
    cmd: *mut ffi::cmd_parms,
    m: *mut c_void,
    value: *const c_char,
) -> *const c_char {
    run(cmd, |_| {
        let v = arg(value);
        let name = if v == "%{GLOBAL}" { String::new() } else { v };
        dir_conf(m)
            .restrict_process
            .get_or_insert_with(Vec::new)
            .push(name);
        Ok(())
    })
}

unsafe extern "C" fn callable_object(
    cmd: *mut ffi::cmd_parms,
    m: *mut c_void,
    value: *const c_char,
) -> *const c_char {
    run(cmd, |_| {
        dir_conf(m).callable_object = Some(arg(value));
        Ok(())
    })
}

macro_rules! flag_handler {
    ($name:ident, $field:ident) => {
        unsafe extern "C" fn $name(
            cmd: *mut ffi::cmd_parms,
            m: *mut c_void,
            on: c_int,
        ) -> *const c_char {
            run(cmd, |_| {
                dir_conf(m).$field = Some(on != 0);
                Ok(())
            })
        }
    };
}

flag_handler!(pass_authorization, pass_authorization);
flag_handler!(chunked_request, chunked_request);
flag_handler!(enable_sendfile, enable_sendfile);
flag_handler!(script_reloading, script_reloading);
flag_handler!(group_authoritative, group_authoritative);
flag_handler!(pass_apache_request, pass_apache_request);
flag_handler!(error_override, error_override);

macro_rules! script_handler {
    ($name:ident, $field:ident, $directive:literal) => {
        unsafe extern "C" fn $name(
            cmd: *mut ffi::cmd_parms,
            m: *mut c_void,
            line: *const c_char,
        ) -> *const c_char {
            run(cmd, |cmd| {
                dir_conf(m).$field = Some(ScriptRef::parse($directive, &words(cmd, line))?);
                Ok(())
            })
        }
    };
}

script_handler!(access_script, access_script, "WSGIAccessScript");
script_handler!(auth_user_script, auth_user_script, "WSGIAuthUserScript");
script_handler!(auth_group_script, auth_group_script, "WSGIAuthGroupScript");
script_handler!(dispatch_script, dispatch_script, "WSGIDispatchScript");

unsafe extern "C" fn handler_script(
    cmd: *mut ffi::cmd_parms,
    m: *mut c_void,
    line: *const c_char,
) -> *const c_char {
    run(cmd, |cmd| {
        let h = HandlerScript::parse(&words(cmd, line))?;
        let list = &mut dir_conf(m).handler_scripts;
        list.retain(|x| x.name != h.name);
        list.push(h);
        Ok(())
    })
}

unsafe extern "C" fn map_head_to_get(
    cmd: *mut ffi::cmd_parms,
    m: *mut c_void,
    value: *const c_char,
) -> *const c_char {
    run(cmd, |_| {
        dir_conf(m).map_head_to_get = Some(HeadMode::parse(&arg(value))?);
        Ok(())
    })
}

unsafe extern "C" fn trusted_proxy_headers(
    cmd: *mut ffi::cmd_parms,
    m: *mut c_void,
    value: *const c_char,
) -> *const c_char {
    run(cmd, |_| {
        let header = ProxyHeader::parse(&arg(value))?;
        let list = dir_conf(m)
            .trusted_proxy_headers
            .get_or_insert_with(Vec::new);
        if !list.contains(&header) {
            list.push(header);
        }
        Ok(())
    })
}

unsafe extern "C" fn trusted_proxies(
    cmd: *mut ffi::cmd_parms,
    m: *mut c_void,
    value: *const c_char,
) -> *const c_char {
    run(cmd, |_| {
        let net = TrustedNet::parse(&arg(value))?;
        dir_conf(m)
            .trusted_proxies
            .get_or_insert_with(Vec::new)
            .push(net);
        Ok(())
    })
}

unsafe extern "C" fn accepted_noop(
    cmd: *mut ffi::cmd_parms,
    _m: *mut c_void,
    _v: *const c_char,
) -> *const c_char {
    run(cmd, |cmd| cmd.check_global_only())
}

unsafe extern "C" fn accepted_flag(
    cmd: *mut ffi::cmd_parms,
    _m: *mut c_void,
    _on: c_int,
) -> *const c_char {
    run(cmd, |cmd| cmd.check_global_only())
}

macro_rules! global_flag {
    ($name:ident, $field:ident, $value:expr) => {
        unsafe extern "C" fn $name(
            cmd: *mut ffi::cmd_parms,
            _m: *mut c_void,
            on: c_int,
        ) -> *const c_char {
            run(cmd, |cmd| {
                cmd.check_global_only()?;
                let on = on != 0;
                server_conf(cmd).python.$field = $value(on);
                Ok(())
            })
        }
    };
}

global_flag!(dont_write_bytecode, dont_write_bytecode, |on| on);
global_flag!(restrict_embedded, restrict_embedded, |on| on);
global_flag!(restrict_stdin, restrict_stdin, |on| on);
global_flag!(restrict_stdout, restrict_stdout, |on| on);
global_flag!(restrict_signal, restrict_signal, Some);
global_flag!(destroy_interpreter, destroy_interpreter, Some);
global_flag!(case_sensitivity, case_sensitive, Some);
global_flag!(server_metrics, server_metrics, |on| on);

unsafe extern "C" fn python_warnings(
    cmd: *mut ffi::cmd_parms,
    _m: *mut c_void,
    value: *const c_char,
) -> *const c_char {
    run(cmd, |cmd| {
        cmd.check_global_only()?;
        server_conf(cmd).python.warnings.push(arg(value));
        Ok(())
    })
}

unsafe extern "C" fn python_hash_seed(
    cmd: *mut ffi::cmd_parms,
    _m: *mut c_void,
    value: *const c_char,
) -> *const c_char {
    run(cmd, |cmd| {
        cmd.check_global_only()?;
        let v = arg(value);
        server_conf(cmd).python.hash_seed = match v.as_str() {
            "random" => None,
            n => Some(n.parse::<u32>().map_err(|_| {
                format!("must be 'random' or a number from 0 to 4294967295 (got '{v}')")
            })?),
        };
        Ok(())
    })
}

unsafe extern "C" fn python_eggs(
    cmd: *mut ffi::cmd_parms,
    _m: *mut c_void,
    value: *const c_char,
) -> *const c_char {
    run(cmd, |cmd| {
        cmd.check_global_only()?;
        server_conf(cmd).python.python_eggs = Some(arg(value));
        Ok(())
    })
}

unsafe extern "C" fn import_script(
    cmd: *mut ffi::cmd_parms,
    _m: *mut c_void,
    line: *const c_char,
) -> *const c_char {
    run(cmd, |cmd| {
        let w = words(cmd, line);
        let Some((path, rest)) = w.split_first() else {
            return Err("requires a script path, process-group= and application-group=".into());
        };
        let opts = AliasOptions::parse("WSGIImportScript", rest)?;
        let process_group = opts.process_group.ok_or(
            "Name of WSGI process group required (process-group=%{GLOBAL} for embedded mode)",
        )?;
        let application_group = opts.application_group.ok_or("Name of WSGI application group required (application-group=%{GLOBAL} for the main interpreter)")?;
        server_conf(cmd).python.import_scripts.push(ImportScript {
            path: path.clone(),
            process_group,
            application_group,
        });
        Ok(())
    })
}

/// The Python version this module was built against.
fn built_python_version() -> (u32, u32) {
    // SAFETY: Py_GetVersion returns a static string and needs no
    // initialised interpreter.
    let text = unsafe { cstr_lossy(pyo3::ffi::Py_GetVersion()) }.unwrap_or_default();
    parse_version(&text).unwrap_or((3, 0))
}

/// A script target that does not exist is only a warning: it may be
/// deployed after Apache starts. Shown by `apache2 -t` too.
fn warn_if_missing(cmd: Cmd, target: &str) {
    if std::path::Path::new(target).exists() {
        return;
    }
    let at = cmd
        .location()
        .map(|l| format!(" ({l})"))
        .unwrap_or_default();
    crate::apache::log::server(
        crate::apache::server::Server::none(),
        crate::apache::Level::Warn,
        &format!("[WSGI-RS-W601] WSGI script target '{target}'{at} does not exist (yet); requests to it will get 404 until it does"),
    );
}

/// Refuses a Python home built for another Python version (E602); warns
/// about one that does not exist yet (W602).
fn check_home(what: &str, home: &str) -> Result<(), String> {
    match check_python_home(std::path::Path::new(home), built_python_version()) {
        Err(e) => Err(format!("[WSGI-RS-E602] {what}: {e}")),
        Ok(Some(note)) => {
            crate::apache::log::server(
                crate::apache::server::Server::none(),
                crate::apache::Level::Warn,
                &format!("[WSGI-RS-W602] {what}: {note}"),
            );
            Ok(())
        }
        Ok(None) => Ok(()),
    }
}
