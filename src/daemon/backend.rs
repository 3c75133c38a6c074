//! The adapter's [`Backend`] inside a daemon process: the request body
//! read from the Apache child's frames, and the response written back as
//! frames over the same connection (shared, never duplicated), with the
//! frame buffer kept per thread from one request to the next.

use std::io::Write;
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use super::sock;
use super::wire::{self, FrameReader, Kind};
use crate::wsgi::{Backend, LogLevel, Push, WriteError};

thread_local! {
    /// The request thread's frame read buffer, reused by every request.
    pub(super) static READ_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One connection shared by the frame reader, the backend's writes and
/// the request-timeout slot (no `dup` per request).
pub(super) struct SharedStream(pub(super) Arc<UnixStream>);

impl std::io::Read for SharedStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for SharedStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        (&*self.0).write(buf)
    }
    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        (&*self.0).write_vectored(bufs)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The adapter's [`Backend`] over the socket to the Apache child.
pub(super) struct DaemonBackend {
    /// Where response frames go.
    pub(super) w: SharedStream,
    /// The request's frames (body); handed back to the thread when done.
    pub(super) r: Option<FrameReader<SharedStream>>,
    /// Bytes of the current body frame not yet read.
    pub(super) body_left: usize,
    /// The body has ended (or there was none).
    pub(super) body_done: bool,
    /// The `Start` frame payload, sent with the first body bytes.
    pub(super) pending: Option<Vec<u8>>,
    /// A HEAD request: body writes are dropped.
    pub(super) header_only: bool,
    /// Prefixes the request's log lines: the client, as mod_wsgi's
    /// daemons name it (`[remote ADDR:PORT]`), and the request id that the
    /// Apache child's lines about the same request carry.
    pub(super) log_tag: LogTag,
}

/// A request's log-line prefix, kept as sent and cleaned and formatted
/// only when a line is logged (most requests log none).
pub(super) struct LogTag {
    /// `REMOTE_ADDR`, `REMOTE_PORT` and the request id, back to back
    /// (one allocation).
    raw: Vec<u8>,
    /// Where `REMOTE_PORT` and the request id start in `raw`.
    port_at: usize,
    id_at: usize,
}

impl LogTag {
    pub(super) fn new(addr: &[u8], port: &[u8], request_id: &str) -> LogTag {
        let mut raw = Vec::with_capacity(addr.len() + port.len() + request_id.len());
        raw.extend_from_slice(addr);
        raw.extend_from_slice(port);
        raw.extend_from_slice(request_id.as_bytes());
        LogTag {
            raw,
            port_at: addr.len(),
            id_at: addr.len() + port.len(),
        }
    }

    /// `[remote ADDR:PORT] [request ID]`. Only address characters are
    /// kept, so nothing a trusted proxy header put into `REMOTE_ADDR`
    /// reaches the log raw.
    fn render(&self) -> String {
        let clean = |part: &[u8]| -> String {
            part.iter()
                .filter(|b| b.is_ascii_hexdigit() || matches!(b, b'.' | b':' | b'[' | b']'))
                .map(|&b| b as char)
                .collect()
        };
        let id: String = self.raw[self.id_at..]
            .iter()
            .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'/' | b'+' | b'-' | b'_'))
            .map(|&b| b as char)
            .collect();
        format!(
            "[remote {}:{}] [request {id}]",
            clean(&self.raw[..self.port_at]),
            clean(&self.raw[self.port_at..self.id_at])
        )
    }
}

impl Drop for DaemonBackend {
    /// Hands the read buffer back to the thread for its next request.
    fn drop(&mut self) {
        if let Some(r) = self.r.take() {
            let buf = r.into_buffer();
            let _ = READ_BUF.try_with(|b| *b.borrow_mut() = buf);
        }
    }
}

fn werr(e: std::io::Error) -> WriteError {
    match e.kind() {
        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => {
            WriteError::ClientGone
        }
        _ => WriteError::Failed(format!("failed to write to the Apache child: {e}")),
    }
}

impl DaemonBackend {
    /// Sends the pending `Start` frame, then a frame of `kind` with
    /// `parts`, then an `End` frame when `end`: one vectored write.
    fn send(&mut self, kind: Option<Kind>, parts: &[&[u8]], end: bool) -> Result<(), WriteError> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if kind.is_some() && len > wire::DATA_FRAME {
            return self.send_split(kind, parts, end);
        }
        let start = self.pending.take();
        if let Some(s) = &start {
            wire::check_len(s.len())
                .map_err(|e| WriteError::Failed(format!("response headers too large: {e}")))?;
        }
        let start_head = start.as_ref().map(|s| wire::prefix(Kind::Start, s.len()));
        let head = kind.map(|k| wire::prefix(k, len));
        let end_head = wire::prefix(Kind::End, 0);
        let mut slices = Vec::with_capacity(parts.len() + 4);
        if let (Some(h), Some(s)) = (&start_head, &start) {
            slices.push(std::io::IoSlice::new(h));
            slices.push(std::io::IoSlice::new(s));
        }
        if let Some(h) = &head {
            slices.push(std::io::IoSlice::new(h));
            slices.extend(
                parts
                    .iter()
                    .filter(|p| !p.is_empty())
                    .map(|p| std::io::IoSlice::new(p)),
            );
        }
        if end {
            slices.push(std::io::IoSlice::new(&end_head));
        }
        wire::write_all_vectored(&mut self.w, &mut slices).map_err(werr)
    }
}

