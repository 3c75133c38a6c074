//! A cache in an LMDB environment (through `heed`): one unnamed
//! database of key -> record (`record.rs`). LMDB gives what the cache
//! needs across processes: readers never block and never see a
//! half-written value (copy-on-write pages, a meta-page switch at
//! commit), one writer at a time behind a robust process-shared mutex
//! (a writer killed with `kill -9` does not leave it held), and a crash
//! at any point leaves the last committed state.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions, RwTxn, WithoutTls};

use super::record::{self, now_ms};
use super::{check_key, Error};

/// Writes between two sweeps of expired entries by this process.
const SWEEP_EVERY: u64 = 4096;
/// Expired entries removed per sweep transaction (keeps it short).
const SWEEP_BATCH: usize = 2048;
/// Reader slots: one per concurrent read transaction of all processes.
const MAX_READERS: u32 = 2046;

pub struct Lmdb {
    env: Env<WithoutTls>,
    db: Database<'static, Bytes, Bytes>,
    path: PathBuf,
    /// Writes by this process since its last sweep.
    writes: AtomicU64,
}

/// What `stats()` reports.
pub struct Stats {
    pub entries: u64,
    pub used_bytes: u64,
    pub size: u64,
    pub readers: u32,
    pub max_readers: u32,
    pub path: String,
}

fn io(e: heed::Error) -> Error {
    match e {
        heed::Error::Mdb(heed::MdbError::MapFull) => Error::Full(String::new()),
        e => Error::Io(e.to_string()),
    }
}

