//! The Apache child's side of daemon mode: when a request's process
//! group names a daemon group, send the CGI variables and the body over
//! the group socket and stream the response back through this child's
//! output filters. No Python runs here.

use std::ffi::CString;
use std::io::ErrorKind;
use std::os::raw::c_int;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use super::request::daemon_only;
use super::request::request_frame;
use super::sock::{self, FdStream};
use super::wire::{self, FrameReader, Kind};
use super::GroupEntry;
use crate::apache::request::{BodyPolicy, FileKind};
use crate::apache::{process, Level, Request};
use crate::config::daemon::resolve_group;
use crate::embedded::EmbeddedBackend;
use crate::wsgi::{Backend, Push};
use crate::{ffi, module};

const RING: usize = 64;
/// A ring of `(pid << 32 | wait status)` in memory shared by the Apache
/// parent's descendants: supervisors record deaths, children read them.
/// Process-lifetime state (created once in the parent), not config.
static DEATHS: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());

pub fn init_deaths() {
    if !DEATHS.load(Ordering::Acquire).is_null() {
        return;
    }
    // SAFETY: an anonymous shared mapping, zero-filled, never unmapped.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            (RING + 1) * 8,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p != libc::MAP_FAILED {
        DEATHS.store(p.cast(), Ordering::Release);
    }
}

fn ring() -> Option<&'static [AtomicU64]> {
    let p = DEATHS.load(Ordering::Acquire);
    // SAFETY: the mapping lives for the process and holds RING+1 words.
    (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts(p, RING + 1) })
}

pub fn record_death(pid: i32, status: c_int) {
    if let Some(r) = ring() {
        let i = r[0].fetch_add(1, Ordering::AcqRel) as usize % RING;
        r[1 + i].store(
            ((pid as u64) << 32) | status as u32 as u64,
            Ordering::Release,
        );
    }
}

