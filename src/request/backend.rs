//! The adapter's [`Backend`] over a live `request_rec`: body reads
//! through the input filters, responses through the output filters.

use crate::apache::{brigade::Brigade, Level, Request};
use crate::wsgi::{Backend, LogLevel, Push, WriteError};

/// Apache's log level for the adapter's.
pub fn level(l: LogLevel) -> Level {
    match l {
        LogLevel::Error => Level::Error,
        LogLevel::Warn => Level::Warn,
        LogLevel::Notice => Level::Notice,
        LogLevel::Info => Level::Info,
        LogLevel::Debug => Level::Debug,
    }
}

/// Reads and writes a request through httpd's filters.
pub struct RequestBackend {
    r: Request,
    /// The one brigade reused for every read and write of the request.
    bb: Brigade,
    /// `WSGIEnableSendfile`: file_wrapper files go out as file buckets
    /// (sendfile) rather than being read into memory.
    sendfile: bool,
    /// The request has a body (after the chunked policy); without one,
    /// reads return end-of-input without asking the filters.
    has_body: bool,
}

impl RequestBackend {
    pub fn new(r: Request, sendfile: bool, has_body: bool) -> RequestBackend {
        RequestBackend {
            r,
            bb: r.new_brigade(),
            sendfile,
            has_body,
        }
    }

    fn read_error(&self) -> String {
        if self.r.connection_aborted() {
            "client closed the connection while sending the request body".to_owned()
        } else {
            "error reading the request body (timeout or bad chunked encoding)".to_owned()
        }
    }

    fn pass(&mut self) -> Result<(), WriteError> {
        match self.r.pass(&self.bb) {
            Ok(()) => Ok(()),
            Err(_) if self.r.connection_aborted() => Err(WriteError::ClientGone),
            Err(rc) => Err(WriteError::Failed(format!(
                "failed to write response data (APR status {rc})"
            ))),
        }
    }
}

impl Backend for RequestBackend {
    fn read_body(&mut self, buf: &mut [u8]) -> Result<usize, String> {
        if !self.has_body || buf.is_empty() {
            return Ok(0);
        }
        self.r.read_body(buf).ok_or_else(|| self.read_error())
    }

    fn read_body_uninit(&mut self, buf: &mut [std::mem::MaybeUninit<u8>]) -> Result<usize, String> {
        if !self.has_body || buf.is_empty() {
            return Ok(0);
        }
        self.r
            .read_body_uninit(buf)
            .ok_or_else(|| self.read_error())
    }

    fn start(
        &mut self,
        status: u16,
        status_line: &str,
        headers: &[(String, String)],
    ) -> Result<(), String> {
        let (r, pool) = (self.r, self.r.pool());
        r.set_status(status, status_line.as_bytes());
        for (name, value) in headers {
            let v = latin1_bytes(value);
            if name.eq_ignore_ascii_case("content-type") {
                r.set_content_type(&v);
            } else if name.eq_ignore_ascii_case("content-length") {
                r.set_content_length(value.trim().parse().unwrap_or(0));
            } else if name.eq_ignore_ascii_case("www-authenticate") {
                r.err_headers_out().add(pool, name.as_bytes(), &v);
            } else {
                r.headers_out().add(pool, name.as_bytes(), &v);
            }
        }
        Ok(())
    }

    fn write(&mut self, chunks: &[&[u8]], push: Push) -> Result<(), WriteError> {
        if self.r.connection_aborted() {
            return Err(WriteError::ClientGone);
        }
        for c in chunks {
            self.bb.append_transient(c);
        }
        match push {
            Push::Buffer => {}
            Push::Flush => self.bb.append_flush(),
            // A flush before EOS makes the core write the response now,
            // so the worker can read the next keep-alive request at once
            // instead of parking the connection for write completion.
            Push::End => {
                self.bb.append_flush();
                self.bb.append_eos();
            }
        }
        self.pass()
    }

    fn send_file(&mut self, fd: i32, offset: u64, len: u64) -> Result<(), WriteError> {
        if self.r.connection_aborted() {
            return Err(WriteError::ClientGone);
        }
        if len > 0 {
            self.bb
                .append_fd(fd, offset, len, self.sendfile)
                .map_err(|rc| {
                    WriteError::Failed(format!(
                        "cannot send file descriptor {fd} (APR status {rc})"
                    ))
                })?;
        }
        self.pass()
    }

    fn finish(&mut self) -> Result<(), WriteError> {
        self.bb.append_flush();
        self.bb.append_eos();
        self.pass()
    }

    fn abort(&mut self) {
        self.r.close_connection();
        self.bb.append_abort();
        let _ = self.r.pass(&self.bb);
    }

    fn header_only(&self) -> bool {
        self.r.is_header_only()
    }

    fn log(&self, level_: LogLevel, msg: &str) {
        self.r.log(level(level_), msg);
    }

    fn is_https(&self) -> bool {
        self.r.is_ssl()
    }

    fn ssl_var(&self, name: &str) -> Option<String> {
        self.r.ssl_var(name)
    }
}

/// Header values are latin-1 `str` (validated by the adapter): one byte
/// per character on the wire.
fn latin1_bytes(s: &str) -> Vec<u8> {
    s.chars().map(|c| c as u32 as u8).collect()
}
