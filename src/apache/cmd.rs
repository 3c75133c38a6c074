//! Command-table entries (what `AP_INIT_*` expand to in C) and helpers for
//! directive handlers.

use std::ffi::{c_void, CStr};
use std::os::raw::{c_char, c_int};

use super::Pool;
use crate::ffi;

/// Handler signature of a one-argument or raw-args directive.
pub type Take1 =
    unsafe extern "C" fn(*mut ffi::cmd_parms, *mut c_void, *const c_char) -> *const c_char;
/// Handler signature of an On/Off directive.
pub type Flag = unsafe extern "C" fn(*mut ffi::cmd_parms, *mut c_void, c_int) -> *const c_char;

/// Where a directive may appear (`req_override`).
pub const SERVER: c_int = ffi::RSRC_CONF as c_int;
pub const SERVER_DIR: c_int = (ffi::RSRC_CONF | ffi::ACCESS_CONF) as c_int;
pub const FILEINFO: c_int = ffi::OR_FILEINFO as c_int;
pub const AUTHCFG: c_int = ffi::OR_AUTHCFG as c_int;

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

/// `AP_INIT_TAKE1`.
pub const fn take1(
    name: &'static CStr,
    f: Take1,
    scope: c_int,
    help: &'static CStr,
) -> ffi::command_rec {
    entry(
        name,
        ffi::cmd_func { take1: Some(f) },
        ffi::cmd_how_TAKE1,
        scope,
        help,
    )
}
/// `AP_INIT_ITERATE`: the handler is called once per argument.
pub const fn iterate(
    name: &'static CStr,
    f: Take1,
    scope: c_int,
    help: &'static CStr,
) -> ffi::command_rec {
    entry(
        name,
        ffi::cmd_func { take1: Some(f) },
        ffi::cmd_how_ITERATE,
        scope,
        help,
    )
}
/// `AP_INIT_RAW_ARGS`: the handler parses the rest of the line itself.
pub const fn raw_args(
    name: &'static CStr,
    f: Take1,
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
/// `AP_INIT_FLAG`.
pub const fn flag(
    name: &'static CStr,
    f: Flag,
    scope: c_int,
    help: &'static CStr,
) -> ffi::command_rec {
    entry(
        name,
        ffi::cmd_func { flag: Some(f) },
        ffi::cmd_how_FLAG,
        scope,
        help,
    )
}

/// A wrapped `cmd_parms`.
#[derive(Clone, Copy)]
pub struct Cmd(*mut ffi::cmd_parms);

impl Cmd {
    /// # Safety
    /// `cmd` must be the live cmd_parms of the directive being parsed.
    pub unsafe fn from_raw(cmd: *mut ffi::cmd_parms) -> Self {
        Cmd(cmd)
    }
    pub fn pool(self) -> Pool {
        // SAFETY: cmd->pool is the config pool, live while parsing.
        unsafe { Pool::from_raw((*self.0).pool) }
    }
    pub fn server(self) -> *mut ffi::server_rec {
        // SAFETY: cmd is live.
        unsafe { (*self.0).server }
    }
    pub fn directive_name(self) -> String {
        // SAFETY: cmd->cmd is the live command_rec being run.
        unsafe { super::cstr_lossy((*(*self.0).cmd).name) }.unwrap_or_default()
    }
    /// `ap_check_cmd_context(cmd, GLOBAL_ONLY)`: an error when the
    /// directive sits inside a `<VirtualHost>` or a section.
    pub fn check_global_only(self) -> Result<(), String> {
        // SAFETY: cmd is live; the returned message is static or pooled.
        let err = unsafe { ffi::ap_check_cmd_context(self.0, ffi::GLOBAL_ONLY as _) };
        // SAFETY: err is null or a NUL-terminated string.
        match unsafe { super::cstr_lossy(err) } {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
    /// Where in the configuration this directive is (file:line), if known.
    pub fn location(self) -> Option<String> {
        // SAFETY: cmd->directive is the live config node.
        unsafe {
            let d = (*self.0).directive;
            if d.is_null() {
                return None;
            }
            let file = super::cstr_lossy((*d).filename)?;
            Some(format!("{}:{}", file, (*d).line_num))
        }
    }
    /// The directives inside this section (`<Name …>` … `</Name>`), as
    /// httpd parsed them: (name, raw arguments, file:line).
    pub fn section_children(self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        // SAFETY: cmd->directive is the live config node of the section;
        // its children are live nodes of the same tree.
        unsafe {
            let d = (*self.0).directive;
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
    pub fn result(self, r: Result<(), String>) -> *const c_char {
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
