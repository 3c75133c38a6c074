//! The private protocol between an Apache child and a daemon process,
//! over a UNIX stream socket. Both ends come from the same build.
//!
//! Every frame is a 5-byte prefix, `kind: u8` then `len: u32` (little
//! endian), followed by `len` payload bytes. Writers send prefix and
//! payload with one vectored write, so body data is never copied into a
//! frame buffer; readers read through a buffer, and large body frames go
//! straight into the caller's buffer.
//!
//! Child → daemon: [`Kind::Request`] (the CGI variables), then
//! [`Kind::Body`] frames and one [`Kind::BodyEnd`].
//! Daemon → child: [`Kind::Accepted`] (pid, as soon as the daemon picks
//! the request up), then either [`Kind::Fail`] (nothing was sent: answer
//! with that status) or [`Kind::Start`] (status and headers), body frames
//! ([`Kind::Data`], [`Kind::File`] carrying a descriptor with
//! `SCM_RIGHTS`), and [`Kind::End`] or [`Kind::Abort`].
//!
//! This file uses only `std` so `tests/pure.rs` can test it on its own.

#![forbid(unsafe_code)]

use std::io::{self, IoSlice, Read, Write};

/// Largest frame payload a reader accepts and a writer sends (the CGI
/// variables of one request, the response headers, or one body chunk).
/// Both ends check it, so a length never has to be cut to 32 bits.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Largest payload of one [`Kind::Data`] frame a daemon sends: an app
/// write or item of any size goes out as frames of at most this many
/// bytes (well below [`MAX_FRAME`]).
pub const DATA_FRAME: usize = 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Request = b'Q',
    Body = b'B',
    BodyEnd = b'b',
    Accepted = b'A',
    Start = b'S',
    Data = b'D',
    File = b'F',
    End = b'E',
    Abort = b'X',
    Fail = b'R',
}

impl Kind {
    pub fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            b'Q' => Kind::Request,
            b'B' => Kind::Body,
            b'b' => Kind::BodyEnd,
            b'A' => Kind::Accepted,
            b'S' => Kind::Start,
            b'D' => Kind::Data,
            b'F' => Kind::File,
            b'E' => Kind::End,
            b'X' => Kind::Abort,
            b'R' => Kind::Fail,
            _ => return None,
        })
    }
}

/// Bytes of a frame prefix: the kind, then the payload length.
pub const PREFIX: usize = 5;

/// The prefix of a frame; `len` is at most [`MAX_FRAME`] (the writers
/// check it with [`check_len`] first).
pub fn prefix(kind: Kind, len: usize) -> [u8; PREFIX] {
    debug_assert!(len <= MAX_FRAME);
    let l = (len.min(u32::MAX as usize) as u32).to_le_bytes();
    [kind as u8, l[0], l[1], l[2], l[3]]
}

/// The kind byte and payload length a prefix carries (neither checked).
fn parse_prefix(head: [u8; PREFIX]) -> (u8, usize) {
    (
        head[0],
        u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize,
    )
}

/// A frame payload length a writer may send: at most [`MAX_FRAME`], the
/// limit the reader enforces.
pub fn check_len(len: usize) -> io::Result<()> {
    if len > MAX_FRAME {
        return Err(bad(&format!(
            "frame of {len} bytes exceeds the limit of {MAX_FRAME} bytes"
        )));
    }
    Ok(())
}

/// Splits `parts` (one app write) into frame payloads of at most `max`
/// bytes each, without copying: each inner list is one frame's parts.
pub fn split_frames<'a>(parts: &[&'a [u8]], max: usize) -> Vec<Vec<&'a [u8]>> {
    let max = max.max(1);
    let mut frames = vec![Vec::new()];
    let mut room = max;
    for part in parts {
        let mut rest: &'a [u8] = part;
        while !rest.is_empty() {
            if room == 0 {
                frames.push(Vec::new());
                room = max;
            }
            let (head, tail) = rest.split_at(rest.len().min(room));
            frames.last_mut().expect("never empty").push(head);
            room -= head.len();
            rest = tail;
        }
    }
    frames
}

