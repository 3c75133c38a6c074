//! Serving requests inside a daemon process: the request threads'
//! accept loop, one request over the wire protocol (its environ and
//! application call; the socket side is [`super::backend`]), and the
//! per-request deadline (`request-timeout`) with the stuck thread's
//! Python stack logged.

use std::net::Shutdown;
use std::ops::Range;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use pyo3::types::PyDictMethods;

use super::backend::{DaemonBackend, LogTag, SharedStream, READ_BUF};
use super::wire::{self, FrameReader, Kind, RequestHead};
use super::{sock, GroupEntry};
use crate::apache::Level;
use crate::config::daemon::DaemonGroup;
use crate::interp;
use crate::metrics;
use crate::wsgi::{self, App, CgiVars, Extras, RequestCtx, RunInfo};

struct Slot {
    /// The request thread (`threading.get_ident()`), for its stack dump.
    thread: u64,
    /// When the request was accepted, for `request-timeout`.
    started: Instant,
    /// Named in the timeout's log line.
    request_id: String,
    /// The timeout has been handled once.
    fired: bool,
    /// The request's application group: `RequestTimeout` is raised in
    /// the thread's state of that interpreter.
    group: String,
    /// When `RequestTimeout` was raised (for `interrupt-timeout`).
    fired_at: Option<Instant>,
    /// The connection, shut down when the thread has not unwound
    /// `interrupt-timeout` after the timeout fired, so its next write
    /// fails and the client is not kept waiting.
    stream: Option<Arc<UnixStream>>,
}

/// State shared by the request threads and the monitor of one process.
pub struct Shared {
    /// The group's options.
    pub conf: DaemonGroup,
    /// The group's listening socket.
    fd: RawFd,
    /// The process is recycling: threads stop accepting.
    stopping: AtomicBool,
    /// Requests finished (`maximum-requests`).
    served: AtomicU64,
    /// Requests being served now (the drain waits for 0).
    active: AtomicUsize,
    /// Request threads waiting in `accept` or serving: the process may
    /// exit once it is stopping and this is 0.
    engaged: AtomicUsize,
    /// When a request last started or ended (s), for
    /// `inactivity-timeout`.
    last_activity: AtomicU64,
    /// One per request thread: the request it serves, for
    /// `request-timeout`.
    slots: Mutex<Vec<Option<Slot>>>,
    /// Requests accepted (`mod_wsgi.total_requests`).
    total: AtomicU64,
    /// The WSGI script has loaded at least once (`startup-timeout`).
    loaded: AtomicBool,
    /// The WSGI script failed to load at least once.
    load_failed: AtomicBool,
    /// A thread has not unwound `interrupt-timeout` after
    /// `RequestTimeout` was raised in it: the process is replaced.
    wedged: AtomicBool,
    /// Which idle request thread waits in `accept` next.
    turns: Turns,
}

/// Idle request threads take the next connection last-idle-first: one
/// thread at a time (the one holding the turn) waits in `accept`, the
/// others park on a stack; when the turn holder takes a connection it
/// hands the turn to the thread that became idle most recently. The
/// kernel would wake `accept` waiters first-come-first-served, i.e. the
/// thread idle longest, with the coldest caches; this way a few threads
/// carry a light load, and a busy process (no thread idle) keeps the turn
/// moving without any hand-off.
struct Turns {
    state: Mutex<TurnState>,
}

#[derive(Default)]
struct TurnState {
    /// Some thread holds the turn (it waits in `accept` or is about to).
    held: bool,
    /// Parked threads, most recently idle last: index and wake-up.
    parked: Vec<(usize, Arc<Condvar>)>,
    /// The parked thread the turn was handed to, until it wakes.
    handed: Option<usize>,
    /// The process is stopping: parked threads return.
    closed: bool,
}

impl Turns {
    fn new() -> Turns {
        Turns {
            state: Mutex::new(TurnState::default()),
        }
    }

    /// Waits until thread `me` holds the turn; false once the process
    /// stops accepting.
    fn take(&self, me: usize, wake: &Arc<Condvar>) -> bool {
        let mut st = self.state.lock();
        if st.closed {
            return false;
        }
        if !st.held {
            st.held = true;
            return true;
        }
        st.parked.push((me, wake.clone()));
        while st.handed != Some(me) && !st.closed {
            wake.wait(&mut st);
        }
        if st.handed == Some(me) {
            st.handed = None;
            return true;
        }
        false
    }

