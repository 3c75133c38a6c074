//! A safe wrapper over the parts of httpd and APR the module uses:
//! requests, pools, tables, brigades, config vectors, hooks, logging and
//! the scoreboard.
//! It knows nothing of Python. Every raw pointer handed in by httpd is
//! wrapped here once, at the `extern "C"` boundary, and the upper layers
//! work with the wrappers.

pub mod auth;
pub mod brigade;
pub mod cmd;
pub mod conf;
pub mod guard;
pub mod hooks;
pub mod log;
pub mod pool;
pub mod process;
pub mod regex;
pub mod request;
pub mod scoreboard;
pub mod server;
pub mod shm;
pub mod table;

pub use conf::{DirConf, ServerConf};
pub use guard::guard;
pub use log::Level;
pub use pool::Pool;
pub use request::Request;
pub use table::Table;

use std::ffi::CStr;
use std::os::raw::c_char;

/// Copies a C string httpd owns into a Rust string (lossy: httpd strings
/// are bytes; invalid UTF-8 is replaced).
///
/// # Safety
/// `p` must be null or point to a NUL-terminated string alive for the call.
pub unsafe fn cstr_lossy(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees p is a live NUL-terminated string.
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// Borrows the bytes of a C string httpd owns.
///
/// # Safety
/// `p` must be null or point to a NUL-terminated string that outlives `'a`.
pub unsafe fn cstr_bytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees p is live for 'a.
    Some(unsafe { CStr::from_ptr(p) }.to_bytes())
}