/// A field inside a payload: `len: u32` + bytes. A field longer than
/// `u32::MAX` makes the payload exceed [`MAX_FRAME`], which
/// [`write_frame`] refuses, so the cut length never goes out.
fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// Payload of a list of byte-string pairs: `count: u32`, then each name
/// and value as `len: u32` + bytes.
pub fn encode_pairs<'a>(pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    put_pairs(&mut out, pairs);
    out
}

fn put_pairs<'a>(out: &mut Vec<u8>, pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) {
    let at = out.len();
    out.extend_from_slice(&[0u8; 4]);
    let mut n: u32 = 0;
    for (k, v) in pairs {
        put_bytes(out, k);
        put_bytes(out, v);
        n += 1;
    }
    out[at..at + 4].copy_from_slice(&n.to_le_bytes());
}

/// What an Apache child tells a daemon about a request besides its CGI
/// variables: the facts the daemon's environ and loader need. Sent at the
/// head of the [`Kind::Request`] payload, before the variables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestHead {
    /// `wsgi.url_scheme` is `https` (else `http`).
    pub https: bool,
    /// The WSGI script's path.
    pub script: String,
    /// The script's modification time (µs) as the child saw it, so the
    /// daemon reloads exactly when the child would.
    pub mtime: i64,
    pub callable: String,
    /// The expanded application group (empty: the main interpreter).
    pub application_group: String,
    /// `WSGIScriptReloading` in force for the request.
    pub reloading: bool,
    /// `WSGIEnableSendfile` in force for the request.
    pub sendfile: bool,
    /// The request's handler name (`mod_wsgi.request_handler`).
    pub handler: Vec<u8>,
    /// The `Listen` host the connection arrived on, if named.
    pub listener_host: Vec<u8>,
    pub listener_port: u16,
    /// Apache's log id of the request (`mod_wsgi.request_id`).
    pub request_id: String,
    /// When Apache read the request line (µs since the epoch).
    pub request_start_us: i64,
    /// When the child sent the request (µs), for `queue-timeout` and
    /// `mod_wsgi.queue_start`.
    pub queue_start_us: i64,
    /// The Apache child process that sent the request (the events'
    /// `server_pid`).
    pub server_pid: u32,
    /// A HEAD request: the response body is not sent.
    pub header_only: bool,
    /// Body frames follow the request frame.
    pub has_body: bool,
    /// The proof that Apache's configuration routed this request to the
    /// group (an HMAC of the group's key over the script, callable,
    /// application group and handler; see `daemon::auth`).
    pub proof: [u8; 32],
}

impl RequestHead {
    fn flags(&self) -> u8 {
        [
            self.https,
            self.reloading,
            self.sendfile,
            self.header_only,
            self.has_body,
        ]
        .iter()
        .enumerate()
        .fold(0, |acc, (i, &on)| acc | (u8::from(on) << i))
    }
}

/// `Request` payload: the head, then the CGI variables as pairs.
pub fn encode_request<'a>(
    head: &RequestHead,
    vars: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    out.push(head.flags());
    out.extend_from_slice(&head.proof);
    for text in [
        head.script.as_bytes(),
        head.callable.as_bytes(),
        head.application_group.as_bytes(),
    ] {
        put_bytes(&mut out, text);
    }
    put_bytes(&mut out, &head.handler);
    put_bytes(&mut out, &head.listener_host);
    put_bytes(&mut out, head.request_id.as_bytes());
    out.extend_from_slice(&u32::from(head.listener_port).to_le_bytes());
    for n in [head.mtime, head.request_start_us, head.queue_start_us] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.extend_from_slice(&head.server_pid.to_le_bytes());
    put_pairs(&mut out, vars);
    out
}

