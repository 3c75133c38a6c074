//! What the adapter needs from the server, and the per-request context
//! the Python objects share.

use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::sync::Arc;

use parking_lot::Mutex;

/// Error-log levels the adapter uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Notice,
    Info,
    Debug,
}

/// What happens after a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Push {
    /// Let the server buffer the data.
    Buffer,
    /// Send it to the client now (streaming).
    Flush,
    /// This is the whole rest of the body: end the response.
    End,
}

/// See [`Backend::small_write_never_blocks`].
pub const SMALL_RESPONSE: u64 = 16 * 1024;

/// Why a write did not reach the client.
#[derive(Debug)]
pub enum WriteError {
    /// The client closed the connection.
    ClientGone,
    /// Anything else, with a description.
    Failed(String),
}

/// The server side of one request.
pub trait Backend: Send {
    /// Reads request-body bytes into `buf`; `Ok(0)` at the end.
    fn read_body(&mut self, buf: &mut [u8]) -> Result<usize, String>;
    /// [`Backend::read_body`] into memory not yet initialised (a new
    /// `bytes` object): returns how many bytes it wrote from the start.
    /// The default goes through a small buffer; backends override it to
    /// write in place.
    fn read_body_uninit(&mut self, buf: &mut [MaybeUninit<u8>]) -> Result<usize, String> {
        let mut tmp = [0u8; 8192];
        let want = buf.len().min(tmp.len());
        let n = self.read_body(&mut tmp[..want])?;
        for (d, s) in buf.iter_mut().zip(&tmp[..n]) {
            d.write(*s);
        }
        Ok(n)
    }
    /// Sets the response status and headers (before the first write).
    fn start(
        &mut self,
        status: u16,
        status_line: &str,
        headers: &[(String, String)],
    ) -> Result<(), String>;
    /// Writes body chunks, then flushes or ends the response as `push` says.
    fn write(&mut self, chunks: &[&[u8]], push: Push) -> Result<(), WriteError>;
    /// True when a whole response of at most [`SMALL_RESPONSE`] bytes,
    /// written at once, can never block (so the adapter writes it
    /// without releasing the GIL, saving a GIL hand-off per request).
    fn small_write_never_blocks(&self) -> bool {
        false
    }
    /// Sends `len` bytes of the open file `fd` from `offset`.
    fn send_file(&mut self, fd: RawFd, offset: u64, len: u64) -> Result<(), WriteError>;
    /// Ends the response cleanly.
    fn finish(&mut self) -> Result<(), WriteError>;
    /// Ends the response so the client cannot take it as complete.
    fn abort(&mut self);
    /// True for HEAD (the body is discarded by the server).
    fn header_only(&self) -> bool;
    /// Writes to the error log, tagged with the request.
    fn log(&self, level: LogLevel, msg: &str);
    /// True when the client connection is TLS.
    fn is_https(&self) -> bool {
        false
    }
    /// A TLS variable of the connection (`mod_ssl.var_lookup`).
    fn ssl_var(&self, _name: &str) -> Option<String> {
        None
    }
}

/// The request as the Python-visible objects see it. When the request
/// ends the backend is taken away, and any later use raises instead of
/// touching freed server memory.
pub struct RequestCtx {
    backend: Mutex<Option<Box<dyn Backend>>>,
    /// What the request objects count (`wsgi.input` reads, body writes).
    pub io: super::stats::IoCounters,
}

impl RequestCtx {
    pub fn new(backend: Box<dyn Backend>) -> Arc<RequestCtx> {
        Arc::new(RequestCtx {
            backend: Mutex::new(Some(backend)),
            io: Default::default(),
        })
    }

    /// Runs `f` on the backend; `None` once the request has ended.
    pub fn with<R>(&self, f: impl FnOnce(&mut dyn Backend) -> R) -> Option<R> {
        let mut guard = self.backend.lock();
        guard.as_mut().map(|b| f(b.as_mut()))
    }

    /// Like [`with`](Self::with) but gives up instead of waiting when
    /// another thread is using the backend.
    pub fn try_with<R>(&self, f: impl FnOnce(&mut dyn Backend) -> R) -> Option<R> {
        let mut guard = self.backend.try_lock()?;
        guard.as_mut().map(|b| f(b.as_mut()))
    }

    /// Ends the request for every Python object that still holds it.
    pub fn expire(&self) -> Option<Box<dyn Backend>> {
        self.backend.lock().take()
    }
}