impl Lmdb {
    /// Opens (creating if needed) the environment in `dir`, with a map of
    /// `size` bytes, and frees the reader slots of dead processes.
    /// `durable`: each commit waits for the disk (a `LOCATION` chosen to
    /// keep the data); otherwise the kernel writes it back on its own (the
    /// runtime directory: runtime state, on tmpfs on Debian).
    pub fn open(dir: &Path, size: u64, durable: bool) -> Result<Lmdb, Error> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Io(format!("cannot create '{}': {e}", dir.display())))?;
        let mut opts = EnvOpenOptions::new().read_txn_without_tls();
        let size = size.div_ceil(1 << 16) << 16;
        opts.map_size(size as usize).max_readers(MAX_READERS);
        // WRITE_MAP (runtime stores): a writer changes the shared mapping
        // in place and a commit makes no write() calls, which halves the
        // cost of a write (incr 4.5 -> 2.1 us, measured in one process);
        // the data file is then as large as the map, sparse.
        let flags = if durable {
            EnvFlags::NO_META_SYNC
        } else {
            EnvFlags::NO_SYNC | EnvFlags::NO_META_SYNC | EnvFlags::WRITE_MAP
        };
        // SAFETY: NO_SYNC/NO_META_SYNC only skip fsyncs at commit. Process
        // crashes lose nothing committed (the data is in the kernel's page
        // cache); a crash of the whole machine may lose the last
        // transactions, and without any sync (not `durable`) may damage a
        // store on a disk. WRITE_MAP makes the map writable: only LMDB
        // writes through it (no code here keeps a pointer into it past
        // the transaction that handed it out).
        unsafe { opts.flags(flags) };
        // SAFETY: the map is only modified through LMDB (its lock file
        // coordinates every process), the environment is opened in the
        // process that uses it (never before a fork), and no process
        // uses MDB_NOLOCK.
        let env = unsafe { opts.open(dir) }
            .map_err(|e| Error::Io(format!("cannot open '{}': {e}", dir.display())))?;
        let _ = env.clear_stale_readers();
        let wtxn = env.write_txn().map_err(io)?;
        let db = env
            .create_databases_and_commit(wtxn, |opener, wtxn| -> heed::Result<_> {
                let db = opener.create_database::<Bytes, Bytes>(wtxn, None)?;
                Ok(CommitOrAbort::<_, ()>::Commit(db))
            })
            .map_err(io)?
            .unwrap_commit();
        Ok(Lmdb {
            env,
            db,
            path: dir.to_owned(),
            writes: AtomicU64::new(0),
        })
    }

    /// The live value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.get_many(&[key])?.pop().flatten())
    }

    /// The live values of `keys`, read in one snapshot.
    /// Hands `f` the live value of `key` in place (no copy), inside the
    /// read transaction.
    pub fn get_with<R>(&self, key: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> Result<R, Error> {
        check_key(key)?;
        let rtxn = self.env.read_txn().map_err(io)?;
        let v = self.db.get(&rtxn, key).map_err(io)?;
        Ok(f(v.and_then(|r| record::live(r, now_ms()))))
    }

    pub fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let rtxn = self.env.read_txn().map_err(io)?;
        let now = now_ms();
        keys.iter()
            .map(|k| {
                check_key(k)?;
                let v = self.db.get(&rtxn, k).map_err(io)?;
                Ok(v.and_then(|r| record::live(r, now)).map(<[u8]>::to_vec))
            })
            .collect()
    }

    /// Stores every (key, value) with the same `ttl`, in one transaction.
    pub fn set_many(&self, items: &[(&[u8], &[u8])], ttl: Option<f64>) -> Result<(), Error> {
        for (k, _) in items {
            check_key(k)?;
        }
        self.write(|db, txn, now| {
            let expires = record::expiry(ttl, now);
            for (k, v) in items {
                db.put(txn, k, &record::encode(expires, v))?;
            }
            Ok(())
        })
    }

    /// Stores `value` only if `key` has no live value; true if stored.
    pub fn add(&self, key: &[u8], value: &[u8], ttl: Option<f64>) -> Result<bool, Error> {
        check_key(key)?;
        self.write(|db, txn, now| {
            if db
                .get(txn, key)?
                .and_then(|r| record::live(r, now))
                .is_some()
            {
                return Ok(false);
            }
            db.put(txn, key, &record::encode(record::expiry(ttl, now), value))?;
            Ok(true)
        })
    }

    /// Removes `key`; true if it had a live value.
    pub fn delete(&self, key: &[u8]) -> Result<bool, Error> {
        check_key(key)?;
        self.write(|db, txn, now| {
            let was_live = db
                .get(txn, key)?
                .and_then(|r| record::live(r, now))
                .is_some();
            db.delete(txn, key)?;
            Ok(was_live)
        })
    }

    /// Adds `delta` to the counter at `key` atomically and returns the
    /// new value. `ttl` sets a new expiry; without it a live counter keeps
    /// its own.
    pub fn incr(&self, key: &[u8], delta: i64, ttl: Option<f64>) -> Result<i64, Error> {
        check_key(key)?;
        let mut bad = None;
        let out = self.write(|db, txn, now| {
            let rec = db.get(txn, key)?;
            let current = rec.and_then(|r| record::live(r, now));
            let new = match record::add_to(current, delta) {
                Ok(n) => n,
                Err(e) => {
                    bad = Some(e);
                    return Ok(0);
                }
            };
            let expires = match (ttl, current) {
                (Some(_), _) => record::expiry(ttl, now),
                (None, Some(_)) => rec.map(record::expires).unwrap_or(0),
                (None, None) => 0,
            };
            db.put(
                txn,
                key,
                &record::encode(expires, new.to_string().as_bytes()),
            )?;
            Ok(new)
        });
        match bad {
            Some(e) => Err(Error::NotANumber(e)),
            None => out,
        }
    }

    /// The keys with a live value that start with `prefix`, in order.
    pub fn keys(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
        let rtxn = self.env.read_txn().map_err(io)?;
        let now = now_ms();
        let live = |item: heed::Result<(&[u8], &[u8])>| -> Result<Option<Vec<u8>>, Error> {
            let (k, r) = item.map_err(io)?;
            Ok(record::live(r, now).map(|_| k.to_vec()))
        };
        // LMDB refuses an empty key, so "every key" is a plain scan.
        let found: Result<Vec<_>, Error> = if prefix.is_empty() {
            self.db.iter(&rtxn).map_err(io)?.map(live).collect()
        } else {
            self.db
                .prefix_iter(&rtxn, prefix)
                .map_err(io)?
                .map(live)
                .collect()
        };
        Ok(found?.into_iter().flatten().collect())
    }

    /// Removes every entry.
    pub fn clear(&self) -> Result<(), Error> {
        self.write(|db, txn, _| db.clear(txn))
    }

    /// Removes up to `SWEEP_BATCH` expired entries; returns how many.
    pub fn sweep(&self) -> Result<usize, Error> {
        let mut wtxn = self.env.write_txn().map_err(io)?;
        let n = self.sweep_in(&mut wtxn, record::now_ms()).map_err(io)?;
        wtxn.commit().map_err(io)?;
        Ok(n)
    }

    pub fn stats(&self) -> Result<Stats, Error> {
        let rtxn = self.env.read_txn().map_err(io)?;
        let entries = self.db.len(&rtxn).map_err(io)?;
        let info = self.env.info();
        let page = self.env.unnamed_database_stat().page_size as u64;
        Ok(Stats {
            entries,
            used_bytes: (info.last_page_number as u64 + 1) * page,
            size: info.map_size as u64,
            readers: info.number_of_readers,
            max_readers: info.maximum_number_of_readers,
            path: self.path.display().to_string(),
        })
    }

    fn sweep_in(&self, txn: &mut RwTxn<'_>, now: u64) -> heed::Result<usize> {
        let mut expired = Vec::new();
        for item in self.db.iter(txn)? {
            let (k, r) = item?;
            if record::live(r, now).is_none() {
                expired.push(k.to_vec());
                if expired.len() >= SWEEP_BATCH {
                    break;
                }
            }
        }
        for k in &expired {
            self.db.delete(txn, k)?;
        }
        Ok(expired.len())
    }

    /// Runs `f` in a write transaction and commits. When the map is full,
    /// expired entries are swept and `f` retried once; still full is
    /// `Error::Full` with nothing written. Every `SWEEP_EVERY` writes this
    /// process also sweeps, so expired entries do not accumulate.
    fn write<R>(
        &self,
        mut f: impl FnMut(&Database<'static, Bytes, Bytes>, &mut RwTxn<'_>, u64) -> heed::Result<R>,
    ) -> Result<R, Error> {
        if self.writes.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            let _ = self.sweep();
        }
        match self.try_write(&mut f) {
            Err(Error::Full(_)) => {
                let swept = self.sweep().unwrap_or(0);
                match self.try_write(&mut f) {
                    Err(Error::Full(_)) => Err(Error::Full(format!(
                        "the shared cache at '{}' is full (its size= limit); {swept} expired entries were \
                         dropped and it is still full. Raise size= or store less",
                        self.path.display()
                    ))),
                    other => other,
                }
            }
            other => other,
        }
    }

    fn try_write<R>(
        &self,
        f: &mut impl FnMut(&Database<'static, Bytes, Bytes>, &mut RwTxn<'_>, u64) -> heed::Result<R>,
    ) -> Result<R, Error> {
        let mut wtxn = self.env.write_txn().map_err(io)?;
        let out = f(&self.db, &mut wtxn, now_ms()).map_err(io)?;
        wtxn.commit().map_err(io)?;
        Ok(out)
    }
}
