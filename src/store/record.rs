//! The bytes stored for one entry: an 8-byte big-endian expiry time in
//! milliseconds since the epoch (0: never), then the value. Pure.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The expiry time of a `ttl` in seconds from now (None or <= 0: never,
/// as memcached treats 0).
pub fn expiry(ttl: Option<f64>, now: u64) -> u64 {
    match ttl {
        Some(t) if t > 0.0 => now.saturating_add(((t * 1000.0).ceil() as u64).max(1)),
        _ => 0,
    }
}

/// Encodes a record.
pub fn encode(expires: u64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + value.len());
    out.extend_from_slice(&expires.to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// The value of a record that has not expired at `now`.
pub fn live(record: &[u8], now: u64) -> Option<&[u8]> {
    let (head, value) = record.split_at_checked(8)?;
    let expires = u64::from_be_bytes(head.try_into().ok()?);
    (expires == 0 || expires > now).then_some(value)
}

/// The expiry time of a record (0: never).
pub fn expires(record: &[u8]) -> u64 {
    record
        .get(..8)
        .and_then(|h| h.try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

/// A counter's new value: the memcached convention (ASCII decimal; a
/// missing entry counts as 0).
pub fn add_to(current: Option<&[u8]>, delta: i64) -> Result<i64, String> {
    let old = match current {
        None => 0,
        Some(v) => std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or("the value is not a decimal integer, so it cannot be incremented")?,
    };
    old.checked_add(delta)
        .ok_or_else(|| "incrementing would overflow a 64-bit integer".to_owned())
}
