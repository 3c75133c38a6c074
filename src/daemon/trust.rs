//! What an Apache child accepts from a daemon process, which runs as
//! another user and may run anything: statuses only from the HTTP range
//! (never one of httpd's handler results such as `OK`, `DECLINED` or
//! `SUSPENDED`), and no descriptor kept that did not come with the frame
//! that uses it.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::os::raw::c_int;

/// The status of a `Fail` frame, if it is an HTTP error status (400–599):
/// a daemon that answers anything else (0, -1, -3, 200, ...) is treated
/// as broken, not obeyed.
pub fn fail_status(raw: Option<u32>) -> Result<c_int, String> {
    match raw {
        Some(s @ 400..=599) => Ok(s as c_int),
        Some(s) => Err(format!(
            "sent status {} in an error frame (only 400-599 are accepted)",
            s as i32
        )),
        None => Err("sent an error frame without a status".into()),
    }
}

/// A response status the child passes on: a real HTTP status.
pub fn start_status_ok(status: u16) -> bool {
    (100..=599).contains(&status)
}

/// Descriptors arrive with the first byte of the `File` frame that uses
/// them. Once every byte read so far is consumed (`pending` is 0), any
/// descriptor still queued came with some other frame: close it now
/// rather than at the end of the request.
pub fn drop_stray_fds(pending: usize, fds: &mut VecDeque<OwnedFd>) {
    if pending == 0 {
        fds.clear();
    }
}
