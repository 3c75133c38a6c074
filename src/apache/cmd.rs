//! Command-table entries (what `AP_INIT_*` expand to in C) and helpers for
//! directive handlers.

use std::ffi::{c_void, CStr};
use std::os::raw::{c_char, c_int};

use super::conf::{self, DirConf, ServerConf};
use super::server::Server;
use super::Pool;
use crate::ffi;

/// Where a directive may appear (`req_override`).
pub const SERVER: c_int = ffi::RSRC_CONF as c_int;
pub const SERVER_DIR: c_int = (ffi::RSRC_CONF | ffi::ACCESS_CONF) as c_int;
pub const FILEINFO: c_int = ffi::OR_FILEINFO as c_int;
pub const AUTHCFG: c_int = ffi::OR_AUTHCFG as c_int;

/// What a directive handler returns: `Err` fails the configuration with
/// the message (prefixed with the directive's name when it lacks it).
pub type Outcome = Result<(), String>;

/// The handler of a `TAKE1` or `ITERATE` directive (one argument), or of
/// a `RAW_ARGS` one (the rest of the line, as text: the handler splits
/// it, e.g. with `config::words::option_words`).
pub type TakeOneFn = fn(&mut Cmd, &str) -> Outcome;
/// The handler of a `FLAG` directive (On/Off).
pub type OnOffFn = fn(&mut Cmd, bool) -> Outcome;

/// A directive taking one argument (`TAKE1`), one per call (`ITERATE`),
/// or its whole line (`RAW_ARGS`).
pub trait TakeOne {
    const RUN: TakeOneFn;
}
/// An On/Off directive (`FLAG`).
pub trait OnOff {
    const RUN: OnOffFn;
}

