//! The Apache child's side of daemon mode: when a request's process
//! group names a daemon group, send the CGI variables and the body over
//! the group socket and stream the response back through this child's
//! output filters. No Python runs here.

use std::ffi::CString;
use std::io::ErrorKind;
use std::os::raw::c_int;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::connect::ConnectError;
pub use super::request::daemon_only;
use super::request::request_frame;
use super::sock::{self, FdStream};
use super::trust;
use super::wire::{self, FrameReader, Kind};
use super::GroupEntry;
use crate::apache::{process, Level, Request};
use crate::apache::{DirConf, ServerConf};
use crate::config::daemon::resolve_group;
use crate::config::{DirConfig, ServerConfig};
use crate::ffi;
use crate::request::{self, RequestBackend, NOTE_PROCESS_GROUP};
use crate::wsgi::{Backend, Push};

/// The most `Data` frames passed to Apache's filters in one go (see
/// `Relay::data`); more simply take another pass.
const RUN: usize = 16;

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

/// The wait status of `pid` if its supervisor has already recorded it.
/// Never waits: the 502 goes out at once, and the supervisor's own E402
/// line gives the cause when it reaps the process a moment later.
fn death_of(pid: i32) -> Option<c_int> {
    ring()?
        .iter()
        .skip(1)
        .map(|e| e.load(Ordering::Acquire))
        .find(|e| (e >> 32) as i32 == pid && *e != 0)
        .map(|e| e as u32 as c_int)
}

pub(super) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The daemon group this request goes to, `None` for embedded mode.
fn group_of(r: Request) -> Option<String> {
    let dir = DirConfig::of(&r);
    let raw = request::note(r, NOTE_PROCESS_GROUP).or_else(|| dir.process_group.clone())?;
    if matches!(raw.as_str(), "%{SERVER}" | "%{HOST}" | "%{RESOURCE}") {
        // Expanded like application groups; the result must name a group.
        let (uri, info) = (r.uri(), r.path_info());
        let script_name = uri.strip_suffix(info).unwrap_or(uri);
        let name = request::env::application_group(r, Some(&raw), script_name);
        return (!name.is_empty()).then_some(name);
    }
    let env = r.subprocess_env();
    resolve_group(&raw, |v| {
        CString::new(v).ok().and_then(|k| env.get(&k).map(lossy))
    })
}

/// Handles the request when it belongs to a daemon group.
pub fn handle(r: Request) -> Option<c_int> {
    if !request::is_wsgi_handler(r.handler()) {
        return None;
    }
    let name = group_of(r)?;
    Some(match running_group(r, &name) {
        Ok(g) => proxy(r, &g),
        Err(status) => status,
    })
}

/// The running group `name`, if this request may use it.
fn running_group(r: Request, name: &str) -> Result<Arc<GroupEntry>, c_int> {
    if let Err(e) = DirConfig::of(&r).check_process_allowed(name) {
        r.log(Level::Error, &format!("[WSGI-RS-E418] {e}"));
        return Err(ffi::HTTP_INTERNAL_SERVER_ERROR as c_int);
    }
    let server = r.server();
    let Some(g) = ServerConfig::of(&server)
        .daemons
        .iter()
        .find(|g| g.name == name)
    else {
        r.log(
            Level::Error,
            &format!(
                "[WSGI-RS-E403] No WSGI daemon process called '{name}' has been configured: {}",
                lossy(r.uri())
            ),
        );
        return Err(ffi::HTTP_INTERNAL_SERVER_ERROR as c_int);
    };
    if g.threads == 0 {
        r.log(Level::Error, &format!(
            "[WSGI-RS-E450] WSGI daemon process group '{name}' has threads=0: it runs service scripts \
             and takes no requests; route {} to a group with threads of its own",
            lossy(r.uri())
        ));
        return Err(ffi::HTTP_SERVICE_UNAVAILABLE as c_int);
    }
    super::running(server, g).ok_or(ffi::HTTP_SERVICE_UNAVAILABLE as c_int)
}

