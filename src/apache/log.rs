//! Logging into Apache's error log through the C shim, always with a
//! `"%s"` format. Messages respect `LogLevel wsgi:LEVEL` because httpd's
//! logger checks the module's own level.

use std::ffi::CString;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicI32, AtomicPtr, Ordering};

use super::server::Server;
use crate::ffi;

/// The module index httpd assigned at this load; set in `register_hooks`.
static MODULE_INDEX: AtomicI32 = AtomicI32::new(-1);

/// Records the module index httpd assigned (it may change per load).
pub fn set_module_index(index: c_int) {
    MODULE_INDEX.store(index, Ordering::Relaxed);
}

fn module_index() -> c_int {
    MODULE_INDEX.load(Ordering::Relaxed).max(0)
}

/// The server whose error log and `LogLevel` the processes forked from
/// the parent (supervisors, daemons) log against: stored by the parent
/// just before it forks one (the current generation's main server), so
/// each forked process holds the server_rec of the configuration it was
/// forked with, which it never frees.
static FORKED_SERVER: AtomicPtr<ffi::server_rec> = AtomicPtr::new(std::ptr::null_mut());

/// Records the server processes forked from now on log against.
pub fn set_forked_server(s: Server) {
    FORKED_SERVER.store(s.as_ptr(), Ordering::Relaxed);
}

/// The main server recorded by [`set_forked_server`] (null if none).
pub fn forked_server() -> Server {
    // SAFETY: null, or the main server_rec of the configuration this
    // process was forked with, which lives as long as the process.
    unsafe { Server::from_raw(FORKED_SERVER.load(Ordering::Relaxed)) }
}

/// The server a forked process writes its log lines to, when not the
/// main server (a daemon group defined in a virtual host logs to that
/// host's `ErrorLog`); null: the main server.
static FORKED_LOG: AtomicPtr<ffi::server_rec> = AtomicPtr::new(std::ptr::null_mut());

/// Records, in a forked process, the server (of the configuration it was
/// forked with) whose error log its lines go to.
pub fn set_forked_log_server(s: Server) {
    FORKED_LOG.store(s.as_ptr(), Ordering::Relaxed);
}

/// Logs from a supervisor or daemon process, against the server chosen
/// by [`set_forked_log_server`], else the main server of its
/// configuration (the main error log if none was recorded).
pub fn forked(level: Level, msg: &str) {
    let own = FORKED_LOG.load(Ordering::Relaxed);
    let s = if own.is_null() {
        FORKED_SERVER.load(Ordering::Relaxed)
    } else {
        own
    };
    // SAFETY: null, or a server_rec of the configuration this process
    // was forked with (see FORKED_SERVER), which lives as long as the
    // process.
    let s = unsafe { Server::from_raw(s) };
    server(s, level, msg);
}

/// Apache log levels, as `APLOG_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Crit,
    Error,
    Warn,
    Notice,
    Info,
    Debug,
}

impl Level {
    fn raw(self) -> c_int {
        (match self {
            Level::Crit => ffi::APLOG_CRIT,
            Level::Error => ffi::APLOG_ERR,
            Level::Warn => ffi::APLOG_WARNING,
            Level::Notice => ffi::APLOG_NOTICE,
            Level::Info => ffi::APLOG_INFO,
            Level::Debug => ffi::APLOG_DEBUG,
        }) as c_int
    }
}

fn to_cstring(msg: &str) -> CString {
    CString::new(msg.replace('\0', "\\0")).unwrap_or_default()
}

/// Logs against a server (or the main server's log).
pub fn server(s: Server, level: Level, msg: &str) {
    let text = to_cstring(msg);
    // SAFETY: s is null or a live server_rec; the shim formats with "%s".
    unsafe {
        ffi::rs_log_error(
            c"mod_wsgi_rs".as_ptr(),
            0,
            module_index(),
            level.raw(),
            0,
            s.as_ptr(),
            text.as_ptr(),
        )
    }
}

/// Logs against a request, so the line carries its log id and client.
///
/// # Safety
/// `r` must be a live request_rec.
pub unsafe fn request(r: *const ffi::request_rec, level: Level, msg: &str) {
    // SAFETY: r is live per the contract.
    if unsafe { ffi::rs_log_request_enabled(r, module_index(), level.raw()) } == 0 {
        return;
    }
    let text = to_cstring(msg);
    // SAFETY: r is live; the shim formats with "%s".
    unsafe {
        ffi::rs_log_rerror(
            c"mod_wsgi_rs".as_ptr(),
            0,
            module_index(),
            level.raw(),
            0,
            r,
            text.as_ptr(),
        )
    }
}