fn death_of(pid: i32) -> Option<c_int> {
    let deadline = Instant::now() + Duration::from_millis(700);
    loop {
        let found = ring()?
            .iter()
            .skip(1)
            .map(|e| e.load(Ordering::Acquire))
            .find(|e| (e >> 32) as i32 == pid && *e != 0);
        if let Some(e) = found {
            return Some(e as u32 as c_int);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(super) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The daemon group this request goes to, `None` for embedded mode.
fn group_of(r: Request) -> Option<String> {
    let dir = module::dir_config(r);
    let raw = r
        .notes()
        .get(c"mod_wsgi.process_group")
        .map(lossy)
        .or_else(|| dir.process_group.clone())?;
    if matches!(raw.as_str(), "%{SERVER}" | "%{HOST}" | "%{RESOURCE}") {
        // Expanded like application groups; the result must name a group.
        let (uri, info) = (r.uri(), r.path_info());
        let script_name = uri.strip_suffix(info).unwrap_or(uri);
        let name = crate::embedded::env::application_group(r, Some(&raw), script_name);
        return (!name.is_empty()).then_some(name);
    }
    let env = r.subprocess_env();
    resolve_group(&raw, |v| {
        CString::new(v).ok().and_then(|k| env.get(&k).map(lossy))
    })
}

/// Handles the request when it belongs to a daemon group.
pub fn handle(r: Request) -> Option<c_int> {
    if !matches!(
        r.handler(),
        Some(b"wsgi-script") | Some(b"application/x-httpd-wsgi")
    ) {
        return None;
    }
    let name = group_of(r)?;
    if let Err(e) = module::dir_config(r).check_process_allowed(&name) {
        r.log(Level::Error, &format!("[WSGI-RS-E418] {e}"));
        return Some(ffi::HTTP_INTERNAL_SERVER_ERROR as c_int);
    }
    let conf = module::server_config(r.server());
    let Some(g) = conf.daemons.iter().find(|g| g.conf.name == name) else {
        r.log(
            Level::Error,
            &format!(
                "[WSGI-RS-E403] No WSGI daemon process called '{name}' has been configured: {}",
                lossy(r.uri())
            ),
        );
        return Some(ffi::HTTP_INTERNAL_SERVER_ERROR as c_int);
    };
    Some(proxy(r, g))
}

fn proxy(r: Request, g: &GroupEntry) -> c_int {
    let dir = module::dir_config(r);
    let script = lossy(r.filename().unwrap_or(b""));
    let forced = r.notes().get(c"alias-forced-type").is_some();
    if !forced && !r.exec_cgi_allowed() {
        r.log(
            Level::Error,
            &format!("[WSGI-RS-W201] Options ExecCGI is off in this directory: {script}"),
        );
        return ffi::HTTP_FORBIDDEN as c_int;
    }
    match r.file_kind() {
        FileKind::Regular => {}
        FileKind::Directory => return ffi::HTTP_FORBIDDEN as c_int,
        _ => {
            r.log(
                Level::Error,
                &format!("[WSGI-RS-E104] Target WSGI script not found or unable to stat: {script}"),
            );
            return ffi::HTTP_NOT_FOUND as c_int;
        }
    }
    let policy = if dir.chunked_request == Some(true) {
        BodyPolicy::Dechunk
    } else {
        BodyPolicy::RefuseChunked
    };
    if let Err(status) = r.setup_body(policy) {
        return status;
    }
    let has_body = r.should_read_body();
    let request_start = Instant::now();
    let frame = request_frame(r, &script, has_body);
    let Some(path) = g.socket.get() else {
        return ffi::HTTP_SERVICE_UNAVAILABLE as c_int;
    };
    let stream = match connect(path, g.conf.connect_timeout) {
        Ok(s) => s,
        Err(e) => {
            r.log(Level::Error, &format!(
                "[WSGI-RS-E404] Unable to connect to WSGI daemon process '{}' on '{}': {e} (uid {})",
                g.conf.name, path.display(), std::process::id()
            ));
            return ffi::HTTP_SERVICE_UNAVAILABLE as c_int;
        }
    };
    let io_timeout = Duration::from_secs(if g.conf.socket_timeout > 0 {
        g.conf.socket_timeout
    } else {
        300
    });
    let _ = stream.set_read_timeout(Some(io_timeout));
    let _ = stream.set_write_timeout(Some(io_timeout));
    sock::set_buffer_sizes(
        std::os::fd::AsRawFd::as_raw_fd(&stream),
        g.conf.send_buffer_size,
        g.conf.receive_buffer_size,
    );
    if wire::write_frame(&mut &stream, Kind::Request, &[&frame]).is_err() {
        return fail_502(r, g, None, "could not send the request");
    }
    if g.conf.queue_timeout > 0
        && !sock::wait_readable(
            std::os::fd::AsRawFd::as_raw_fd(&stream),
            Some(Duration::from_secs(g.conf.queue_timeout)),
        )
    {
        r.log(Level::Error, &format!(
                "[WSGI-RS-E407] queue-timeout: request waited more than {} s for a free thread in daemon process group '{}'; answering 504",
                g.conf.queue_timeout, g.conf.name));
        return ffi::HTTP_GATEWAY_TIME_OUT as c_int;
    }
    let (read_buf, mut body_buf) = BUFFERS.with(|b| std::mem::take(&mut *b.borrow_mut()));
    // Body: streamed in frames; a daemon that stops reading is ignored.
    if has_body {
        if body_buf.len() < BODY_CHUNK {
            body_buf = vec![0u8; BODY_CHUNK];
        }
        let mut ok = true;
        loop {
            let Some(n) = r.read_body(&mut body_buf) else {
                return ffi::HTTP_BAD_REQUEST as c_int;
            };
            if n == 0 {
                break;
            }
            if ok {
                ok = wire::write_frame(&mut &stream, Kind::Body, &[&body_buf[..n]]).is_ok();
            }
        }
    }
    let _ = wire::write_frame(&mut &stream, Kind::BodyEnd, &[]);
    let capacity = if g.conf.response_buffer_size > 0 {
        g.conf.response_buffer_size as usize
    } else {
        64 * 1024
    };
    let read_buf = if read_buf.is_empty() || read_buf.len() > capacity.max(4096) {
        vec![0u8; START_BUFFER.min(capacity)]
    } else {
        read_buf
    };
    let mut fs = FdStream::new(stream);
    let mut reader = FrameReader::growing(&mut fs, read_buf, capacity);
    let status = relay(r, g, &mut reader, request_start);
    let read_buf = reader.into_buffer();
    BUFFERS.with(|b| *b.borrow_mut() = (read_buf, body_buf));
    status
}

/// The first size of a thread's response buffer; it grows to
/// `response-buffer-size` once a response fills it.
const START_BUFFER: usize = 16 * 1024;

/// Per Apache worker thread: the response read buffer and the request
/// body buffer, reused by every proxied request (a fresh 64 KiB buffer
/// per request cost a zero-fill and a malloc/free pair each time).
const BODY_CHUNK: usize = 64 * 1024;
thread_local! {
    static BUFFERS: std::cell::RefCell<(Vec<u8>, Vec<u8>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Reads the daemon's frames and turns them into this request's
/// response; returns the handler's status.
fn relay(
    r: Request,
    g: &GroupEntry,
    reader: &mut FrameReader<&mut FdStream>,
    request_start: Instant,
) -> c_int {
    let dir = module::dir_config(r);
    let mut pid = None;
    let mut backend = EmbeddedBackend::new(r, true, false);
    let mut started = false;
    loop {
        if !started && g.conf.request_timeout > 0 {
            let left =
                Duration::from_secs(g.conf.request_timeout).saturating_sub(request_start.elapsed());
            if !sock::wait_readable(reader.get_ref().stream_fd(), Some(left)) {
                r.log(Level::Error, &format!(
                    "[WSGI-RS-E405] request-timeout ({} s) exceeded in daemon process group '{}' (pid {}); answering 504",
                    g.conf.request_timeout, g.conf.name, pid.map_or("?".into(), |p: i32| p.to_string())));
                return ffi::HTTP_GATEWAY_TIME_OUT as c_int;
            }
        }
        let (kind, len) = match reader.next_prefix() {
            Ok(Some(x)) => x,
            Ok(None) | Err(_) if started => {
                backend.abort();
                log_cut(r, g, pid);
                return ffi::OK as c_int;
            }
            Ok(None) => {
                return fail_502(r, g, pid, "closed the connection before sending a response")
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                r.log(Level::Error, &format!("[WSGI-RS-E405] Timeout when reading response from daemon process group '{}'", g.conf.name));
                return ffi::HTTP_GATEWAY_TIME_OUT as c_int;
            }
            Err(e) => return fail_502(r, g, pid, &e.to_string()),
        };
        if kind == Kind::Data {
            // Body bytes go from the read buffer to a transient bucket
            // (the core copies them only if it must keep them).
            let mut left = len;
            while left > 0 {
                let Ok((chunk, ends)) = reader.next_chunk_and_end(left) else {
                    backend.abort();
                    log_cut(r, g, pid);
                    return ffi::OK as c_int;
                };
                left -= chunk.len();
                let push = if ends { Push::End } else { Push::Buffer };
                if backend.write(&[chunk], push).is_err() {
                    backend.abort();
                    return ffi::OK as c_int;
                }
                if push == Push::End {
                    return ffi::OK as c_int;
                }
            }
            continue;
        }
        let Ok(payload) = reader.payload(len) else {
            return fail_502(r, g, pid, "truncated frame");
        };
        match kind {
            Kind::Accepted => pid = wire::Cursor(payload).u32().ok().map(|p| p as i32),
            Kind::Fail => {
                let status = wire::Cursor(payload).u32().unwrap_or(500) as c_int;
                if status == 504 {
                    r.log(Level::Error, &format!(
                        "[WSGI-RS-E407] queue-timeout: request waited more than {} s before daemon process group '{}' picked it up; answering 504",
                        g.conf.queue_timeout, g.conf.name));
                }
                return status;
            }
            Kind::Start => {
                let limit = if g.conf.header_buffer_size > 0 {
                    g.conf.header_buffer_size as usize
                } else {
                    32768
                };
                if payload.len() > limit {
                    let why = format!(
                        "response headers of {} bytes exceed header-buffer-size ({limit} bytes)",
                        payload.len()
                    );
                    return fail_502(r, g, pid, &why);
                }
                let Ok((status, line, headers)) = wire::decode_start(payload) else {
                    return fail_502(r, g, pid, "bad response headers");
                };
                let location = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(b"location"))
                    .map(|(_, v)| lossy(v));
                if status == 200 {
                    if let Some(loc) = location.filter(|l| l.starts_with('/')) {
                        process::internal_redirect(r, &loc);
                        return ffi::OK as c_int;
                    }
                }
                if dir.error_override == Some(true) && status >= 400 {
                    return status as c_int;
                }
                let h: Vec<(String, String)> = headers
                    .iter()
                    .map(|(k, v)| (lossy(k), v.iter().map(|&b| b as char).collect()))
                    .collect();
                let _ = backend.start(status, &lossy(line), &fold_repeated(h));
                started = true;
            }
            Kind::File => {
                let (off, n) = wire::decode_file(payload).unwrap_or((0, 0));
                let Some(fd) = reader.get_mut_fds().pop_front() else {
                    return fail_502(r, g, pid, "file frame without a descriptor");
                };
                use std::os::fd::AsRawFd;
                if backend.send_file(fd.as_raw_fd(), off, n).is_err() {
                    backend.abort();
                    return ffi::OK as c_int;
                }
            }
            Kind::End => {
                let _ = backend.finish();
                return ffi::OK as c_int;
            }
            Kind::Abort => {
                backend.abort();
                return ffi::OK as c_int;
            }
            _ => return fail_502(r, g, pid, "unexpected frame"),
        }
    }
}

fn sock_fd(fs: &FdStream) -> i32 {
    use std::os::fd::AsRawFd;
    fs.stream.as_raw_fd()
}

trait StreamFd {
    fn stream_fd(&self) -> i32;
}
impl StreamFd for &mut FdStream {
    fn stream_fd(&self) -> i32 {
        sock_fd(self)
    }
}
trait Fds {
    fn get_mut_fds(&mut self) -> &mut std::collections::VecDeque<std::os::fd::OwnedFd>;
}
impl Fds for FrameReader<&mut FdStream> {
    fn get_mut_fds(&mut self) -> &mut std::collections::VecDeque<std::os::fd::OwnedFd> {
        &mut self.get_mut().fds
    }
}

fn describe(pid: Option<i32>) -> String {
    let Some(p) = pid else {
        return "pid unknown".into();
    };
    match death_of(p) {
        Some(st) if libc::WIFSIGNALED(st) => {
            format!("pid {p}, killed by signal {}", libc::WTERMSIG(st))
        }
        Some(st) => format!("pid {p}, exited with status {}", libc::WEXITSTATUS(st)),
        None => format!("pid {p}"),
    }
}

fn fail_502(r: Request, g: &GroupEntry, pid: Option<i32>, why: &str) -> c_int {
    r.log(
        Level::Error,
        &format!(
        "[WSGI-RS-E402] daemon process of group '{}' ({}) failed request {}: {why}; answering 502",
        g.conf.name, describe(pid), lossy(r.log_id().unwrap_or(b"-"))
    ),
    );
    ffi::HTTP_BAD_GATEWAY as c_int
}

fn log_cut(r: Request, g: &GroupEntry, pid: Option<i32>) {
    r.log(Level::Error, &format!(
        "[WSGI-RS-E402] daemon process of group '{}' ({}) died while sending the response of request {}; the response was cut",
        g.conf.name, describe(pid), lossy(r.log_id().unwrap_or(b"-"))
    ));
}

/// Connects, retrying while the group turns over (refused, missing or
/// full socket) until `timeout` seconds.
fn connect(path: &std::path::Path, timeout: u64) -> std::io::Result<UnixStream> {
    let deadline = Instant::now() + Duration::from_secs(timeout.max(1));
    let start = Instant::now();
    loop {
        match UnixStream::connect(path) {
            Ok(s) => return Ok(s),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionRefused | ErrorKind::NotFound | ErrorKind::WouldBlock
                ) && Instant::now() < deadline =>
            {
                let step = if start.elapsed() < Duration::from_secs(2) {
                    50
                } else {
                    500
                };
                std::thread::sleep(Duration::from_millis(step));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Joins the values of a repeated response header with ", " (Set-Cookie
/// excepted), as httpd's script-header reading does for mod_wsgi's daemon
/// mode: clients of a daemon group see `X-A: 1, 2`, not two `X-A` lines.
fn fold_repeated(headers: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let earlier = (!name.eq_ignore_ascii_case("set-cookie"))
            .then(|| out.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(&name)))
            .flatten();
        match earlier {
            Some((_, v)) => {
                v.push_str(", ");
                v.push_str(&value);
            }
            None => out.push((name, value)),
        }
    }
    out
}
