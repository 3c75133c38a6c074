//! Unit tests of the `wsgi` layer (PEP 3333 in Rust) over a fake
//! [`Backend`]: the adapter talks to the server only through that trait,
//! so a recording backend shows exactly what it asked the server to do.
//! The Apache behaviour itself is tested end to end by the pytest suite.
//!
//! The cdylib cannot be linked into a test binary, so the layers the
//! adapter sits on are compiled here from their sources, like tests/pure.rs
//! does for the pure ones. Python is started once, in this process.

#[path = "../src/ffi/mod.rs"]
#[allow(
    dead_code,
    unused_imports,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    clippy::all
)]
mod ffi;

#[path = "../src/apache/mod.rs"]
#[allow(dead_code, unused_imports)]
mod apache;

#[path = "../src/config/mod.rs"]
#[allow(dead_code, unused_imports)]
mod config;

#[path = "../src/store/mod.rs"]
#[allow(dead_code, unused_imports)]
mod store;

#[path = "../src/interp/mod.rs"]
#[allow(dead_code, unused_imports)]
mod interp;

#[path = "../src/wsgi/mod.rs"]
#[allow(dead_code, unused_imports)]
mod wsgi;

use std::borrow::Cow;
use std::ffi::CString;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::PyModule;

use wsgi::{Backend, LogLevel, Outcome, Push, WriteError};

// `wsgi/metrics.rs` (`mod_wsgi.server_metrics()`) reads httpd's scoreboard
// through `apache::scoreboard`; these tests never call it, but the linker
// wants the symbols. They stop the test if anything ever reaches them.
#[no_mangle]
extern "C" fn ap_exists_scoreboard_image() -> i32 {
    unreachable_httpd("ap_exists_scoreboard_image")
}
#[no_mangle]
extern "C" fn ap_get_scoreboard_global() -> *mut u8 {
    unreachable_httpd("ap_get_scoreboard_global")
}
#[no_mangle]
extern "C" fn ap_get_scoreboard_process(_slot: i32) -> *mut u8 {
    unreachable_httpd("ap_get_scoreboard_process")
}
#[no_mangle]
extern "C" fn ap_get_scoreboard_worker_from_indexes(_slot: i32, _thread: i32) -> *mut u8 {
    unreachable_httpd("ap_get_scoreboard_worker_from_indexes")
}
#[no_mangle]
extern "C" fn apr_time_now() -> i64 {
    unreachable_httpd("apr_time_now")
}

fn unreachable_httpd(name: &str) -> ! {
    eprintln!("{name}: httpd is not linked into the wsgi unit tests");
    std::process::abort()
}

/// Everything the adapter asked the server to do for one request.
#[derive(Default, Debug)]
struct Seen {
    status: Option<(u16, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Pushes in order (`Buffer`, `Flush`, `End`).
    pushes: Vec<Push>,
    finished: bool,
    aborted: bool,
    log: Vec<(LogLevel, String)>,
}

/// A server that records what it is asked and serves a fixed request body.
struct FakeBackend {
    body: Vec<u8>,
    read: usize,
    header_only: bool,
    seen: Arc<Mutex<Seen>>,
}

impl Backend for FakeBackend {
    fn read_body(&mut self, buf: &mut [u8]) -> Result<usize, String> {
        let n = buf.len().min(self.body.len() - self.read);
        buf[..n].copy_from_slice(&self.body[self.read..self.read + n]);
        self.read += n;
        Ok(n)
    }

    fn start(
        &mut self,
        status: u16,
        line: &str,
        headers: &[(String, String)],
    ) -> Result<(), String> {
        let mut seen = self.seen.lock();
        seen.status = Some((status, line.to_owned()));
        seen.headers = headers.to_vec();
        Ok(())
    }

    fn write(&mut self, chunks: &[&[u8]], push: Push) -> Result<(), WriteError> {
        let mut seen = self.seen.lock();
        for c in chunks {
            seen.body.extend_from_slice(c);
        }
        seen.pushes.push(push);
        if push == Push::End {
            seen.finished = true;
        }
        Ok(())
    }

    fn send_file(&mut self, _fd: RawFd, _offset: u64, _len: u64) -> Result<(), WriteError> {
        Err(WriteError::Failed("no files in the fake backend".into()))
    }

    fn finish(&mut self) -> Result<(), WriteError> {
        self.seen.lock().finished = true;
        Ok(())
    }

    fn abort(&mut self) {
        self.seen.lock().aborted = true;
    }

    fn header_only(&self) -> bool {
        self.header_only
    }

