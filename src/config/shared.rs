//! `WSGISharedCache NAME [LOCATION] [size=…]`: a named store shared by
//! every process of the server (see docs/shared-state.md). Parsing only.

use super::words::split_option;

/// Where a shared cache keeps its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// An LMDB environment in Apache's runtime directory.
    Default,
    /// An LMDB environment in this directory.
    Dir(String),
    /// A Redis server (`redis://host:port/db`).
    Redis(String),
}

/// One `WSGISharedCache` directive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedCache {
    pub name: String,
    pub location: Location,
    /// The most the store may hold, in bytes (LMDB's map size).
    pub size: u64,
    /// How long a Redis lock outlives a holder that died without
    /// releasing it (its holder renews it while it lives); Redis only.
    pub lock_lease_ms: u64,
    /// Where the directive was written (`file:line`), to name both places
    /// when a name is defined twice.
    pub at: String,
}

/// 10 s: a Redis lock whose holder was killed frees itself this long
/// after the holder's last renewal.
pub const DEFAULT_LOCK_LEASE_MS: u64 = 10_000;

/// 64 MiB: the map is sparse, so an unused limit costs no memory.
pub const DEFAULT_SIZE: u64 = 64 << 20;
const MIN_SIZE: u64 = 1 << 20;

impl SharedCache {
    /// Parses the directive's words (`NAME [LOCATION] [size=N[K|M|G]]`).
    pub fn parse(words: &[String], at: &str) -> Result<SharedCache, String> {
        let Some((name, rest)) = words.split_first() else {
            return Err("requires a name, e.g. WSGISharedCache default size=64M".into());
        };
        check_name(name)?;
        let mut cache = SharedCache {
            name: name.clone(),
            location: Location::Default,
            size: DEFAULT_SIZE,
            lock_lease_ms: DEFAULT_LOCK_LEASE_MS,
            at: at.to_owned(),
        };
        let mut lease = false;
        for (i, word) in rest.iter().enumerate() {
            match split_option(word) {
                Some(("size", v)) => cache.size = parse_size(v)?,
                Some(("lock-lease", v)) => {
                    cache.lock_lease_ms = parse_lease(v)?;
                    lease = true;
                }
                Some((opt, _)) if !word.contains('/') => {
                    return Err(format!(
                        "unknown option '{opt}=' (valid: size=, lock-lease=)"
                    ))
                }
                _ if i == 0 => cache.location = parse_location(word)?,
                _ => {
                    return Err(format!(
                        "unexpected word '{word}'; only NAME, LOCATION and size= are accepted"
                    ))
                }
            }
        }
        if lease && !matches!(cache.location, Location::Redis(_)) {
            return Err(
                "lock-lease= applies to redis:// caches only (a lock on this machine is \
                 released by the kernel when its holder dies)"
                    .into(),
            );
        }
        Ok(cache)
    }
}

/// Names become file names: letters, digits, `.`, `_` and `-` only.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "cache name '{name}' must be 1 to 64 letters, digits, '.', '_' or '-' (not starting with '.')"
        ))
    }
}

fn parse_location(word: &str) -> Result<Location, String> {
    if word.starts_with("redis://") {
        Ok(Location::Redis(word.to_owned()))
    } else if word.starts_with('/') {
        Ok(Location::Dir(word.trim_end_matches('/').to_owned()))
    } else {
        Err(format!(
            "LOCATION '{word}' must be an absolute directory (/var/lib/app/cache) or redis://host:port/db"
        ))
    }
}

/// `N`, `NK`, `NM` or `NG` (powers of 1024), at least 1M.
pub fn parse_size(v: &str) -> Result<u64, String> {
    let (digits, unit) = match v.as_bytes().last() {
        Some(b'k' | b'K') => (&v[..v.len() - 1], 1u64 << 10),
        Some(b'm' | b'M') => (&v[..v.len() - 1], 1 << 20),
        Some(b'g' | b'G') => (&v[..v.len() - 1], 1 << 30),
        _ => (v, 1),
    };
    let size = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("size='{v}' is not a size (e.g. size=64M, size=2G)"))?;
    if size < MIN_SIZE {
        return Err(format!("size='{v}' is too small: at least 1M"));
    }
    Ok(size)
}

/// `lock-lease=SECONDS`: 1 to 3600 whole seconds.
fn parse_lease(v: &str) -> Result<u64, String> {
    match v.parse::<u64>() {
        Ok(n @ 1..=3600) => Ok(n * 1000),
        _ => Err(format!(
            "lock-lease='{v}' must be a whole number of seconds from 1 to 3600"
        )),
    }
}

/// The error for a name defined twice, naming both places.
pub fn duplicate(first: &SharedCache, second_at: &str) -> String {
    format!(
        "WSGISharedCache '{}' is defined twice ({} and {second_at}); give each cache its own name",
        first.name, first.at
    )
}
