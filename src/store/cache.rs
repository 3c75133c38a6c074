//! One cache, whatever holds it: the LMDB file of this machine or a
//! Redis server. The Python layer sees only this.

use std::sync::Arc;

use super::lmdb::Lmdb;
use super::redis::RedisCache;
use super::{Error, Stats};

pub enum Cache {
    Lmdb(Lmdb),
    /// Shared with the renewal threads of the locks held on it.
    Redis(Arc<RedisCache>),
}

macro_rules! both {
    ($self:ident, $c:ident => $e:expr) => {
        match $self {
            Cache::Lmdb($c) => $e,
            Cache::Redis($c) => $e,
        }
    };
}

impl Cache {
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.get_many(&[key])?.pop().flatten())
    }

    /// True when every call may wait on the network (Redis): callers
    /// release the GIL around them. An LMDB read never waits for another
    /// process's writer (readers see the last committed snapshot), so
    /// holding the GIL through it costs less than handing it over.
    pub fn is_remote(&self) -> bool {
        matches!(self, Cache::Redis(_))
    }

    /// Hands `f` the value of `key`; on LMDB in place, without a copy.
    pub fn get_with<R>(&self, key: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> Result<R, Error> {
        match self {
            Cache::Lmdb(c) => c.get_with(key, f),
            Cache::Redis(c) => Ok(f(c.get_many(&[key])?.pop().flatten().as_deref())),
        }
    }

    pub fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        both!(self, c => c.get_many(keys))
    }

    pub fn set_many(&self, items: &[(&[u8], &[u8])], ttl: Option<f64>) -> Result<(), Error> {
        both!(self, c => c.set_many(items, ttl))
    }

    pub fn add(&self, key: &[u8], value: &[u8], ttl: Option<f64>) -> Result<bool, Error> {
        both!(self, c => c.add(key, value, ttl))
    }

    pub fn delete(&self, key: &[u8]) -> Result<bool, Error> {
        both!(self, c => c.delete(key))
    }

    pub fn incr(&self, key: &[u8], delta: i64, ttl: Option<f64>) -> Result<i64, Error> {
        both!(self, c => c.incr(key, delta, ttl))
    }

    pub fn keys(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
        both!(self, c => c.keys(prefix))
    }

    pub fn clear(&self) -> Result<(), Error> {
        both!(self, c => c.clear())
    }

    pub fn stats(&self) -> Result<Stats, Error> {
        both!(self, c => c.stats())
    }
}
