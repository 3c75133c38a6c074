//! UNIX sockets for daemon mode: the group listeners the Apache parent
//! creates (kept open across graceful restarts, so old and new Apache
//! children and daemons share one socket and no queued connection is
//! lost), waiting with timeouts, and passing a file descriptor with
//! `SCM_RIGHTS` next to the frame that announces it.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::Mutex;

/// A listener the parent keeps for the life of the httpd process (like
/// Apache's own listeners): keyed by path, reused by the next generation.
struct Kept {
    path: PathBuf,
    ino: u64,
    listener: UnixListener,
    used: bool,
}

/// Process-lifetime state of the Apache parent (not configuration): the
/// open group sockets.
static KEPT: Mutex<Vec<Kept>> = Mutex::new(Vec::new());

/// The listening socket for `path`, reused when it is still the file on
/// disk, else created (mode 0600, owned by `owner`) with `backlog`.
pub fn listener(path: &Path, backlog: u32, owner: Option<(u32, u32)>) -> io::Result<RawFd> {
    let mut kept = KEPT.lock();
    let on_disk = std::fs::metadata(path).ok().map(|m| m.ino());
    if let Some(k) = kept.iter_mut().find(|k| k.path == path) {
        if Some(k.ino) == on_disk {
            k.used = true;
            return Ok(k.listener.as_raw_fd());
        }
    }
    kept.retain(|k| k.path != path);
    let listener = bind_private(path, owner)?;
    let fd = listener.as_raw_fd();
    // SAFETY: fd is a bound socket; listen only changes its backlog.
    if unsafe { libc::listen(fd, backlog.max(1) as i32) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let ino = std::fs::metadata(path)?.ino();
    kept.push(Kept {
        path: path.to_owned(),
        ino,
        listener,
        used: true,
    });
    Ok(fd)
}

/// Closes and removes the sockets no group of the new configuration
/// uses; marks the rest unused for the next generation.
pub fn sweep() {
    let mut kept = KEPT.lock();
    kept.retain(|k| {
        if !k.used {
            let _ = std::fs::remove_file(&k.path);
        }
        k.used
    });
    for k in kept.iter_mut() {
        k.used = false;
    }
}

/// Closes every kept listener except `keep` (in a forked daemon).
pub fn close_others(keep: RawFd) {
    let mut kept = KEPT.lock();
    for k in kept.drain(..) {
        if k.listener.as_raw_fd() == keep {
            std::mem::forget(k.listener);
        }
    }
}

/// Makes the group listener's `accept` block for at most `wait`: a
/// blocked `accept` is woken for one connection only (the kernel wakes
/// one waiter), so idle request threads of every process of the group
/// wait in it without a thundering herd. The listener is shared by the
/// group's processes, which all accept this way.
pub fn prepare_blocking_accept(fd: RawFd, wait: Duration) {
    let tv = libc::timeval {
        tv_sec: wait.as_secs() as libc::time_t,
        tv_usec: wait.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: fd is the listening socket; F_GETFL/F_SETFL and
    // SO_RCVTIMEO with a valid timeval only change its flags.
    unsafe {
        libc::fcntl(
            fd,
            libc::F_SETFL,
            libc::fcntl(fd, libc::F_GETFL) & !libc::O_NONBLOCK,
        );
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
    }
}

/// Waits until `fd` is readable (or hung up); false on timeout.
pub fn wait_readable(fd: RawFd, timeout: Option<Duration>) -> bool {
    let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut p, 1, ms) };
        if rc >= 0 {
            return rc > 0;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return true;
        }
    }
}

/// A stream that receives descriptors passed with `SCM_RIGHTS` into a
/// queue as it reads (plain `read` would discard them).
pub struct FdStream {
    pub stream: UnixStream,
    pub fds: VecDeque<OwnedFd>,
}

impl FdStream {
    pub fn new(stream: UnixStream) -> FdStream {
        FdStream {
            stream,
            fds: VecDeque::new(),
        }
    }
}

const CMSG_SPACE: usize = 64;