    /// The turn holder took a connection: hand the turn to the most
    /// recently parked thread, or leave it free for the next thread that
    /// finishes a request.
    fn pass(&self) {
        let mut st = self.state.lock();
        match st.parked.pop() {
            Some((index, wake)) => {
                st.handed = Some(index);
                wake.notify_one();
            }
            None => st.held = false,
        }
    }

    /// The process stops accepting: every parked thread returns.
    fn close(&self) {
        let mut st = self.state.lock();
        st.closed = true;
        for (_, wake) in st.parked.drain(..) {
            wake.notify_one();
        }
    }
}

impl Shared {
    /// `startup-timeout`: the script has failed to load and never loaded.
    pub fn never_loaded(&self) -> bool {
        self.load_failed.load(Ordering::Relaxed) && !self.loaded.load(Ordering::Relaxed)
    }

    pub fn new(g: &GroupEntry, fd: RawFd) -> Shared {
        Shared {
            conf: (*g.conf).clone(),
            fd,
            stopping: AtomicBool::new(false),
            served: AtomicU64::new(0),
            loaded: AtomicBool::new(false),
            load_failed: AtomicBool::new(false),
            wedged: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            engaged: AtomicUsize::new(0),
            last_activity: AtomicU64::new(super::worker::now_s()),
            slots: Mutex::new(Vec::new()),
            total: AtomicU64::new(0),
            turns: Turns::new(),
        }
    }
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }
    pub fn engaged(&self) -> usize {
        self.engaged.load(Ordering::SeqCst)
    }
    pub fn idle_secs(&self) -> u64 {
        super::worker::now_s().saturating_sub(self.last_activity.load(Ordering::Relaxed))
    }
    /// A request thread is stuck past `interrupt-timeout`.
    pub fn wedged(&self) -> bool {
        self.wedged.load(Ordering::SeqCst)
    }
    pub fn stop_accepting(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Fires `request-timeout` for requests past their deadline: logs
    /// the thread's Python stack and raises `mod_wsgi.RequestTimeout` in
    /// it. The thread answers 504 itself once it has unwound, so its
    /// `except`/`finally` blocks run before the client hears. A thread
    /// still in its request `interrupt-timeout` later (blocked in C
    /// code) gets its connection cut (the Apache child answers 504) and
    /// marks the process wedged; with `interrupt-timeout=0` the
    /// connection is cut at once.
    pub fn check_request_timeouts(&self) {
        let limit = self.conf.request_timeout;
        if limit == 0 {
            return;
        }
        let mut slots = self.slots.lock();
        for slot in slots.iter_mut().flatten() {
            if slot.fired {
                self.check_unwound(slot);
                continue;
            }
            if slot.started.elapsed() < Duration::from_secs(limit) {
                continue;
            }
            slot.fired = true;
            slot.fired_at = Some(Instant::now());
            super::dlog(Level::Error, &format!(
                "[WSGI-RS-E405] request {} exceeded request-timeout ({limit} s) in daemon process {} of group '{}'; the client gets 504; Python stack of the thread follows, then mod_wsgi.RequestTimeout is raised in it",
                slot.request_id, std::process::id(), self.conf.name
            ));
            if self.conf.interrupt_timeout == 0 {
                // Nothing waits for the thread to unwind: cut now.
                cut(slot);
            }
            let (thread, group) = (slot.thread, slot.group.clone());
            let _ = std::thread::Builder::new().spawn(move || {
                dump_stacks("request-timeout", Some(thread));
                interp::raise_request_timeout(&group, thread);
            });
        }
    }

    /// `interrupt-timeout` after `RequestTimeout` was raised, the thread
    /// still serves the request: the process is replaced gracefully
    /// (`interrupt-timeout=0`: never).
    fn check_unwound(&self, slot: &mut Slot) {
        let wait = self.conf.interrupt_timeout;
        let Some(at) = slot.fired_at else { return };
        if wait == 0 || at.elapsed() < Duration::from_secs(wait) {
            return;
        }
        cut(slot);
        if self.wedged.swap(true, Ordering::SeqCst) {
            return;
        }
        super::dlog(Level::Error, &format!(
            "[WSGI-RS-E439] request {} has not unwound {wait} s (interrupt-timeout) after mod_wsgi.RequestTimeout was raised in its thread (blocked in C code?); replacing daemon process {} of group '{}' gracefully",
            slot.request_id, std::process::id(), self.conf.name
        ));
    }
}