/// The shared request step, then the request to the daemon and its
/// response back through this child's filters.
fn proxy(r: Request, g: &GroupEntry) -> c_int {
    let dir = DirConfig::of(&r);
    let Some(target) = request::target(r, dir) else {
        return ffi::DECLINED as c_int;
    };
    let facts = match request::prepare(&r, dir, target) {
        Ok(facts) => facts,
        Err(status) => return status,
    };
    if let Err(status) = super::privs::check_script_owner(r, g, &facts.target.script) {
        return status;
    }
    let request_start = Instant::now();
    let _active = crate::metrics::begin_proxy(&g.conf.name, &facts.group);
    let frame = request_frame(r, g, dir, &facts);
    let stream = match send_request(r, g, &frame) {
        Ok(stream) => stream,
        Err(status) => return status,
    };
    let (read_buf, mut body_buf) = BUFFERS.with(|b| std::mem::take(&mut *b.borrow_mut()));
    if facts.has_body && !send_body(r, &stream, &mut body_buf) {
        return ffi::HTTP_BAD_REQUEST as c_int;
    }
    let _ = wire::write_frame(&mut &stream, Kind::BodyEnd, &[]);
    let capacity = match g.conf.response_buffer_size {
        0 => 64 * 1024,
        n => n as usize,
    };
    let read_buf = if read_buf.is_empty() || read_buf.len() > capacity.max(4096) {
        vec![0u8; START_BUFFER.min(capacity)]
    } else {
        read_buf
    };
    let mut fs = FdStream::new(stream);
    let mut reader = FrameReader::growing(&mut fs, read_buf, capacity);
    let status = Relay::new(r, g).run(&mut reader, request_start);
    let read_buf = reader.into_buffer();
    BUFFERS.with(|b| *b.borrow_mut() = (read_buf, body_buf));
    status
}

/// Connects to the group, sends the request frame and waits for a
/// thread to pick it up (`queue-timeout`).
fn send_request(r: Request, g: &GroupEntry, frame: &[u8]) -> Result<UnixStream, c_int> {
    let c = &g.conf;
    let stream = connect_group(r, g)?;
    let io_timeout = Duration::from_secs(if c.socket_timeout > 0 {
        c.socket_timeout
    } else {
        300
    });
    let _ = stream.set_read_timeout(Some(io_timeout));
    let _ = stream.set_write_timeout(Some(io_timeout));
    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
    sock::set_buffer_sizes(fd, c.send_buffer_size, c.receive_buffer_size);
    if wire::write_frame(&mut &stream, Kind::Request, &[frame]).is_err() {
        return Err(fail_502(r, g, None, "could not send the request"));
    }
    if c.queue_timeout > 0 && !sock::wait_readable(fd, Some(Duration::from_secs(c.queue_timeout))) {
        r.log(Level::Error, &format!(
            "[WSGI-RS-E407] queue-timeout: request waited more than {} s for a free thread in daemon process group '{}'; answering 504",
            c.queue_timeout, c.name));
        return Err(ffi::HTTP_GATEWAY_TIME_OUT as c_int);
    }
    Ok(stream)
}

/// Streams the request body in frames; a daemon that stops reading is
/// ignored (the body is still read to its end). False when the client's
/// body could not be read.
fn send_body(r: Request, stream: &UnixStream, buf: &mut Vec<u8>) -> bool {
    if buf.len() < BODY_CHUNK {
        *buf = vec![0u8; BODY_CHUNK];
    }
    let mut ok = true;
    loop {
        let Some(n) = r.read_body(buf) else {
            return false;
        };
        if n == 0 {
            return true;
        }
        if ok {
            ok = wire::write_frame(&mut &*stream, Kind::Body, &[&buf[..n]]).is_ok();
        }
    }
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

type Reader<'s> = FrameReader<&'s mut FdStream>;

/// Turns the daemon's frames into this request's response.
struct Relay<'g> {
    r: Request,
    g: &'g GroupEntry,
    /// The daemon process's pid, once it has accepted (for log lines).
    pid: Option<i32>,
    backend: RequestBackend,
    /// The response has started: failures now cut it instead of
    /// answering an error status.
    started: bool,
    /// When the request reached `request-timeout` (from the child's
    /// start): a daemon that closes the connection after it is the
    /// daemon's side of the same timeout, not a death.
    deadline: Option<Instant>,
}