    fn log(&self, level: LogLevel, msg: &str) {
        self.seen.lock().log.push((level, msg.to_owned()));
    }
}

/// Starts Python in this process once (what child_init does in Apache).
fn python() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let settings = interp::Settings {
            python_home: None,
            python_path: vec![],
            optimize: 0,
            dont_write_bytecode: true,
            warnings: vec![],
            hash_seed: None,
            python_eggs: None,
            restrict_stdin: false,
            restrict_stdout: false,
            restrict_signal: false,
            destroy_interpreter: false,
            threads_per_process: 4,
            maximum_processes: 1,
            apache_version: (2, 4, 0),
            server_description: "wsgi unit tests".into(),
            mpm_name: "event".into(),
            build_date: String::new(),
            process_group: String::new(),
            interpreter: Default::default(),
            server_metrics: false,
        };
        interp::initialize(&settings, wsgi::prepare_interpreter).expect("Python starts");
    });
}

/// What one request produced: the outcome, what the server saw, and the
/// application module (to read what the app recorded).
struct Served {
    outcome: Outcome,
    seen: Seen,
    /// `repr()` of the module global `RESULT` after the request (or "None").
    result: String,
    /// The request's measurements.
    stats: wsgi::RequestStats,
}

/// Runs `application` from `source` for one request with `body` as its
/// input, the way a mode's handler does: request objects, environ, run,
/// then the request expires. The only place that knows the adapter's
/// entry points.
fn serve(source: &str, body: &[u8], header_only: bool) -> Served {
    python();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let backend = FakeBackend {
        body: body.to_vec(),
        read: 0,
        header_only,
        seen: seen.clone(),
    };
    let ctx = wsgi::RequestCtx::new(Box::new(backend));
    let length = body.len().to_string();
    let var = |k: &'static str, v: &str| -> (Cow<'static, [u8]>, Cow<'static, [u8]>) {
        (
            Cow::Borrowed(k.as_bytes()),
            Cow::Owned(v.as_bytes().to_vec()),
        )
    };
    let vars = wsgi::CgiVars {
        entries: vec![
            var("REQUEST_METHOD", "POST"),
            var("CONTENT_LENGTH", &length),
            var("PATH_INFO", "/x"),
        ],
    };
    let extras = wsgi::Extras {
        url_scheme: "http",
        multithread: true,
        multiprocess: false,
        process_group: "",
        application_group: "",
        callable_object: "application",
        request_handler: b"wsgi-script",
        handler_script: "",
        script_reloading: false,
        enable_sendfile: false,
        listener_host: b"127.0.0.1",
        listener_port: b"80",
        request_id: b"unit",
        request_start_us: 0,
        script_start_us: 0,
        thread_id: 1,
        thread_requests: 1,
        total_requests: 1,
    };
    let info = wsgi::RunInfo {
        script: "unit.wsgi",
        request_id: "unit",
        thread_id: 1,
        start_us: 1_000_000,
        request_start_us: 999_000,
        queue_start_us: 0,
        daemon_start_us: 0,
        server_pid: 4242,
    };
    let mut stats = info.stats();
    let (outcome, result) = interp::with_python(|py| {
        let stats = &mut stats;
        let code = CString::new(source).unwrap();
        // A name of its own: the tests run in parallel, and from_code
        // returns whatever sys.modules holds under the name once the
        // code has run (another test's module if they shared it).
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = CString::new(format!(
            "unit_wsgi_{}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        ))
        .unwrap();
        let module = PyModule::from_code(py, &code, c"unit.wsgi", &name).unwrap();
        let app = module.getattr("application").unwrap();
        let objects = wsgi::RequestObjects::new(py, &ctx, "unit").unwrap();
        let environ = wsgi::build_environ(py, &vars, &extras, &objects).unwrap();
        let outcome = wsgi::run(py, &app, &environ, &objects, &ctx, &info, stats);
        drop(ctx.expire());
        let result = match module.getattr("after_request") {
            Ok(f) => f.call0().unwrap().repr().unwrap().to_string(),
            Err(_) => "None".into(),
        };
        (outcome, result)
    })
    .expect("Python is running");
    let seen = std::mem::take(&mut *seen.lock());
    Served {
        outcome,
        seen,
        result,
        stats,
    }
}

fn header<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn logged(seen: &Seen, needle: &str) -> bool {
    seen.log.iter().any(|(_, m)| m.contains(needle))
}

#[test]
fn status_headers_and_body_reach_the_server_and_the_response_ends() {
    let s = serve(
        "def application(environ, start_response):\n\
         \x20   start_response('201 Made Here', [('X-One', '1'), ('X-One', '2')])\n\
         \x20   return [b'hel', b'', b'lo']\n",
        b"",
        false,
    );
    assert_eq!(s.outcome, Outcome::Done);
    assert_eq!(s.seen.status, Some((201, "201 Made Here".into())));
    let ones: Vec<_> = s
        .seen
        .headers
        .iter()
        .filter(|(k, _)| k == "X-One")
        .collect();
    assert_eq!(ones.len(), 2, "{:?}", s.seen.headers);
    assert_eq!(s.seen.body, b"hello");
    assert!(s.seen.finished && !s.seen.aborted, "{:?}", s.seen);
}

#[test]
fn exception_before_start_response_is_a_500_with_traceback_and_nothing_sent() {
    let s = serve(
        "def application(environ, start_response):\n\
         \x20   raise ValueError('unit-boom')\n",
        b"",
        false,
    );
    assert_eq!(s.outcome, Outcome::Status(500));
    assert_eq!(s.seen.status, None);
    // the request's measurements say so too
    assert_eq!(s.stats.status, 500);
    assert_eq!((s.stats.output_bytes, s.stats.output_writes), (0, 0));
    assert!(s.seen.body.is_empty());
    assert!(logged(&s.seen, "ValueError: unit-boom"), "{:?}", s.seen.log);
}

#[test]
fn exception_after_the_body_started_aborts_and_close_is_called() {
    let s = serve(
        "closed = []\n\
         class Body:\n\
         \x20   def __iter__(self):\n\
         \x20       yield b'first'\n\
         \x20       raise RuntimeError('unit-mid-stream')\n\
         \x20   def close(self):\n\
         \x20       closed.append(True)\n\
         def application(environ, start_response):\n\
         \x20   start_response('200 OK', [])\n\
         \x20   return Body()\n\
         def after_request():\n\
         \x20   return closed\n",
        b"",
        false,
    );
    assert_eq!(s.outcome, Outcome::Done);
    assert!(s.seen.body.starts_with(b"first"), "{:?}", s.seen);
    assert!(s.seen.aborted, "a failed stream must not look complete");
    assert!(!s.seen.finished);
    assert_eq!(s.result, "[True]");
    assert!(
        logged(&s.seen, "RuntimeError: unit-mid-stream"),
        "{:?}",
        s.seen.log
    );
}

#[test]
fn non_bytes_item_is_a_500_and_close_is_still_called() {
    let s = serve(
        "closed = []\n\
         class Body(list):\n\
         \x20   def close(self):\n\
         \x20       closed.append(True)\n\
         def application(environ, start_response):\n\
         \x20   start_response('200 OK', [])\n\
         \x20   return Body(['text, not bytes'])\n\
         def after_request():\n\
         \x20   return closed\n",
        b"",
        false,
    );
    assert_eq!(s.outcome, Outcome::Status(500));
    assert!(s.seen.body.is_empty());
    assert_eq!(s.result, "[True]");
    assert!(logged(&s.seen, "TypeError"), "{:?}", s.seen.log);
}

#[test]
fn content_length_limits_what_is_written() {
    let s = serve(
        "def application(environ, start_response):\n\
         \x20   start_response('200 OK', [('Content-Length', '5')])\n\
         \x20   return [b'0123', b'456789', b'more']\n",
        b"",
        false,
    );
    assert_eq!(s.outcome, Outcome::Done);
    assert_eq!(header(&s.seen, "Content-Length"), Some("5"));
    assert_eq!(s.seen.body, b"01234");
    assert!(!s.seen.aborted);
}

#[test]
fn invalid_status_and_headers_are_refused_before_anything_is_sent() {
    for (status, headers) in [
        ("200", "[]"),
        ("2000 OK", "[]"),
        ("200 OK", "[('X-Bad', 'v\\r\\nX-Injected: yes')]"),
        ("200 OK", "[('X Bad', 'v')]"),
        ("200 OK", "(('X-Tuple', 'v'),)"),
    ] {
        let source = format!(
            "def application(environ, start_response):\n\
             \x20   start_response({status:?}, {headers})\n\
             \x20   return [b'must not be sent']\n"
        );
        let s = serve(&source, b"", false);
        assert_eq!(s.outcome, Outcome::Status(500), "{status} {headers}");
        assert_eq!(s.seen.status, None, "{status} {headers}");
        assert!(s.seen.body.is_empty());
    }
}

#[test]
fn write_callable_sends_before_the_iterable_and_refuses_str() {
    let s = serve(
        "refused = []\n\
         def application(environ, start_response):\n\
         \x20   write = start_response('200 OK', [])\n\
         \x20   write(b'ab')\n\
         \x20   try:\n\
         \x20       write('text')\n\
         \x20   except TypeError:\n\
         \x20       refused.append('TypeError')\n\
         \x20   return [b'cd']\n\
         def after_request():\n\
         \x20   return refused\n",
        b"",
        false,
    );
    assert_eq!(s.outcome, Outcome::Done);
    assert_eq!(s.seen.body, b"abcd");
    assert_eq!(s.result, "['TypeError']");
}

#[test]
fn wsgi_input_reads_the_backend_body_then_expires_with_the_request() {
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let s = serve(
        "kept = []\n\
         def application(environ, start_response):\n\
         \x20   inp = environ['wsgi.input']\n\
         \x20   kept.append(inp)\n\
         \x20   first = inp.readline(10)\n\
         \x20   rest = inp.read()\n\
         \x20   start_response('200 OK', [])\n\
         \x20   return [first, rest, inp.read()]\n\
         def after_request():\n\
         \x20   try:\n\
         \x20       kept[0].read(1)\n\
         \x20   except Exception as e:\n\
         \x20       return type(e).__name__\n\
         \x20   return 'still readable'\n",
        &body,
        false,
    );
    assert_eq!(s.outcome, Outcome::Done);
    assert_eq!(s.seen.body, body);
    assert_eq!(s.result, "'RuntimeError'");
}

#[test]
fn exc_info_replaces_the_status_before_the_body_started() {
    let s = serve(
        "import sys\n\
         def application(environ, start_response):\n\
         \x20   start_response('200 OK', [('X-First', '1')])\n\
         \x20   try:\n\
         \x20       raise ValueError('handled')\n\
         \x20   except ValueError:\n\
         \x20       start_response('503 Busy', [('X-Second', '2')], sys.exc_info())\n\
         \x20   return [b'error page']\n",
        b"",
        false,
    );
    assert_eq!(s.outcome, Outcome::Done);
    assert_eq!(s.seen.status, Some((503, "503 Busy".into())));
    assert_eq!(header(&s.seen, "X-First"), None);
    assert_eq!(header(&s.seen, "X-Second"), Some("2"));
    assert_eq!(s.seen.body, b"error page");
}

#[test]
fn wsgi_errors_lines_go_to_the_backend_log() {
    let s = serve(
        "def application(environ, start_response):\n\
         \x20   environ['wsgi.errors'].write('unit-log-line\\n')\n\
         \x20   start_response('200 OK', [])\n\
         \x20   return [b'']\n",
        b"",
        false,
    );
    assert_eq!(s.outcome, Outcome::Done);
    assert!(logged(&s.seen, "unit-log-line"), "{:?}", s.seen.log);
}

#[test]
fn request_stats_count_the_body_read_and_the_blocks_written() {
    let s = serve(
        "def application(environ, start_response):\n\
         \x20   inp = environ['wsgi.input']\n\
         \x20   first = inp.readline()\n\
         \x20   rest = inp.read()\n\
         \x20   start_response('200 OK', [])\n\
         \x20   return [first, b'', rest]\n",
        b"line one\nand the rest",
        false,
    );
    assert_eq!(s.outcome, Outcome::Done);
    let st = s.stats;
    assert_eq!(st.input_bytes, 21, "{st:?}");
    assert!(st.input_reads >= 1, "{st:?}");
    assert_eq!(st.output_bytes, 21, "{st:?}");
    // three items of the list, the empty one included (as mod_wsgi counts)
    assert_eq!(st.output_writes, 3, "{st:?}");
    assert_eq!(st.status, 200);
    assert_eq!((st.thread_id, st.request_start), (1, 999_000));
    assert_eq!(st.server_pid, 4242);
    assert_eq!((st.queue_start, st.daemon_start), (0, 0));
    assert_eq!(st.application_start, 1_000_000);
    assert!(st.application_finish > st.application_start, "{st:?}");
}

#[test]
fn histogram_buckets_are_mod_wsgi_6s_quarter_octaves_from_one_millisecond() {
    let b = wsgi::histogram_bucket;
    assert_eq!(wsgi::HISTOGRAM_BUCKETS, 65);
    for (us, bucket) in [
        (0, 0),
        (999, 0),
        (1_000, 0),
        (1_249, 0),
        (1_250, 1),
        (1_999, 3),
        (2_000, 4),
        (3_000, 6),
        (65_535_999, 63),
        (65_536_000, 64),
        (u64::MAX, 64),
    ] {
        assert_eq!(b(us), bucket, "{us} µs");
    }
}
