//! Connecting an Apache child to a group socket without ever blocking
//! beyond `connect-timeout`. A blocking `connect()` on a UNIX socket
//! whose listen queue is full waits until the daemon accepts, however
//! long that takes, so one wedged group could hold every Apache worker.
//! Here the socket is non-blocking while it connects: a full queue
//! answers `EAGAIN` at once, and the attempt is repeated (with a short
//! pause) until the deadline.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Why no connection was made before the deadline.
pub enum ConnectError {
    /// The group's listen queue stayed full (`EAGAIN`) until the deadline.
    BacklogFull,
    /// Any other failure: the last error seen (refused or missing socket
    /// while the group turns over, or a hard error at once).
    Io(io::Error),
}

/// Connects to `path` within `timeout`, retrying while the queue is full
/// or the socket is being replaced; the stream returned is blocking.
pub fn connect(path: &Path, timeout: Duration) -> Result<UnixStream, ConnectError> {
    let deadline = Instant::now() + timeout.max(Duration::from_secs(1));
    let mut pause = Duration::from_millis(5);
    loop {
        let err = match try_connect(path) {
            Ok(s) => return Ok(s),
            Err(e) => e,
        };
        let full = err.raw_os_error() == Some(libc::EAGAIN);
        let retry =
            full || matches!(
                err.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
            ) || err.raw_os_error() == Some(libc::EINTR);
        let now = Instant::now();
        if !retry || now >= deadline {
            return Err(if full {
                ConnectError::BacklogFull
            } else {
                ConnectError::Io(err)
            });
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// One non-blocking attempt with a fresh socket.
fn try_connect(path: &Path) -> io::Result<UnixStream> {
    let (addr, len) = sockaddr(path)?;
    // SAFETY: socket() with constant arguments; the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a socket we just created and own.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: addr is a valid sockaddr_un of `len` bytes for this call.
    let rc = unsafe { libc::connect(fd, (&raw const addr).cast(), len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // Connected (a UNIX connect completes at once): back to blocking;
    // the caller bounds every read and write with socket-timeout.
    // SAFETY: F_GETFL/F_SETFL on our own descriptor.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
    }
    Ok(UnixStream::from(owned))
}

/// The `sockaddr_un` of `path`, or an error when it does not fit.
fn sockaddr(path: &Path) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: sockaddr_un is plain data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "socket path too long for a UNIX socket address",
        ));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    Ok((addr, len as libc::socklen_t))
}
