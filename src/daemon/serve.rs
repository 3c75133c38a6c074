//! Serving requests inside a daemon process: the request threads'
//! accept loop, one request over the wire protocol (its environ and
//! application call; the socket side is [`super::backend`]), and the
//! per-request deadline (`request-timeout`) with the stuck thread's
//! Python stack logged.

use std::net::Shutdown;
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pyo3::types::PyDictMethods;

use super::backend::{DaemonBackend, SharedStream, READ_BUF};
use super::wire::{self, FrameReader, Kind};
use super::{sock, GroupEntry};
use crate::apache::Level;
use crate::config::daemon::DaemonGroup;
use crate::interp;
use crate::wsgi::{self, CgiVars, Extras, RequestCtx, RequestObjects, RunInfo};

/// Key prefix of the request facts the Apache child sends next to the
/// CGI variables (not valid variable names, never in the environ).
pub const META: &str = "\x01";

struct Slot {
    thread: u64,
    started: Instant,
    request_id: String,
    fired: bool,
    stream: Option<Arc<UnixStream>>,
}

/// State shared by the request threads and the monitor of one process.
pub struct Shared {
    pub conf: DaemonGroup,
    fd: RawFd,
    stopping: AtomicBool,
    served: AtomicU64,
    active: AtomicUsize,
    /// Request threads waiting in `accept` or serving: the process may
    /// exit once it is stopping and this is 0.
    engaged: AtomicUsize,
    last_activity: AtomicU64,
    slots: Mutex<Vec<Option<Slot>>>,
    total: AtomicU64,
    /// The WSGI script has loaded at least once / failed to load.
    loaded: AtomicBool,
    load_failed: AtomicBool,
}

impl Shared {
    /// `startup-timeout`: the script has failed to load and never loaded.
    pub fn never_loaded(&self) -> bool {
        self.load_failed.load(Ordering::Relaxed) && !self.loaded.load(Ordering::Relaxed)
    }