/// The command table httpd reads: entries ending with [`END`].
#[repr(transparent)]
pub struct Table(pub &'static [ffi::command_rec]);
// SAFETY: httpd only reads the table; every pointer in it is 'static
// (string literals and functions).
unsafe impl Sync for Table {}

impl Table {
    pub const fn as_ptr(&'static self) -> *const ffi::command_rec {
        self.0.as_ptr()
    }
}

/// The zeroed entry (null name) that ends a command table.
pub const END: ffi::command_rec = ffi::command_rec {
    name: std::ptr::null(),
    func: ffi::cmd_func { take1: None },
    cmd_data: std::ptr::null_mut(),
    req_override: 0,
    args_how: 0,
    errmsg: std::ptr::null(),
};

/// Declares a module's command table from safe handlers: each entry
/// names how httpd passes arguments, the directive, the handler, where
/// the directive may appear ([`SERVER`], [`SERVER_DIR`], [`FILEINFO`],
/// [`AUTHCFG`]) and its help text. The `extern "C"` trampolines (with the
/// panic guard) are generated here, in `apache`, so the module writes no
/// `unsafe`.
///
/// To add a directive, add one line and write its handler:
/// - `take1(c"Name", handler, SCOPE, c"help")` and `iterate(…)`:
///   `fn handler(cmd: &mut Cmd, value: &str) -> Outcome`;
/// - `raw_args(c"Name", handler, SCOPE, c"help")`:
///   `fn handler(cmd: &mut Cmd, line: &str) -> Outcome` (the rest of the
///   line, unsplit);
/// - `flag(c"Name", handler, SCOPE, c"help")`:
///   `fn handler(cmd: &mut Cmd, on: bool) -> Outcome`;
/// - `entry(expr)`: a ready `command_rec` (e.g. from
///   [`raw_take1_entry`]) for a handler that needs httpd's raw arguments.
///
/// A handler reaches the configuration through [`Cmd::server_conf`] and
/// [`Cmd::dir_conf`].
#[macro_export]
macro_rules! command_table {
    ($vis:vis static $table:ident = [ $( $how:ident ( $($arg:tt)* ) ),* $(,)? ];) => {
        $vis static $table: $crate::apache::cmd::Table = $crate::apache::cmd::Table(&[
            $( $crate::command_entry!($how ( $($arg)* )), )*
            $crate::apache::cmd::END,
        ]);
    };
}

/// One entry of [`command_table!`].
#[macro_export]
macro_rules! command_entry {
    (entry($e:expr)) => { $e };
    (take1($($a:tt)*)) => { $crate::command_entry!(@one TakeOne, TakeOneFn, take1, $($a)*) };
    (iterate($($a:tt)*)) => { $crate::command_entry!(@one TakeOne, TakeOneFn, iterate, $($a)*) };
    (raw_args($($a:tt)*)) => { $crate::command_entry!(@one TakeOne, TakeOneFn, raw_args, $($a)*) };
    (flag($($a:tt)*)) => { $crate::command_entry!(@one OnOff, OnOffFn, flag, $($a)*) };
    (@one $trait:ident, $sig:ident, $ctor:ident,
     $name:literal, $handler:path, $scope:ident, $help:literal) => {{
        struct H;
        impl $crate::apache::cmd::$trait for H {
            const RUN: $crate::apache::cmd::$sig = $handler;
        }
        $crate::apache::cmd::$ctor::<H>($name, $crate::apache::cmd::$scope, $help)
    }};
}

const fn entry(
    name: &'static CStr,
    func: ffi::cmd_func,
    how: ffi::cmd_how,
    scope: c_int,
    help: &'static CStr,
) -> ffi::command_rec {
    ffi::command_rec {
        name: name.as_ptr(),
        func,
        cmd_data: std::ptr::null_mut(),
        req_override: scope,
        args_how: how,
        errmsg: help.as_ptr(),
    }
}

/// `AP_INIT_TAKE1` over a safe handler.
pub const fn take1<H: TakeOne>(
    name: &'static CStr,
    scope: c_int,
    help: &'static CStr,
) -> ffi::command_rec {
    one_arg::<H>(ffi::cmd_how_TAKE1, name, scope, help)
}

/// `AP_INIT_ITERATE`: the handler is called once per argument.
pub const fn iterate<H: TakeOne>(
    name: &'static CStr,
    scope: c_int,
    help: &'static CStr,
) -> ffi::command_rec {
    one_arg::<H>(ffi::cmd_how_ITERATE, name, scope, help)
}

const fn one_arg<H: TakeOne>(
    how: ffi::cmd_how,
    name: &'static CStr,
    scope: c_int,
    help: &'static CStr,
) -> ffi::command_rec {
    entry(
        name,
        ffi::cmd_func {
            take1: Some(take_one::<H>),
        },
        how,
        scope,
        help,
    )
}

/// `AP_INIT_RAW_ARGS`: the handler gets the rest of the line.
pub const fn raw_args<H: TakeOne>(
    name: &'static CStr,
    scope: c_int,
    help: &'static CStr,
) -> ffi::command_rec {
    entry(
        name,
        ffi::cmd_func {
            raw_args: Some(take_one::<H>),
        },
        ffi::cmd_how_RAW_ARGS,
        scope,
        help,
    )
}

/// `AP_INIT_FLAG`.
pub const fn flag<H: OnOff>(
    name: &'static CStr,
    scope: c_int,
    help: &'static CStr,
) -> ffi::command_rec {
    let func = ffi::cmd_func {
        flag: Some(on_off::<H>),
    };
    entry(name, func, ffi::cmd_how_FLAG, scope, help)
}

/// Handler signature httpd calls for a one-argument or raw-args directive.
pub type RawTake1 =
    unsafe extern "C" fn(*mut ffi::cmd_parms, *mut c_void, *const c_char) -> *const c_char;

/// `AP_INIT_RAW_ARGS` over a raw `extern "C"` handler, for a directive
/// that needs httpd's own arguments (a configuration section). The
/// handler must run its body through [`super::guard`].
pub const fn raw_take1_entry(
    name: &'static CStr,
    f: RawTake1,
    scope: c_int,
    help: &'static CStr,
) -> ffi::command_rec {
    entry(
        name,
        ffi::cmd_func { raw_args: Some(f) },
        ffi::cmd_how_RAW_ARGS,
        scope,
        help,
    )
}

/// Runs a directive handler inside the panic guard and turns its result
/// into what httpd expects (NULL, or a pooled error string naming the
/// directive).
fn run(
    cmd: *mut ffi::cmd_parms,
    mconfig: *mut c_void,
    body: impl FnOnce(&mut Cmd) -> Outcome,
) -> *const c_char {
    super::guard(
        "directive",
        c"mod_wsgi_rs: internal error parsing a directive".as_ptr(),
        || {
            let mut cmd = Cmd { raw: cmd, mconfig };
            let name = cmd.directive_name();
            let result = body(&mut cmd).map_err(|e| {
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

/// # Safety
/// Called by httpd only: `cmd` is the live cmd_parms of the directive,
/// `m` the config of the section being parsed, `arg` a NUL-terminated
/// argument.
unsafe extern "C" fn take_one<H: TakeOne>(
    cmd: *mut ffi::cmd_parms,
    m: *mut c_void,
    arg: *const c_char,
) -> *const c_char {
    // SAFETY: httpd passes a NUL-terminated argument living for the call.
    let value = unsafe { super::cstr_lossy(arg) }.unwrap_or_default();
    run(cmd, m, |cmd| H::RUN(cmd, &value))
}

/// # Safety
/// As [`take_one`], with `on` httpd's parsed On/Off.
unsafe extern "C" fn on_off<H: OnOff>(
    cmd: *mut ffi::cmd_parms,
    m: *mut c_void,
    on: c_int,
) -> *const c_char {
    run(cmd, m, |cmd| H::RUN(cmd, on != 0))
}

/// The directive being parsed: httpd's `cmd_parms` and the configuration
/// of the section it sits in. Only built by the trampolines above, while
/// httpd runs a directive handler (on the one configuration thread).
pub struct Cmd {
    raw: *mut ffi::cmd_parms,
    /// The per-directory config of the section being parsed (httpd's
    /// `mconfig` argument).
    mconfig: *mut c_void,
}

impl Cmd {
    pub fn pool(&self) -> Pool {
        // SAFETY: cmd->pool is the config pool, live while parsing.
        unsafe { Pool::from_raw((*self.raw).pool) }
    }
    /// The server (virtual host) being configured.
    pub fn server(&self) -> Server {
        // SAFETY: cmd is live; cmd->server is the server being configured.
        unsafe { Server::from_raw((*self.raw).server) }
    }
    /// This module's configuration of the server being configured.
    pub fn server_conf<T: ServerConf>(&mut self) -> &mut T {
        let s = self.server();
        // SAFETY: the slot holds a pool-owned T (ServerConf's contract);
        // it is only written while the configuration is parsed, on one
        // thread, and this exclusive borrow of the Cmd is the only live
        // reference for the handler's duration.
        unsafe { &mut *s.module_config(&*conf::module()).cast::<T>() }
    }
    /// This module's configuration of the section being parsed.
    pub fn dir_conf<T: DirConf>(&mut self) -> &mut T {
        // SAFETY: mconfig is the per-directory config create_dir_config
        // made for this section (DirConf's contract), written only while
        // parsing; the exclusive borrow of the Cmd bounds the reference.
        unsafe { &mut *self.mconfig.cast::<T>() }
    }
    pub fn directive_name(&self) -> String {
        // SAFETY: cmd->cmd is the live command_rec being run.
        unsafe { super::cstr_lossy((*(*self.raw).cmd).name) }.unwrap_or_default()
    }
    /// `ap_check_cmd_context(cmd, GLOBAL_ONLY)`: an error when the
    /// directive sits inside a `<VirtualHost>` or a section.
    pub fn check_global_only(&self) -> Outcome {
        // SAFETY: cmd is live; the returned message is static or pooled.
        let err = unsafe { ffi::ap_check_cmd_context(self.raw, ffi::GLOBAL_ONLY as _) };
        // SAFETY: err is null or a NUL-terminated string.
        match unsafe { super::cstr_lossy(err) } {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
    /// Where in the configuration this directive is (file:line), if known.
    pub fn location(&self) -> Option<String> {
        // SAFETY: cmd->directive is the live config node.
        unsafe {
            let d = (*self.raw).directive;
            if d.is_null() {
                return None;
            }
            let file = super::cstr_lossy((*d).filename)?;
            Some(format!("{}:{}", file, (*d).line_num))
        }
    }

    /// `ap_server_root_relative`: `path` made absolute against the
    /// ServerRoot (None if httpd cannot).
    pub fn server_root_relative(&self, path: &str) -> Option<String> {
        let pool = self.pool();
        // SAFETY: the pool is live; the result is null or a string in it.
        unsafe {
            super::cstr_lossy(ffi::ap_server_root_relative(
                pool.as_ptr(),
                pool.strdup(path.as_bytes()),
            ))
        }
    }

    /// The directives inside this section (`<Name …>` … `</Name>`), as
    /// httpd parsed them: (name, raw arguments, file:line).
    pub fn section_children(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        // SAFETY: cmd->directive is the live config node of the section;
        // its children are live nodes of the same tree.
        unsafe {
            let d = (*self.raw).directive;
            let mut child = if d.is_null() {
                std::ptr::null_mut()
            } else {
                (*d).first_child
            };
            while !child.is_null() {
                let name = super::cstr_lossy((*child).directive).unwrap_or_default();
                let args = super::cstr_lossy((*child).args).unwrap_or_default();
                let file = super::cstr_lossy((*child).filename).unwrap_or_default();
                out.push((name, args, format!("{file}:{}", (*child).line_num)));
                child = (*child).next;
            }
        }
        out
    }

    /// Turns a handler result into what httpd wants: NULL or a pooled
    /// error string.
    fn result(&self, r: Outcome) -> *const c_char {
        match r {
            Ok(()) => std::ptr::null(),
            Err(msg) => self.pool().strdup(msg.as_bytes()),
        }
    }
}

/// Splits a raw-args line as httpd's `ap_getword_conf` does (quotes, and
/// backslash escapes inside quotes).
pub fn split_conf_words(pool: Pool, line: *const c_char) -> Vec<String> {
    let mut words = Vec::new();
    let mut cursor = line;
    loop {
        // SAFETY: cursor walks the NUL-terminated line; ap_getword_conf
        // advances it and returns a pooled copy of each word.
        let word = unsafe { ffi::ap_getword_conf(pool.as_ptr(), &mut cursor) };
        // SAFETY: word is a pooled NUL-terminated string.
        match unsafe { super::cstr_lossy(word) } {
            Some(w) if !w.is_empty() => words.push(w),
            _ => break,
        }
    }
    words
}