/// Decodes [`encode_request`]: the head, and the variables borrowed from
/// the payload.
pub fn decode_request(payload: &[u8]) -> io::Result<(RequestHead, Pairs<'_>)> {
    let mut c = Cursor(payload);
    let flags = c.take(1)?[0];
    let on = |i: u8| flags & (1 << i) != 0;
    let mut proof = [0u8; 32];
    proof.copy_from_slice(c.take(32)?);
    let mut text = || c_text(&mut c);
    let (script, callable, application_group) = (text()?, text()?, text()?);
    let handler = c.bytes()?.to_vec();
    let listener_host = c.bytes()?.to_vec();
    let request_id = c_text(&mut c)?;
    let listener_port = u16::try_from(c.u32()?).map_err(|_| bad("bad port"))?;
    let head = RequestHead {
        https: on(0),
        script,
        mtime: c.u64()? as i64,
        callable,
        application_group,
        reloading: on(1),
        sendfile: on(2),
        handler,
        listener_host,
        listener_port,
        request_id,
        request_start_us: c.u64()? as i64,
        queue_start_us: c.u64()? as i64,
        server_pid: c.u32()?,
        header_only: on(3),
        has_body: on(4),
        proof,
    };
    Ok((head, pairs_to_end(c)?))
}

fn c_text(c: &mut Cursor<'_>) -> io::Result<String> {
    Ok(String::from_utf8_lossy(c.bytes()?).into_owned())
}

/// A cursor over a payload.
pub struct Cursor<'a>(pub &'a [u8]);

impl<'a> Cursor<'a> {
    pub fn u32(&mut self) -> io::Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn u64(&mut self) -> io::Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    pub fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(bad("truncated frame"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    pub fn bytes(&mut self) -> io::Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

/// Byte-string pairs borrowed from a payload.
pub type Pairs<'a> = Vec<(&'a [u8], &'a [u8])>;

/// Decodes [`encode_pairs`].
pub fn decode_pairs(payload: &[u8]) -> io::Result<Pairs<'_>> {
    pairs_to_end(Cursor(payload))
}

/// The pairs at the cursor, which must end the payload.
fn pairs_to_end(mut c: Cursor<'_>) -> io::Result<Vec<(&[u8], &[u8])>> {
    let n = c.u32()? as usize;
    let mut out = Vec::with_capacity(n.min(4096));
    for _ in 0..n {
        let k = c.bytes()?;
        let v = c.bytes()?;
        out.push((k, v));
    }
    if !c.0.is_empty() {
        return Err(bad("trailing bytes in frame"));
    }
    Ok(out)
}

/// `Start` payload: status, status line, headers.
pub fn encode_start(status: u16, line: &[u8], headers: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + line.len());
    out.extend_from_slice(&u32::from(status).to_le_bytes());
    put_bytes(&mut out, line);
    out.extend_from_slice(&encode_pairs(headers.iter().copied()));
    out
}

pub type Start<'a> = (u16, &'a [u8], Vec<(&'a [u8], &'a [u8])>);

pub fn decode_start(payload: &[u8]) -> io::Result<Start<'_>> {
    let mut c = Cursor(payload);
    let status = c.u32()?;
    let status = u16::try_from(status)
        .ok()
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| bad("bad status"))?;
    let line = c.bytes()?;
    Ok((status, line, decode_pairs(c.0)?))
}

/// `File` payload: offset and length of the range to send.
pub fn encode_file(offset: u64, len: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&offset.to_le_bytes());
    out[8..].copy_from_slice(&len.to_le_bytes());
    out
}

pub fn decode_file(payload: &[u8]) -> io::Result<(u64, u64)> {
    let mut c = Cursor(payload);
    Ok((c.u64()?, c.u64()?))
}

/// Writes one frame whose payload is the concatenation of `parts`, with
/// as few system calls as the socket allows (one, normally).
pub fn write_frame<W: Write>(w: &mut W, kind: Kind, parts: &[&[u8]]) -> io::Result<()> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    check_len(len)?;
    let head = prefix(kind, len);
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(parts.len() + 1);
    slices.push(IoSlice::new(&head));
    slices.extend(
        parts
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| IoSlice::new(p)),
    );
    write_all_vectored(w, &mut slices)
}