impl<'g> Relay<'g> {
    fn new(r: Request, g: &'g GroupEntry) -> Relay<'g> {
        let backend = RequestBackend::new(r, true, false);
        Relay {
            r,
            g,
            pid: None,
            backend,
            started: false,
            deadline: None,
        }
    }

    /// Reads frames until the response is complete; returns the
    /// handler's status.
    fn run(&mut self, reader: &mut Reader<'_>, request_start: Instant) -> c_int {
        let limit = self.g.conf.request_timeout;
        self.deadline = (limit > 0).then(|| request_start + Duration::from_secs(limit));
        loop {
            if let Err(status) = self.wait_for_start(reader, request_start) {
                return status;
            }
            let (kind, len) = match self.next_prefix(reader) {
                Ok(frame) => frame,
                Err(status) => return status,
            };
            let step = match kind {
                Kind::Data | Kind::File if !self.started => {
                    Some(self.protocol_error(&format!("{kind:?} frame before Start")))
                }
                Kind::Data => self.data(reader, len),
                Kind::File => self.file(reader, len),
                _ => match reader.payload(len) {
                    Ok(payload) => self.control(kind, payload),
                    Err(_) => Some(self.fail_502("truncated frame")),
                },
            };
            if let Some(status) = step {
                return status;
            }
            super::trust::drop_stray_fds(reader.pending(), reader.get_mut_fds());
        }
    }

    /// Before the response starts, waits no longer than `request-timeout`
    /// plus `interrupt-timeout` (the daemon answers 504 itself once the
    /// thread has unwound, or cuts the connection when it has not),
    /// plus a second for the daemon's monitor to notice.
    fn wait_for_start(&self, reader: &Reader<'_>, request_start: Instant) -> Result<(), c_int> {
        let c = &self.g.conf;
        if self.started || c.request_timeout == 0 {
            return Ok(());
        }
        let grace = if c.interrupt_timeout > 0 {
            c.interrupt_timeout + 1
        } else {
            0
        };
        let limit = Duration::from_secs(c.request_timeout + grace);
        let left = limit.saturating_sub(request_start.elapsed());
        if sock::wait_readable(reader.get_ref().stream_fd(), Some(left)) {
            return Ok(());
        }
        let pid = self.pid.map_or("?".into(), |p| p.to_string());
        self.r.log(Level::Error, &format!(
            "[WSGI-RS-E405] request-timeout ({} s) exceeded in daemon process group '{}' (pid {pid}); answering 504",
            c.request_timeout, c.name));
        Err(ffi::HTTP_GATEWAY_TIME_OUT as c_int)
    }

    /// The next frame's kind and length, or the status to end with.
    fn next_prefix(&mut self, reader: &mut Reader<'_>) -> Result<(Kind, usize), c_int> {
        match reader.next_prefix() {
            Ok(Some(x)) => Ok(x),
            Err(e) if e.kind() == ErrorKind::InvalidData => {
                Err(self.protocol_error(&e.to_string()))
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                // socket-timeout: the daemon is slow, not dead.
                self.r.log(Level::Error, &format!("[WSGI-RS-E405] Timeout when reading response from daemon process group '{}'", self.g.conf.name));
                if self.started {
                    self.backend.abort();
                    return Err(ffi::OK as c_int);
                }
                Err(ffi::HTTP_GATEWAY_TIME_OUT as c_int)
            }
            Ok(None) | Err(_) if self.started => Err(self.cut()),
            Ok(None) if self.deadline.is_some_and(|d| Instant::now() >= d) => {
                self.r.log(Level::Error, &format!(
                    "[WSGI-RS-E405] request-timeout ({} s) exceeded in daemon process group '{}'; answering 504",
                    self.g.conf.request_timeout, self.g.conf.name));
                Err(ffi::HTTP_GATEWAY_TIME_OUT as c_int)
            }
            Ok(None) => Err(self.fail_502("closed the connection before sending a response")),
            Err(e) => Err(self.fail_502(&e.to_string())),
        }
    }

    /// Body bytes go from the read buffer to transient buckets (the core
    /// copies them only if it must keep them). `Data` frames already
    /// waiting behind this one go in the same pass through the filters
    /// (one pass, one chunk of chunked encoding, instead of one per
    /// frame); none is held back for frames not yet sent.
    fn data(&mut self, reader: &mut Reader<'_>, len: usize) -> Option<c_int> {
        let mut left = len;
        let mut run = [wire::Span::default(); RUN];
        while left > 0 {
            let Ok(taken) = reader.next_data_run(left, &mut run) else {
                return Some(self.cut());
            };
            left -= taken.current;
            let ends = taken.ends;
            let (one, mut many);
            let chunks: &[&[u8]] = if taken.spans == 1 {
                one = [reader.span(run[0])];
                &one
            } else {
                many = [&[][..]; RUN];
                for (c, s) in many.iter_mut().zip(&run[..taken.spans]) {
                    *c = reader.span(*s);
                }
                &many[..taken.spans]
            };
            let push = if ends { Push::End } else { Push::Buffer };
            if self.backend.write(chunks, push).is_err() {
                self.backend.abort();
                return Some(ffi::OK as c_int);
            }
            if push == Push::End {
                return Some(ffi::OK as c_int);
            }
        }
        None
    }

    /// A `wsgi.file_wrapper` file, passed as a descriptor.
    fn file(&mut self, reader: &mut Reader<'_>, len: usize) -> Option<c_int> {
        let Ok(payload) = reader.payload(len) else {
            return Some(self.fail_502("truncated frame"));
        };
        let (off, n) = wire::decode_file(payload).unwrap_or((0, 0));
        let Some(fd) = reader.get_mut_fds().pop_front() else {
            return Some(self.fail_502("file frame without a descriptor"));
        };
        use std::os::fd::AsRawFd;
        if self.backend.send_file(fd.as_raw_fd(), off, n).is_err() {
            self.backend.abort();
            return Some(ffi::OK as c_int);
        }
        None
    }

    /// Every other frame: `None` to read on, or the status to end with.
    fn control(&mut self, kind: Kind, payload: &[u8]) -> Option<c_int> {
        match kind {
            Kind::Accepted => {
                self.pid = wire::Cursor(payload).u32().ok().map(|p| p as i32);
                None
            }
            // only an HTTP error status: 0, -1 or -3 would be OK,
            // DECLINED or SUSPENDED to httpd (a hung request)
            Kind::Fail => Some(match trust::fail_status(wire::Cursor(payload).u32().ok()) {
                Ok(status) => self.failed(status),
                Err(why) => self.protocol_error(&why),
            }),
            Kind::Start => self.start(payload),
            Kind::End => {
                let _ = self.backend.finish();
                Some(ffi::OK as c_int)
            }
            Kind::Abort => {
                self.backend.abort();
                Some(ffi::OK as c_int)
            }
            _ => Some(self.protocol_error(&format!("unexpected {kind:?} frame"))),
        }
    }

    /// The daemon answered a status without a response.
    fn failed(&self, status: c_int) -> c_int {
        if status == 504 {
            let c = &self.g.conf;
            self.r.log(Level::Error, &format!(
                "[WSGI-RS-E407] queue-timeout: request waited more than {} s before daemon process group '{}' picked it up; answering 504",
                c.queue_timeout, c.name));
        }
        status
    }

    /// The response's status and headers: an internal redirect for 200 +
    /// a local `Location`, Apache's error document with
    /// `WSGIErrorOverride`, else the response starts.
    fn start(&mut self, payload: &[u8]) -> Option<c_int> {
        let limit = match self.g.conf.header_buffer_size {
            0 => 32768,
            n => n as usize,
        };
        if payload.len() > limit {
            let len = payload.len();
            let why = format!(
                "response headers of {len} bytes exceed header-buffer-size ({limit} bytes)"
            );
            return Some(self.fail_502(&why));
        }
        let Ok((status, line, headers)) = wire::decode_start(payload) else {
            return Some(self.protocol_error("undecodable Start frame"));
        };
        if !trust::start_status_ok(status) {
            return Some(self.protocol_error(&format!("sent HTTP status {status}")));
        }
        let location = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(b"location"))
            .map(|(_, v)| lossy(v));
        if status == 200 {
            if let Some(loc) = location.filter(|l| l.starts_with('/')) {
                process::internal_redirect(self.r, &loc);
                return Some(ffi::OK as c_int);
            }
        }
        if DirConfig::of(&self.r).error_override == Some(true) && status >= 400 {
            return Some(status as c_int);
        }
        let h: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (lossy(k), v.iter().map(|&b| b as char).collect()))
            .collect();
        let _ = self.backend.start(status, &lossy(line), &fold_repeated(h));
        self.started = true;
        None
    }

    /// The daemon went away mid-response: the response is cut.
    fn cut(&mut self) -> c_int {
        self.backend.abort();
        log_cut(self.r, self.g, self.pid);
        ffi::OK as c_int
    }

    fn fail_502(&self, why: &str) -> c_int {
        fail_502(self.r, self.g, self.pid, why)
    }

    /// The daemon sent something the protocol does not allow (it is
    /// alive; nothing says it died): 502, or a cut response once started.
    fn protocol_error(&mut self, why: &str) -> c_int {
        let pid = self
            .pid
            .map_or("pid unknown".into(), |p| format!("pid {p}"));
        self.r.log(Level::Error, &format!(
            "[WSGI-RS-E437] protocol error from daemon process of group '{}' ({pid}) for request {}: {why}; {}",
            self.g.conf.name, lossy(self.r.log_id().unwrap_or(b"-")),
            if self.started { "the response was cut" } else { "answering 502" }
        ));
        if self.started {
            self.backend.abort();
            return ffi::OK as c_int;
        }
        ffi::HTTP_BAD_GATEWAY as c_int
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
        None => format!("pid {p}; the supervisor logs how it ended"),
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

/// Connects to the group's socket within `connect-timeout`, without
/// ever blocking on a full listen queue; 503 with a logged reason.
fn connect_group(r: Request, g: &GroupEntry) -> Result<UnixStream, c_int> {
    let c = &g.conf;
    let timeout = Duration::from_secs(c.connect_timeout);
    let why = match super::connect::connect(&g.socket, timeout) {
        Ok(stream) => return Ok(stream),
        Err(ConnectError::BacklogFull) => format!(
            "[WSGI-RS-E438] the listen queue of daemon process group '{}' stayed full (listen-backlog={}) for connect-timeout ({} s); answering 503",
            c.name, c.listen_backlog, c.connect_timeout
        ),
        Err(ConnectError::Io(e)) => format!(
            "[WSGI-RS-E404] Unable to connect to WSGI daemon process '{}' on '{}' within connect-timeout ({} s): {e}; answering 503",
            c.name, g.socket.display(), c.connect_timeout
        ),
    };
    r.log(Level::Error, &why);
    Err(ffi::HTTP_SERVICE_UNAVAILABLE as c_int)
}