impl Read for &mut FdStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut cbuf = [0u64; CMSG_SPACE / 8];
        // SAFETY: msghdr is plain data; the fields set point to live buffers.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = CMSG_SPACE as _;
        // SAFETY: the socket is open and msg describes writable buffers.
        let n = unsafe { libc::recvmsg(self.stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: walking the control messages the kernel just wrote.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(c).cast::<RawFd>();
                    let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize)
                        / std::mem::size_of::<RawFd>();
                    for i in 0..count {
                        self.fds
                            .push_back(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Ok(n as usize)
    }
}

/// Sends `bytes` (a whole frame) with `fd` attached.
pub fn send_with_fd(stream: &UnixStream, bytes: &[u8], fd: RawFd) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut _,
        iov_len: bytes.len(),
    };
    let mut cbuf = [0u64; CMSG_SPACE / 8];
    // SAFETY: msghdr is plain data; the control buffer is large enough
    // for one descriptor and is filled through the CMSG macros.
    let n = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as _;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        libc::CMSG_DATA(c).cast::<RawFd>().write_unaligned(fd);
        libc::sendmsg(stream.as_raw_fd(), &msg, libc::MSG_NOSIGNAL)
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // The rest (rare: a full socket buffer) goes without the descriptor,
    // which travelled with the first byte.
    (&*stream).write_all(&bytes[n as usize..])
}

/// Wraps a raw accepted descriptor.
pub fn stream_from_fd(fd: RawFd) -> UnixStream {
    // SAFETY: fd is a freshly accepted socket owned by the caller.
    unsafe { UnixStream::from_raw_fd(fd) }
}

/// Accepts one connection on the (non-owned) listener `fd`.
pub fn accept(fd: RawFd) -> io::Result<UnixStream> {
    // SAFETY: fd is a listening socket; null address pointers are allowed.
    let c = unsafe {
        libc::accept4(
            fd,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC,
        )
    };
    if c < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stream_from_fd(c))
}

/// Gives up ownership (for a descriptor handed to httpd).
pub fn into_raw(fd: OwnedFd) -> RawFd {
    fd.into_raw_fd()
}

/// Applies `send-buffer-size` / `receive-buffer-size` (0 keeps the
/// kernel's default) to a socket.
pub fn set_buffer_sizes(fd: RawFd, send: u64, receive: u64) {
    for (option, size) in [(libc::SO_SNDBUF, send), (libc::SO_RCVBUF, receive)] {
        if size == 0 {
            continue;
        }
        let value = size.min(i32::MAX as u64) as libc::c_int;
        // SAFETY: the descriptor is a live socket; value outlives the call
        // and its size is passed.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                (&raw const value).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

/// Binds the socket inside a fresh directory only this process (root)
/// can write, gives it its owner and mode 0600 there, and renames it onto
/// `path` (rename replaces whatever is at `path`, a link included,
/// without following it). Nobody else can reach the file between bind
/// and chown, so no chown by a path someone else could redirect.
fn bind_private(path: &Path, owner: Option<(u32, u32)>) -> io::Result<UnixListener> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let mut template = dir
        .join(".wsgi-XXXXXX")
        .into_os_string()
        .into_encoded_bytes();
    template.push(0);
    // SAFETY: mkdtemp rewrites the X's of a NUL-terminated buffer we own
    // and creates the directory with mode 0700.
    if unsafe { libc::mkdtemp(template.as_mut_ptr().cast()) }.is_null() {
        return Err(io::Error::last_os_error());
    }
    template.pop();
    // SAFETY: the bytes came from a path and mkdtemp only replaced X's
    // with ASCII letters and digits.
    let private =
        PathBuf::from(unsafe { std::ffi::OsString::from_encoded_bytes_unchecked(template) });
    let inner = private.join("s");
    let done = (|| {
        // SAFETY: umask only changes this process's file creation mask.
        let old = unsafe { libc::umask(0o077) };
        let bound = UnixListener::bind(&inner);
        // SAFETY: restores the previous mask.
        unsafe { libc::umask(old) };
        let listener = bound?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::lchown(&inner, Some(uid), Some(gid))?;
        }
        std::fs::rename(&inner, path)?;
        Ok(listener)
    })();
    let _ = std::fs::remove_file(&inner);
    let _ = std::fs::remove_dir(&private);
    done
}
