//! A cache on a Redis server (`WSGISharedCache NAME redis://host:port/db`),
//! for applications spread over several machines: the same operations
//! as the LMDB cache, each one Redis command or one MULTI/EXEC, with
//! Redis's own TTLs (`PX`) and atomic `INCRBY`/`SET NX`. Keys live under
//! `mwrs:<NAME>:`, so several caches can share a database. Each process
//! keeps a small pool of connections, made on demand.

use std::time::Duration;

use parking_lot::Mutex;
use redis::{Client, Connection, RedisError, RedisResult};

use super::{check_key, Error, Stats};

const TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept per process.
const POOL: usize = 16;

pub struct RedisCache {
    client: Client,
    url: String,
    /// `mwrs:<NAME>:`, before every key.
    space: Vec<u8>,
    /// `mwrs-lock:<NAME>:`, before every lock's key (outside `space`, so
    /// `keys()` and `clear()` never see or remove a held lock).
    lock_space: Vec<u8>,
    /// `lock-lease=`.
    lease: Duration,
    idle: Mutex<Vec<Connection>>,
}

fn map(e: RedisError) -> Error {
    let text = e.to_string();
    if text.contains("OOM") {
        Error::Full(format!(
            "the Redis server is full (maxmemory): {text}; nothing was written"
        ))
    } else if text.contains("not an integer") || text.contains("overflow") {
        Error::NotANumber("the value is not a decimal integer, so it cannot be incremented".into())
    } else {
        Error::Io(format!("Redis: {text}"))
    }
}

fn ttl_ms(ttl: Option<f64>) -> Option<u64> {
    ttl.filter(|t| *t > 0.0)
        .map(|t| ((t * 1000.0).ceil() as u64).max(1))
}

/// A SCAN pattern matching keys that start with `prefix` literally.
fn glob_prefix(prefix: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + 1);
    for &b in prefix {
        if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'*');
    out
}

impl RedisCache {
    /// Checks the URL and that the server answers.
    pub fn open(url: &str, name: &str, lease_ms: u64) -> Result<RedisCache, Error> {
        let client = Client::open(url).map_err(|e| Error::Io(format!("'{url}': {e}")))?;
        let cache = RedisCache {
            client,
            url: url.to_owned(),
            space: format!("mwrs:{name}:").into_bytes(),
            lock_space: format!("mwrs-lock:{name}:").into_bytes(),
            lease: Duration::from_millis(lease_ms),
            idle: Mutex::new(Vec::new()),
        };
        cache.with(|c| redis::cmd("PING").query::<String>(c))?;
        Ok(cache)
    }

    fn key(&self, key: &[u8]) -> Result<Vec<u8>, Error> {
        check_key(key)?;
        Ok([&self.space[..], key].concat())
    }

    /// The key of the named lock `name` (see `redis_lock.rs`).
    pub fn lock_key(&self, name: &str) -> Result<Vec<u8>, Error> {
        super::lock::check_name(name)?;
        Ok([&self.lock_space[..], name.as_bytes()].concat())
    }

    pub fn lock_lease(&self) -> Duration {
        self.lease
    }

    /// Runs `f` on an idle connection (or a new one). A connection that
    /// failed is dropped; a command is never retried (it may have run).
    pub(super) fn with<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> RedisResult<R>,
    ) -> Result<R, Error> {
        let idle = self.idle.lock().pop();
        let mut con = match idle {
            Some(c) => c,
            None => {
                let c = self
                    .client
                    .get_connection_with_timeout(TIMEOUT)
                    .map_err(|e| Error::Io(format!("cannot connect to '{}': {e}", self.url)))?;
                let _ = c.set_read_timeout(Some(TIMEOUT));
                let _ = c.set_write_timeout(Some(TIMEOUT));
                c
            }
        };
        let out = f(&mut con);
        let broken = matches!(&out, Err(e) if e.is_io_error() || e.is_unrecoverable_error());
        if !broken {
            let mut idle = self.idle.lock();
            if idle.len() < POOL {
                idle.push(con);
            }
        }
        out.map_err(map)
    }

    pub fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let keys: Vec<Vec<u8>> = keys.iter().map(|k| self.key(k)).collect::<Result<_, _>>()?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.with(|c| redis::cmd("MGET").arg(&keys).query(c))
    }

    pub fn set_many(&self, items: &[(&[u8], &[u8])], ttl: Option<f64>) -> Result<(), Error> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (k, v) in items {
            let cmd = pipe.cmd("SET").arg(self.key(k)?).arg(*v);
            if let Some(ms) = ttl_ms(ttl) {
                cmd.arg("PX").arg(ms);
            }
            cmd.ignore();
        }
        self.with(|c| pipe.query::<()>(c))
    }

    pub fn add(&self, key: &[u8], value: &[u8], ttl: Option<f64>) -> Result<bool, Error> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)?).arg(value).arg("NX");
        if let Some(ms) = ttl_ms(ttl) {
            cmd.arg("PX").arg(ms);
        }
        self.with(|c| cmd.query::<Option<String>>(c))
            .map(|r| r.is_some())
    }

    pub fn delete(&self, key: &[u8]) -> Result<bool, Error> {
        let key = self.key(key)?;
        self.with(|c| redis::cmd("DEL").arg(&key).query::<i64>(c))
            .map(|n| n > 0)
    }

    pub fn incr(&self, key: &[u8], delta: i64, ttl: Option<f64>) -> Result<i64, Error> {
        let key = self.key(key)?;
        match ttl_ms(ttl) {
            None => self.with(|c| redis::cmd("INCRBY").arg(&key).arg(delta).query(c)),
            Some(ms) => {
                let mut pipe = redis::pipe();
                pipe.atomic()
                    .cmd("INCRBY")
                    .arg(&key)
                    .arg(delta)
                    .cmd("PEXPIRE")
                    .arg(&key)
                    .arg(ms)
                    .ignore();
                self.with(|c| pipe.query::<(i64,)>(c)).map(|(n,)| n)
            }
        }
    }

    fn scan(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
        let pattern = glob_prefix(&[&self.space[..], prefix].concat());
        let mut cursor = 0u64;
        let mut out = Vec::new();
        loop {
            let (next, batch): (u64, Vec<Vec<u8>>) = self.with(|c| {
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query(c)
            })?;
            out.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        Ok(out)
    }

    pub fn keys(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
        let mut keys: Vec<Vec<u8>> = self
            .scan(prefix)?
            .into_iter()
            .map(|k| k[self.space.len()..].to_vec())
            .collect();
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    pub fn clear(&self) -> Result<(), Error> {
        for chunk in self.scan(b"")?.chunks(500) {
            self.with(|c| redis::cmd("DEL").arg(chunk).query::<i64>(c))?;
        }
        Ok(())
    }

    pub fn stats(&self) -> Result<Stats, Error> {
        let entries = self.keys(b"")?.len() as u64;
        let info: String = self.with(|c| redis::cmd("INFO").arg("memory").query(c))?;
        let field = |name: &str| -> u64 {
            info.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        Ok(Stats {
            entries,
            used_bytes: field("used_memory"),
            size: field("maxmemory"),
            readers: 0,
            max_readers: 0,
            path: self.url.clone(),
        })
    }
}