/// `Write::write_all_vectored` (unstable in std) for stable Rust.
pub fn write_all_vectored<W: Write>(w: &mut W, mut bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Where payload bytes lie in a [`FrameReader`]'s buffer.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Span {
    at: usize,
    len: usize,
}

/// What [`FrameReader::next_data_run`] consumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    /// Bytes of the current frame (the rest of its length is still to read).
    pub current: usize,
    /// Spans filled: the current frame's bytes, then whole frames after it.
    pub spans: usize,
    /// An empty `End` followed and was consumed.
    pub ends: bool,
}

/// Reads frames from a stream through a buffer the caller may reuse
/// from one request to the next ([`FrameReader::with_buffer`] and
/// [`FrameReader::into_buffer`]), so a request costs no allocation and
/// no zero-filling of a fresh buffer.
pub struct FrameReader<R: Read> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    /// The buffer doubles up to this size when reads keep filling it.
    max: usize,
    payload: Vec<u8>,
}

impl<R: Read> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        Self::with_capacity(inner, 64 * 1024)
    }

    /// A reader whose buffer holds `capacity` bytes (`response-buffer-size`).
    pub fn with_capacity(inner: R, capacity: usize) -> Self {
        Self::with_buffer(inner, vec![0u8; capacity.max(4096)])
    }

    /// A reader over `buf` (its length is the capacity; its contents are
    /// ignored), as returned by [`FrameReader::into_buffer`].
    pub fn with_buffer(inner: R, buf: Vec<u8>) -> Self {
        let max = buf.len();
        Self::growing(inner, buf, max)
    }

    /// A reader over `buf` that doubles it, up to `max` bytes, whenever a
    /// read fills it: small messages keep a small buffer (few pages
    /// touched per thread), large bodies get large reads.
    pub fn growing(inner: R, mut buf: Vec<u8>, max: usize) -> Self {
        if buf.len() < 4096 {
            buf.resize(4096, 0);
        }
        FrameReader {
            inner,
            max: max.max(buf.len()),
            buf,
            pos: 0,
            filled: 0,
            payload: Vec::new(),
        }
    }

    /// Gives the buffer back for the next request.
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// How many bytes are buffered and not yet consumed.
    pub fn pending(&self) -> usize {
        self.filled - self.pos
    }

    /// Bytes already buffered and not yet consumed.
    fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..self.filled]
    }

    /// Refills an empty buffer with one read; `Ok(0)` at end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        debug_assert!(self.pos >= self.filled);
        if self.filled == self.buf.len() && self.buf.len() < self.max {
            let grown = (self.buf.len() * 2).min(self.max);
            self.buf.resize(grown, 0);
        }
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => {
                    self.pos = 0;
                    self.filled = n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Copies up to `out.len()` bytes; reads past the buffer when `out`
    /// is at least as large as it (no double copy of big chunks).
    fn read_into(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.filled {
            if out.len() >= self.buf.len() {
                loop {
                    match self.inner.read(out) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        r => return r,
                    }
                }
            }
            if self.fill()? == 0 {
                return Ok(0);
            }
        }
        let n = out.len().min(self.filled - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }

    fn read_exact_into(&mut self, mut out: &mut [u8]) -> io::Result<()> {
        while !out.is_empty() {
            match self.read_into(out)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => out = &mut out[n..],
            }
        }
        Ok(())
    }

    /// Reads the next frame prefix; `Ok(None)` on a clean end of stream
    /// before any byte of it.
    pub fn next_prefix(&mut self) -> io::Result<Option<(Kind, usize)>> {
        let mut head = [0u8; PREFIX];
        let mut got = 0;
        while got < head.len() {
            match self.read_into(&mut head[got..])? {
                0 if got == 0 => return Ok(None),
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => got += n,
            }
        }
        let (kind, len) = parse_prefix(head);
        let kind = Kind::from_u8(kind).ok_or_else(|| bad("unknown frame kind"))?;
        check_len(len)?;
        Ok(Some((kind, len)))
    }

    /// Reads `len` payload bytes: borrowed from the buffer when they are
    /// all there already, else gathered in the reader's payload vector.
    pub fn payload(&mut self, len: usize) -> io::Result<&[u8]> {
        if self.filled - self.pos >= len {
            let at = self.pos;
            self.pos += len;
            return Ok(&self.buf[at..at + len]);
        }
        let mut payload = std::mem::take(&mut self.payload);
        payload.clear();
        payload.resize(len, 0);
        let r = self.read_exact_into(&mut payload);
        self.payload = payload;
        r?;
        Ok(&self.payload)
    }

    /// Reads a whole frame: `Ok(None)` on a clean end of stream.
    pub fn next_frame(&mut self) -> io::Result<Option<(Kind, &[u8])>> {
        match self.next_prefix()? {
            None => Ok(None),
            Some((kind, len)) => Ok(Some((kind, self.payload(len)?))),
        }
    }

    /// Reads up to `buf.len()` payload bytes of the current frame, of
    /// which `remaining` are left, straight into `buf`.
    pub fn read_some(&mut self, buf: &mut [u8], remaining: usize) -> io::Result<usize> {
        let want = buf.len().min(remaining);
        if want == 0 {
            return Ok(0);
        }
        match self.read_into(&mut buf[..want])? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            n => Ok(n),
        }
    }

    /// The next bytes of the current frame (at most `remaining`), borrowed
    /// from the buffer: one read when it is empty, no copy.
    pub fn next_chunk(&mut self, remaining: usize) -> io::Result<&[u8]> {
        if remaining == 0 {
            return Ok(&[]);
        }
        if self.buffered().is_empty() && self.fill()? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let n = remaining.min(self.filled - self.pos);
        let at = self.pos;
        self.pos += n;
        Ok(&self.buf[at..at + n])
    }

    /// [`FrameReader::next_chunk`], plus whether the frame that follows
    /// it, already in the buffer, is an empty [`Kind::End`] (then it is
    /// consumed): lets the caller end a response in the same pass as its
    /// last bytes.
    pub fn next_chunk_and_end(&mut self, remaining: usize) -> io::Result<(&[u8], bool)> {
        let mut run = [Span::default(); 1];
        let taken = self.next_data_run(remaining, &mut run)?;
        Ok((self.span(run[0]), taken.ends))
    }

    /// The next bytes of the current `Data` frame (at most `remaining`)
    /// and, when they finish it, the whole `Data` frames already buffered
    /// after it (up to `run.len()` spans in all): the frames the other
    /// side has sent and that wait here, so the caller passes them on in
    /// one go. Then whether an empty [`Kind::End`] follows (consumed).
    /// Spans index the buffer ([`FrameReader::span`]) until the next read.
    pub fn next_data_run(&mut self, remaining: usize, run: &mut [Span]) -> io::Result<Taken> {
        let n = self.next_chunk(remaining)?.len();
        run[0] = Span {
            at: self.pos - n,
            len: n,
        };
        let mut spans = 1;
        let whole = n == remaining;
        while whole && spans < run.len() {
            let Some(len) = self.buffered_whole(Kind::Data) else {
                break;
            };
            run[spans] = Span {
                at: self.pos + PREFIX,
                len,
            };
            self.pos += PREFIX + len;
            spans += 1;
        }
        let end = prefix(Kind::End, 0);
        let ends = whole && self.buffered().starts_with(&end);
        if ends {
            self.pos += end.len();
        }
        Ok(Taken {
            current: n,
            spans,
            ends,
        })
    }

    /// The payload length of the next frame when it is of `kind` and
    /// wholly in the buffer.
    fn buffered_whole(&self, kind: Kind) -> Option<usize> {
        let b = self.buffered();
        let (k, len) = parse_prefix(b.get(..PREFIX)?.try_into().ok()?);
        (k == kind as u8 && b.len() - PREFIX >= len).then_some(len)
    }

    /// The bytes of a span given by [`FrameReader::next_data_run`].
    pub fn span(&self, s: Span) -> &[u8] {
        &self.buf[s.at..s.at + s.len]
    }
}