/// Shuts the request's connection down: the thread's next write fails
/// and the Apache child answers 504 (the deadline has passed).
fn cut(slot: &mut Slot) {
    if let Some(s) = slot.stream.take() {
        let _ = s.shutdown(Shutdown::Both);
    }
}

/// Logs the Python stack of `thread` (or of every thread).
pub fn dump_stacks(why: &str, thread: Option<u64>) {
    let code = format!(
        "import sys, traceback\n\
         frames = sys._current_frames()\n\
         for ident, frame in frames.items():\n\
         \x20   if {sel} and ident != {t}: continue\n\
         \x20   for line in ''.join(traceback.format_stack(frame)).rstrip().splitlines():\n\
         \x20       sys.stderr.write('[{why}] thread %d: %s\\n' % (ident, line))\n\
         sys.stderr.flush()\n",
        sel = if thread.is_some() { "True" } else { "False" },
        t = thread.unwrap_or(0),
    );
    interp::with_python(|py| {
        if let Ok(c) = std::ffi::CString::new(code) {
            if let Err(e) = py.run(&c, None, None) {
                e.print(py);
            }
        }
    });
}

/// A request thread: poll, accept, serve, until the process drains.
pub fn worker_loop(sh: &Shared) {
    let index = {
        let mut slots = sh.slots.lock();
        slots.push(None);
        slots.len() - 1
    };
    // SAFETY: pthread_self has no preconditions; on Linux it is the
    // value Python's threading.get_ident() returns for this thread.
    let thread = unsafe { libc::pthread_self() } as u64;
    let mut thread_requests = 0u64;
    let wake = Arc::new(Condvar::new());
    while sh.turns.take(index, &wake) {
        let Some(stream) = accept_turn(sh) else {
            // Stopping: the threads parked for the turn return too.
            sh.turns.close();
            return;
        };
        sh.turns.pass();
        sh.active.fetch_add(1, Ordering::SeqCst);
        sh.last_activity
            .store(super::worker::now_s(), Ordering::Relaxed);
        thread_requests += 1;
        let total = sh.total.fetch_add(1, Ordering::Relaxed) + 1;
        handle(sh, index, thread, stream, (thread_requests, total));
        release_slot(sh, index);
        sh.served.fetch_add(1, Ordering::Relaxed);
        sh.last_activity
            .store(super::worker::now_s(), Ordering::Relaxed);
        sh.active.fetch_sub(1, Ordering::SeqCst);
        sh.engaged.fetch_sub(1, Ordering::SeqCst);
    }
}

