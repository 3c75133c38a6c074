//! Named locks on a Redis server (`mod_wsgi_rs.lock(NAME, cache=C)` with
//! `C` a `redis://` cache), for applications on several machines: a key
//! `mwrs-lock:<C>:<NAME>` set with `SET NX PX` to a random token. The
//! holder renews the key's lease every third of it from a thread of its
//! own, and releases it with a compare-and-delete, so a lock is never
//! released by anyone but its holder; a holder that dies (`kill -9`, a
//! lost machine) stops renewing and its lock frees itself when the lease
//! runs out (`lock-lease=`, 10 s by default).

use std::io::Read;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::redis::RedisCache;
use super::Error;

/// Deletes the key only if it still holds our token.
const UNLOCK: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
/// Extends the lease only if the key still holds our token.
const RENEW: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/// A held Redis lock; dropping it stops the renewals and releases it.
pub struct RedisLock {
    cache: Arc<RedisCache>,
    key: Vec<u8>,
    token: String,
    /// Dropped to stop the renewal thread.
    stop: Option<Sender<()>>,
}

/// 128 random bits as hex: tells this holder from every other.
fn token() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::Io(format!("cannot read /dev/urandom for a lock token: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Acquires `name` on the cache's server, waiting at most `timeout`
/// (None: as long as it takes).
pub fn acquire(
    cache: &Arc<RedisCache>,
    name: &str,
    timeout: Option<Duration>,
) -> Result<RedisLock, Error> {
    let key = cache.lock_key(name)?;
    let token = token()?;
    let lease = cache.lock_lease();
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut pause = Duration::from_millis(1);
    while !try_set(cache, &key, &token, lease)? {
        let now = Instant::now();
        if let Some(deadline) = deadline {
            if now >= deadline {
                return Err(Error::Timeout(format!(
                    "lock '{name}' not acquired within {:.3} s",
                    timeout.unwrap_or_default().as_secs_f64()
                )));
            }
            pause = pause.min(deadline - now);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
    let stop = start_renewals(cache.clone(), key.clone(), token.clone(), lease);
    Ok(RedisLock {
        cache: cache.clone(),
        key,
        token,
        stop: Some(stop),
    })
}

fn try_set(cache: &RedisCache, key: &[u8], token: &str, lease: Duration) -> Result<bool, Error> {
    cache
        .with(|c| {
            redis::cmd("SET")
                .arg(key)
                .arg(token)
                .arg("NX")
                .arg("PX")
                .arg(lease.as_millis() as u64)
                .query::<Option<String>>(c)
        })
        .map(|r| r.is_some())
}

/// The thread that keeps the lease alive until told to stop (or until
/// the key no longer holds the token, when renewing is pointless).
fn start_renewals(
    cache: Arc<RedisCache>,
    key: Vec<u8>,
    token: String,
    lease: Duration,
) -> Sender<()> {
    let (stop, stopped) = mpsc::channel::<()>();
    let every = lease / 3;
    let spawned = std::thread::Builder::new()
        .name("mwrs-lock-lease".into())
        .spawn(move || loop {
            match stopped.recv_timeout(every) {
                Err(RecvTimeoutError::Timeout) => {
                    let renewed = cache.with(|c| {
                        redis::cmd("EVAL")
                            .arg(RENEW)
                            .arg(1)
                            .arg(&key)
                            .arg(&token)
                            .arg(lease.as_millis() as u64)
                            .query::<i64>(c)
                    });
                    // Lost (expired and taken) or unreachable for longer
                    // than a lease: nothing left to keep alive.
                    if matches!(renewed, Ok(0)) {
                        return;
                    }
                }
                _ => return,
            }
        });
    // Without the thread the lock still holds for one lease.
    drop(spawned);
    stop
}

impl Drop for RedisLock {
    fn drop(&mut self) {
        self.stop.take();
        // An unreachable server lets the lease run out instead.
        let _ = self.cache.with(|c| {
            redis::cmd("EVAL")
                .arg(UNLOCK)
                .arg(1)
                .arg(&self.key)
                .arg(&self.token)
                .query::<i64>(c)
        });
    }
}