impl DaemonBackend {
    /// A write larger than [`wire::DATA_FRAME`]: sent as consecutive
    /// frames of at most that size (the last one followed by `End` when
    /// `end`), one vectored write each, without copying.
    fn send_split(
        &mut self,
        kind: Option<Kind>,
        parts: &[&[u8]],
        end: bool,
    ) -> Result<(), WriteError> {
        let frames = wire::split_frames(parts, wire::DATA_FRAME);
        let last = frames.len() - 1;
        for (i, frame) in frames.iter().enumerate() {
            self.send(kind, frame, end && i == last)?;
        }
        Ok(())
    }

    /// Moves to the next body frame when the current one is used up;
    /// false at the end of the body.
    fn body_frame(&mut self) -> Result<bool, String> {
        let Some(r) = self.r.as_mut() else {
            return Ok(false);
        };
        while !self.body_done && self.body_left == 0 {
            match r.next_prefix() {
                Ok(Some((Kind::Body, n))) => self.body_left = n,
                Ok(Some((Kind::BodyEnd, _))) => self.body_done = true,
                _ => return Err("the Apache child stopped sending the request body".into()),
            }
        }
        Ok(!self.body_done)
    }
}

impl Backend for DaemonBackend {
    fn read_body_uninit(&mut self, buf: &mut [std::mem::MaybeUninit<u8>]) -> Result<usize, String> {
        if buf.is_empty() || !self.body_frame()? {
            return Ok(0);
        }
        let Some(r) = self.r.as_mut() else {
            return Ok(0);
        };
        let chunk = r
            .next_chunk(self.body_left.min(buf.len()))
            .map_err(|e| format!("error reading the request body: {e}"))?;
        for (d, s) in buf.iter_mut().zip(chunk) {
            d.write(*s);
        }
        self.body_left -= chunk.len();
        Ok(chunk.len())
    }

    fn read_body(&mut self, buf: &mut [u8]) -> Result<usize, String> {
        if !self.body_frame()? || buf.is_empty() {
            return Ok(0);
        }
        let Some(r) = self.r.as_mut() else {
            return Ok(0);
        };
        let n = r
            .read_some(buf, self.body_left)
            .map_err(|e| format!("error reading the request body: {e}"))?;
        self.body_left -= n;
        Ok(n)
    }

    fn start(
        &mut self,
        status: u16,
        line: &str,
        headers: &[(String, String)],
    ) -> Result<(), String> {
        let h: Vec<(Vec<u8>, Vec<u8>)> = headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_bytes().to_vec(),
                    v.chars().map(|c| c as u32 as u8).collect(),
                )
            })
            .collect();
        let refs: Vec<(&[u8], &[u8])> = h
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect();
        self.pending = Some(wire::encode_start(status, line.as_bytes(), &refs));
        Ok(())
    }

    fn write(&mut self, chunks: &[&[u8]], push: Push) -> Result<(), WriteError> {
        self.send(Some(Kind::Data), chunks, push == Push::End)
    }

    fn send_file(&mut self, fd: RawFd, offset: u64, len: u64) -> Result<(), WriteError> {
        self.send(None, &[], false)?;
        let payload = wire::encode_file(offset, len);
        let frame = [&wire::prefix(Kind::File, payload.len())[..], &payload[..]].concat();
        sock::send_with_fd(&self.w.0, &frame, fd).map_err(werr)
    }

    fn finish(&mut self) -> Result<(), WriteError> {
        self.send(None, &[], true)
    }

    fn abort(&mut self) {
        let _ = self.send(Some(Kind::Abort), &[], false);
    }

    /// The first and only write of a small response goes into an empty
    /// socket buffer (the Apache child has sent everything and only
    /// reads now), far larger than [`crate::wsgi::SMALL_RESPONSE`].
    fn small_write_never_blocks(&self) -> bool {
        true
    }

    fn header_only(&self) -> bool {
        self.header_only
    }

    fn log(&self, level: LogLevel, msg: &str) {
        let l = crate::request::level(level);
        super::dlog(l, &format!("{} {msg}", self.log_tag.render()));
    }
}