/// With the turn held: accepts the next connection (counted engaged),
/// or returns `None` once the process is stopping.
fn accept_turn(sh: &Shared) -> Option<UnixStream> {
    loop {
        // Engaged before the stop check, so the monitor never sees 0
        // while a thread may still accept (SeqCst on both sides).
        sh.engaged.fetch_add(1, Ordering::SeqCst);
        if sh.stopping.load(Ordering::SeqCst) {
            sh.engaged.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        // Blocks for at most worker::ACCEPT_WAIT.
        let asked = Instant::now();
        match sock::accept(sh.fd) {
            Ok(s) => return Some(s),
            Err(e) => {
                sh.engaged.fetch_sub(1, Ordering::SeqCst);
                match e.kind() {
                    std::io::ErrorKind::Interrupted => {}
                    // An immediate EAGAIN means the shared listener was
                    // made non-blocking (by a process of an older build
                    // during an upgrade): wait instead of spinning.
                    std::io::ErrorKind::WouldBlock => {
                        if asked.elapsed() < Duration::from_millis(20) {
                            sock::wait_readable(sh.fd, Some(super::worker::ACCEPT_WAIT));
                        }
                    }
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
    }
}

/// The thread is done with its request; one that had `RequestTimeout`
/// raised in it says it unwound (the process stays).
fn release_slot(sh: &Shared, index: usize) {
    let Some(slot) = sh.slots.lock()[index].take() else {
        return;
    };
    if let Some(at) = slot.fired_at {
        super::dlog(Level::Info, &format!(
            "[WSGI-RS-I440] request {} unwound {:.1} s after mod_wsgi.RequestTimeout was raised in its thread; daemon process {} of group '{}' keeps serving",
            slot.request_id, at.elapsed().as_secs_f64(), std::process::id(), sh.conf.name
        ));
    }
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

fn fail(w: &mut SharedStream, status: u16, why: &str) {
    let _ = wire::write_frame(
        w,
        Kind::Fail,
        &[&u32::from(status).to_le_bytes(), why.as_bytes()],
    );
}

/// Per-request socket settings (`socket-timeout`, default 300 s).
fn set_timeouts(sh: &Shared, stream: &UnixStream) {
    let timeout = match sh.conf.socket_timeout {
        0 => 300,
        t => t,
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(timeout)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(timeout)));
}

/// One request over the wire protocol: read the request frame, accept
/// it, then run it through the shared WSGI entry.
fn handle(sh: &Shared, index: usize, thread: u64, stream: UnixStream, counts: (u64, u64)) {
    set_timeouts(sh, &stream);
    let stream = Arc::new(stream);
    let mut w = SharedStream(stream.clone());
    let buf = READ_BUF.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let mut reader = FrameReader::growing(SharedStream(stream.clone()), buf, 64 * 1024);
    let Some((head, owned)) = read_request(&mut reader) else {
        return;
    };
    if let Err(why) = super::auth::admit(stream.as_raw_fd(), &head, &sh.conf.name) {
        super::dlog(Level::Error, &why);
        fail(&mut w, 403, "refused");
        return;
    }
    let daemon_start = now_us();
    let pid = std::process::id().to_le_bytes();
    if wire::write_frame(&mut w, Kind::Accepted, &[&pid]).is_err() {
        return;
    }
    let queue_limit = sh.conf.queue_timeout as i64 * 1_000_000;
    if sh.conf.queue_timeout > 0 && daemon_start - head.queue_start_us > queue_limit {
        fail(&mut w, 504, "queue-timeout");
        return;
    }
    sh.slots.lock()[index] = Some(Slot {
        thread,
        started: Instant::now(),
        request_id: head.request_id.clone(),
        fired: false,
        group: head.application_group.clone(),
        fired_at: None,
        stream: Some(stream.clone()),
    });
    let mut vars = CgiVars::default();
    for (k, v) in &owned.spans {
        vars.push(&owned.bytes[k.clone()], &owned.bytes[v.clone()]);
    }
    let backend = DaemonBackend {
        w: SharedStream(stream.clone()),
        r: Some(reader),
        body_left: 0,
        body_done: !head.has_body,
        pending: None,
        header_only: head.header_only,
        log_tag: LogTag::new(
            vars.get_bytes("REMOTE_ADDR").unwrap_or_default(),
            vars.get_bytes("REMOTE_PORT").unwrap_or_default(),
            &head.request_id,
        ),
    };
    let port = head.listener_port.to_string();
    // What a script's reload_required(resource) is given: the file the
    // request maps to, as in embedded mode (its r->filename).
    let resource = vars
        .get_bytes("SCRIPT_FILENAME")
        .map(|v| String::from_utf8_lossy(v).into_owned());
    let run = Run {
        sh,
        head: &head,
        vars: &vars,
        port: &port,
        resource: resource.as_deref(),
        index,
        counts,
        daemon_start,
    };
    match run.serve(RequestCtx::new(Box::new(backend))) {
        Some(wsgi::Outcome::Done) => {}
        Some(wsgi::Outcome::Status(s)) => fail(&mut w, s, "error"),
        None => fail(&mut w, 500, "python not running"),
    }
}

/// The CGI variables as sent, owned (the reader goes on to serve the
/// body): one copy of the frame's bytes and where each name and value
/// sits in it (one allocation, not two per variable).
struct Pairs {
    bytes: Vec<u8>,
    spans: Vec<(Range<usize>, Range<usize>)>,
}

/// The request frame: its head and CGI variables.
fn read_request(reader: &mut FrameReader<SharedStream>) -> Option<(RequestHead, Pairs)> {
    let Ok(Some((Kind::Request, payload))) = reader.next_frame() else {
        return None;
    };
    let (head, pairs) = wire::decode_request(payload).ok()?;
    // The decoded names and values are slices of `payload`.
    let base = payload.as_ptr() as usize;
    let span = |s: &[u8]| {
        let at = s.as_ptr() as usize - base;
        at..at + s.len()
    };
    let spans = pairs.iter().map(|(k, v)| (span(k), span(v))).collect();
    Some((
        head,
        Pairs {
            bytes: payload.to_vec(),
            spans,
        },
    ))
}

/// One accepted request and what the daemon knows about it.
struct Run<'a> {
    sh: &'a Shared,
    head: &'a RequestHead,
    vars: &'a CgiVars<'a>,
    /// `mod_wsgi.listener_port`, as text.
    port: &'a str,
    /// The file the request maps to (`SCRIPT_FILENAME`), for the script's
    /// `reload_required(resource)`.
    resource: Option<&'a str>,
    /// The request thread's index (its `mod_wsgi.thread_id` is one more).
    index: usize,
    /// This thread's and this process's request counts.
    counts: (u64, u64),
    /// When this process accepted the request (µs).
    daemon_start: i64,
}

impl Run<'_> {
    fn extras(&self) -> Extras<'_> {
        let (sh, head) = (self.sh, self.head);
        Extras {
            url_scheme: if head.https { "https" } else { "http" },
            multithread: sh.conf.threads > 1,
            multiprocess: sh.conf.multiprocess(),
            process_group: &sh.conf.name,
            application_group: &head.application_group,
            callable_object: &head.callable,
            request_handler: &head.handler,
            handler_script: "",
            script_reloading: head.reloading,
            enable_sendfile: head.sendfile,
            listener_host: &head.listener_host,
            listener_port: self.port.as_bytes(),
            request_id: head.request_id.as_bytes(),
            request_start_us: head.request_start_us,
            script_start_us: self.daemon_start,
            thread_id: self.index as u64 + 1,
            thread_requests: self.counts.0,
            total_requests: self.counts.1,
        }
    }

    /// Runs the application through the shared entry, with the daemon's
    /// own environ keys; `None` when Python is not running.
    fn serve(&self, ctx: Arc<RequestCtx>) -> Option<wsgi::Outcome> {
        let head = self.head;
        let app = App {
            script: &head.script,
            mtime: head.mtime,
            callable: &head.callable,
            reloading: head.reloading,
            resource: self.resource,
        };
        let info = RunInfo {
            script: &head.script,
            request_id: &head.request_id,
            thread_id: self.index as u64 + 1,
            start_us: now_us(),
            request_start_us: head.request_start_us,
            queue_start_us: head.queue_start_us,
            daemon_start_us: self.daemon_start,
            server_pid: head.server_pid,
        };
        let extras = self.extras();
        let method = self.vars.get_bytes("REQUEST_METHOD").unwrap_or_default();
        let uri = self.vars.get_bytes("REQUEST_URI").unwrap_or_default();
        let uri = uri.split(|&b| b == b'?').next().unwrap_or_default();
        let ag = &head.application_group;
        let in_flight = metrics::begin(&self.sh.conf.name, ag, method, uri, info.thread_id, false);
        let served = interp::with_group(&head.application_group, |py| {
            wsgi::serve(
                py,
                &app,
                self.vars,
                &extras,
                &ctx,
                &info,
                |environ, objects| {
                    for (k, v) in [
                        (
                            &b"mod_wsgi.queue_start"[..],
                            head.queue_start_us.to_string(),
                        ),
                        (b"mod_wsgi.daemon_start", self.daemon_start.to_string()),
                        (b"mod_wsgi.daemon_connects", "1".into()),
                        (b"mod_wsgi.daemon_restarts", "0".into()),
                    ] {
                        let _ = environ.set_item(objects.keys.get(py, k), v);
                    }
                },
            )
        });
        drop(ctx.expire());
        let (pg, ag) = (&self.sh.conf.name, &head.application_group);
        crate::request::metrics::record(in_flight, pg, ag, served.as_ref());
        let served = served?;
        let flag = if served.loaded {
            &self.sh.loaded
        } else {
            &self.sh.load_failed
        };
        flag.store(true, Ordering::Relaxed);
        Some(served.outcome)
    }
}