    pub fn new(g: &GroupEntry, fd: RawFd) -> Shared {
        Shared {
            conf: g.conf.clone(),
            fd,
            stopping: AtomicBool::new(false),
            served: AtomicU64::new(0),
            loaded: AtomicBool::new(false),
            load_failed: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            engaged: AtomicUsize::new(0),
            last_activity: AtomicU64::new(super::worker::now_s()),
            slots: Mutex::new(Vec::new()),
            total: AtomicU64::new(0),
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
    pub fn stop_accepting(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Fires `request-timeout` for requests past their deadline: logs
    /// the thread's Python stack, raises in it, and cuts its connection
    /// (the Apache child answers 504 at the same deadline).
    pub fn check_request_timeouts(&self) {
        let limit = self.conf.request_timeout;
        if limit == 0 {
            return;
        }
        let mut slots = self.slots.lock();
        for slot in slots.iter_mut().flatten() {
            if slot.fired || slot.started.elapsed() < Duration::from_secs(limit) {
                continue;
            }
            slot.fired = true;
            super::dlog(Level::Error, &format!(
                "[WSGI-RS-E405] request {} exceeded request-timeout ({limit} s) in daemon process {} of group '{}'; the client gets 504; Python stack of the thread follows",
                slot.request_id, std::process::id(), self.conf.name
            ));
            if let Some(s) = slot.stream.take() {
                let _ = s.shutdown(Shutdown::Both);
            }
            let thread = slot.thread;
            let _ = std::thread::Builder::new()
                .spawn(move || dump_stacks("request-timeout", Some(thread)));
        }
    }
}

/// Logs the Python stack of `thread` (or of every thread), and for a
/// single thread raises `RuntimeError` in it so the request unwinds.
pub fn dump_stacks(why: &str, thread: Option<u64>) {
    let code = format!(
        "import sys, traceback, ctypes\n\
         frames = sys._current_frames()\n\
         for ident, frame in frames.items():\n\
         \x20   if {sel} and ident != {t}: continue\n\
         \x20   for line in ''.join(traceback.format_stack(frame)).rstrip().splitlines():\n\
         \x20       sys.stderr.write('[{why}] thread %d: %s\\n' % (ident, line))\n\
         if {sel}:\n\
         \x20   ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong({t}), ctypes.py_object(RuntimeError('request-timeout exceeded')))\n\
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
    loop {
        // Engaged before the stop check, so the monitor never sees 0
        // while a thread may still accept (SeqCst on both sides).
        sh.engaged.fetch_add(1, Ordering::SeqCst);
        if sh.stopping.load(Ordering::SeqCst) {
            sh.engaged.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        // Blocks for at most worker::ACCEPT_WAIT.
        let asked = Instant::now();
        let stream = match sock::accept(sh.fd) {
            Ok(s) => s,
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
                continue;
            }
        };
        sh.active.fetch_add(1, Ordering::SeqCst);
        sh.last_activity
            .store(super::worker::now_s(), Ordering::Relaxed);
        thread_requests += 1;
        let total = sh.total.fetch_add(1, Ordering::Relaxed) + 1;
        handle(sh, index, thread, stream, (thread_requests, total));
        sh.slots.lock()[index] = None;
        sh.served.fetch_add(1, Ordering::Relaxed);
        sh.last_activity
            .store(super::worker::now_s(), Ordering::Relaxed);
        sh.active.fetch_sub(1, Ordering::SeqCst);
        sh.engaged.fetch_sub(1, Ordering::SeqCst);
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

fn handle(sh: &Shared, index: usize, thread: u64, stream: UnixStream, counts: (u64, u64)) {
    let timeout = if sh.conf.socket_timeout > 0 {
        sh.conf.socket_timeout
    } else {
        300
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(timeout)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(timeout)));
    let stream = Arc::new(stream);
    let mut w = SharedStream(stream.clone());
    let buf = READ_BUF.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let mut reader = FrameReader::growing(SharedStream(stream.clone()), buf, 64 * 1024);
    let owned: Vec<(Vec<u8>, Vec<u8>)> = match reader.next_frame() {
        Ok(Some((Kind::Request, payload))) => match wire::decode_pairs(payload) {
            Ok(p) => p
                .into_iter()
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect(),
            Err(_) => return,
        },
        _ => return,
    };
    let daemon_start = now_us();
    let pid = std::process::id().to_le_bytes();
    if wire::write_frame(&mut w, Kind::Accepted, &[&pid]).is_err() {
        return;
    }
    let meta = |k: &str| -> &[u8] {
        owned
            .iter()
            .find(|(n, _)| n.strip_prefix(META.as_bytes()) == Some(k.as_bytes()))
            .map_or(&[][..], |(_, v)| v.as_slice())
    };
    let text = |k: &str| String::from_utf8_lossy(meta(k)).into_owned();
    let num = |k: &str| text(k).parse::<i64>().unwrap_or(0);
    let queue_start = num("qstart");
    if sh.conf.queue_timeout > 0
        && daemon_start - queue_start > sh.conf.queue_timeout as i64 * 1_000_000
    {
        fail(&mut w, 504, "queue-timeout");
        return;
    }
    let request_id = text("reqid");
    sh.slots.lock()[index] = Some(Slot {
        thread,
        started: Instant::now(),
        request_id: request_id.clone(),
        fired: false,
        stream: Some(stream.clone()),
    });
    let mut vars = CgiVars::default();
    for (k, v) in owned
        .iter()
        .filter(|(k, _)| !k.starts_with(META.as_bytes()))
    {
        vars.push(k, v);
    }
    let (script, callable, handler_script) = (text("script"), text("callable"), text("hscript"));
    // What a script's reload_required(resource) is given: the file the
    // request maps to, as in embedded mode (its r->filename).
    let resource = owned
        .iter()
        .find(|(k, _)| k == b"SCRIPT_FILENAME")
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
    let group = text("group");
    let scheme: &'static str = if meta("scheme") == b"https" {
        "https"
    } else {
        "http"
    };
    let extras = Extras {
        url_scheme: scheme,
        multithread: sh.conf.threads > 1,
        multiprocess: sh.conf.multiprocess(),
        process_group: &sh.conf.name,
        application_group: &group,
        callable_object: &callable,
        request_handler: meta("handler"),
        handler_script: &handler_script,
        script_reloading: meta("reload") == b"1",
        enable_sendfile: meta("sendfile") == b"1",
        listener_host: meta("lhost"),
        listener_port: meta("lport"),
        request_id: request_id.as_bytes(),
        request_start_us: num("rstart"),
        script_start_us: daemon_start,
        thread_id: index as u64 + 1,
        thread_requests: counts.0,
        total_requests: counts.1,
    };
    let backend = DaemonBackend {
        w: SharedStream(stream.clone()),
        r: Some(reader),
        body_left: 0,
        body_done: meta("body") != b"1",
        pending: None,
        header_only: meta("head") == b"1",
        request_id: request_id.clone(),
    };
    let ctx = RequestCtx::new(Box::new(backend));
    let info = RunInfo {
        script: &script,
        request_id: &request_id,
        thread_id: index as u64 + 1,
        start_us: daemon_start,
    };
    let outcome = interp::with_group(&group, |py| {
        let objects = match RequestObjects::new(py, &ctx, &request_id) {
            Ok(o) => o,
            Err(e) => {
                e.print(py);
                return wsgi::Outcome::Status(500);
            }
        };
        let app = match interp::load_app(
            py,
            &script,
            num("mtime"),
            &callable,
            meta("reload") == b"1",
            resource.as_deref(),
        ) {
            Ok(app) => {
                sh.loaded.store(true, Ordering::Relaxed);
                app
            }
            Err(interp::LoadError::MissingCallable(msg)) => {
                sh.load_failed.store(true, Ordering::Relaxed);
                super::dlog(Level::Error, &format!("[WSGI-RS-E104] {msg}"));
                return wsgi::Outcome::Status(500);
            }
            Err(interp::LoadError::Failed(err)) => {
                sh.load_failed.store(true, Ordering::Relaxed);
                super::dlog(Level::Error, &format!(
                    "[WSGI-RS-E104] Failed to exec Python script file '{script}' in daemon process group '{}'.", sh.conf.name
                ));
                for line in wsgi::traceback_lines(py, &err) {
                    super::dlog(Level::Error, &line);
                }
                return wsgi::Outcome::Status(500);
            }
        };
        let environ = match wsgi::build_environ(py, &vars, &extras, &objects) {
            Ok(env) => env,
            Err(e) => {
                e.print(py);
                return wsgi::Outcome::Status(500);
            }
        };
        for (k, v) in [
            (&b"mod_wsgi.queue_start"[..], queue_start.to_string()),
            (b"mod_wsgi.daemon_start", daemon_start.to_string()),
            (b"mod_wsgi.daemon_connects", "1".into()),
            (b"mod_wsgi.daemon_restarts", "0".into()),
        ] {
            let _ = environ.set_item(objects.keys.get(py, k), v);
        }
        wsgi::run(py, &app, &environ, &objects, &ctx, &info)
    });
    drop(ctx.expire());
    match outcome {
        Some(wsgi::Outcome::Done) => {}
        Some(wsgi::Outcome::Status(s)) => fail(&mut w, s, "error"),
        None => fail(&mut w, 500, "python not running"),
    }
}
