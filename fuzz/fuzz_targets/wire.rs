//! Fuzz target over the daemon wire protocol (`src/daemon/wire.rs`,
//! compiled here from its source as `tests/pure.rs` does): an arbitrary
//! byte stream is read the way both ends read it (the Apache child's
//! response relay: prefixes, `Data` frames chunk by chunk with the
//! buffered-`End` shortcut, `Start`/`File`/`Accepted`/`Fail` payloads
//! decoded; the daemon's side: the `Request` frame decoded and `Body`
//! frames copied out), through reads of fuzzer-chosen sizes. Nothing may
//! panic, loop forever or allocate beyond the frame limit; a decoded
//! request must re-encode to the same request.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Read;

#[path = "../../src/daemon/wire.rs"]
#[allow(dead_code)]
mod wire;

/// A reader that hands out at most `step` bytes per read (partial
/// reads as a socket gives them).
struct Dribble<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Dribble<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let step = 1 + data[0] as usize * 37;
    let buffer = 4096 << (data[1] % 5);
    let stream = &data[2..];
    let _ = wire::split_frames(&[stream, &stream[..stream.len() / 2]], 1 + data[0] as usize);
    let mut r = wire::FrameReader::growing(Dribble { data: stream, step }, vec![0u8; 4096], buffer);
    let mut body = vec![0u8; 1 + data[1] as usize * 61];
    for _ in 0..10_000 {
        let (kind, len) = match r.next_prefix() {
            Ok(Some(x)) => x,
            Ok(None) | Err(_) => return,
        };
        assert!(len <= wire::MAX_FRAME);
        let ok = match kind {
            // the child's relay of response bytes
            wire::Kind::Data => {
                let mut left = len;
                let mut ok = true;
                while left > 0 && ok {
                    match r.next_chunk_and_end(left) {
                        Ok((chunk, _ended)) => {
                            assert!(!chunk.is_empty() && chunk.len() <= left);
                            left -= chunk.len();
                        }
                        Err(_) => ok = false,
                    }
                }
                ok
            }
            // the daemon's read of the request body
            wire::Kind::Body => {
                let mut left = len;
                let mut ok = true;
                while left > 0 && ok {
                    match r.read_some(&mut body, left) {
                        Ok(n) => {
                            assert!(n > 0 && n <= left);
                            left -= n;
                        }
                        Err(_) => ok = false,
                    }
                }
                ok
            }
            _ => match r.payload(len) {
                Ok(p) => {
                    check_payload(kind, p);
                    true
                }
                Err(_) => false,
            },
        };
        if !ok {
            return;
        }
    }
});

/// Decodes a control frame's payload as its reader does.
fn check_payload(kind: wire::Kind, p: &[u8]) {
    match kind {
        wire::Kind::Request => {
            if let Ok((head, pairs)) = wire::decode_request(p) {
                let again = wire::encode_request(&head, pairs.iter().copied());
                let (head2, pairs2) =
                    wire::decode_request(&again).expect("re-encoded request decodes");
                assert_eq!(head, head2);
                assert_eq!(pairs, pairs2);
            }
        }
        wire::Kind::Start => {
            if let Ok((status, _, _)) = wire::decode_start(p) {
                assert!((100..1000).contains(&status));
            }
        }
        wire::Kind::File => {
            let _ = wire::decode_file(p);
        }
        wire::Kind::Accepted | wire::Kind::Fail => {
            let _ = wire::Cursor(p).u32();
        }
        _ => {
            let _ = wire::decode_pairs(p);
        }
    }
}
