//! What this process may open and what it has opened. Set once per child
//! process (embedded child_init, daemon process start), so it describes
//! the process, never the parent's configuration generation; the stores
//! are opened on first use, after fork.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::{lmdb::Lmdb, lock::NamedLock, redis::RedisCache, Cache, Error};
use crate::config::shared::{Location, SharedCache};

/// The shared caches of the server and where they live.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// `<DefaultRuntimeDir>/wsgi-shared`: default caches and lock files.
    pub base: PathBuf,
    pub caches: Vec<SharedCache>,
}

impl Plan {
    /// The directory of a cache's LMDB environment (None for Redis).
    pub fn dir_of(&self, cache: &SharedCache) -> Option<PathBuf> {
        match &cache.location {
            Location::Default => Some(self.base.join(&cache.name)),
            Location::Dir(d) => Some(PathBuf::from(d)),
            Location::Redis(_) => None,
        }
    }

    /// Where named locks keep their files.
    pub fn lock_dir(&self) -> PathBuf {
        self.base.join("locks")
    }
}

static PLAN: OnceLock<Plan> = OnceLock::new();
static OPEN: Mutex<Option<HashMap<String, Arc<Cache>>>> = Mutex::new(None);

/// Records this process's plan (the first call wins: a process belongs
/// to one configuration generation).
pub fn configure(plan: Plan) {
    let _ = PLAN.set(plan);
}

fn plan() -> Result<&'static Plan, Error> {
    PLAN.get()
        .ok_or_else(|| Error::Io("shared state is not available in this process".into()))
}

/// The cache `name`, opened on first use in this process.
pub fn open(name: &str) -> Result<Arc<Cache>, Error> {
    let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    let map = open.get_or_insert_with(HashMap::new);
    if let Some(s) = map.get(name) {
        return Ok(s.clone());
    }
    let plan = plan()?;
    let cache = plan.caches.iter().find(|c| c.name == name).ok_or_else(|| {
        let known: Vec<&str> = plan.caches.iter().map(|c| c.name.as_str()).collect();
        Error::Unknown(format!(
            "no shared cache named '{name}': add 'WSGISharedCache {name}' to the server configuration \
             (defined: {})",
            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
        ))
    })?;
    let store = Arc::new(match (&cache.location, plan.dir_of(cache)) {
        (Location::Redis(url), _) => {
            Cache::Redis(Arc::new(RedisCache::open(url, name, cache.lock_lease_ms)?))
        }
        (location, Some(dir)) => {
            let durable = matches!(location, Location::Dir(_));
            Cache::Lmdb(Lmdb::open(&dir, cache.size, durable)?)
        }
        (_, None) => return Err(Error::Io(format!("shared cache '{name}' has no location"))),
    });
    map.insert(name.to_owned(), store.clone());
    Ok(store)
}

/// Acquires the named lock: on this machine (`lock.rs`), or on the
/// server of the Redis cache `on` (`redis_lock.rs`). A lock asked for on
/// an LMDB cache is this machine's, as that cache is.
/// Where a lock taken with `cache=on` lives: `Some(cache)` on a Redis
/// cache's server, `None` on this machine (the same lock as without
/// `cache=`). Re-entrancy checks key locks by it.
pub fn lock_scope(on: Option<&str>) -> Result<Option<&str>, Error> {
    match on {
        Some(cache) if matches!(&*open(cache)?, Cache::Redis(_)) => Ok(Some(cache)),
        _ => Ok(None),
    }
}

pub fn lock(name: &str, timeout: Option<Duration>, on: Option<&str>) -> Result<NamedLock, Error> {
    if let Some(cache) = on {
        if let Cache::Redis(redis) = &*open(cache)? {
            return super::redis_lock::acquire(redis, name, timeout).map(NamedLock::Redis);
        }
    }
    super::lock::acquire(&plan()?.lock_dir(), name, timeout)
}
