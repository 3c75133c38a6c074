//! Unit tests of the shared-state storage (`src/store`, no Python, no
//! httpd): WSGISharedCache parsing, the LMDB cache's semantics, its
//! atomicity under threads, a full store, and named locks.

#[path = "../src/config/mod.rs"]
#[allow(dead_code, unused_imports)]
mod config;

#[path = "../src/store/mod.rs"]
#[allow(dead_code, unused_imports)]
mod store;

use std::sync::Arc;
use std::time::{Duration, Instant};

use config::shared::{Location, SharedCache, DEFAULT_SIZE};
use store::{Error, Lmdb, Plan};

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("mwrs-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn directive_parses_name_location_and_size() {
    let c = SharedCache::parse(&words("main"), "f:1").unwrap();
    assert_eq!(
        (c.location.clone(), c.size),
        (Location::Default, DEFAULT_SIZE)
    );
    let c = SharedCache::parse(&words("m /var/lib/x/ size=2G"), "f:1").unwrap();
    assert_eq!(
        (c.location, c.size),
        (Location::Dir("/var/lib/x".into()), 2 << 30)
    );
    let c = SharedCache::parse(&words("r redis://h:6379/2"), "f:1").unwrap();
    assert_eq!(c.location, Location::Redis("redis://h:6379/2".into()));
    assert_eq!(c.lock_lease_ms, 10_000);
    let c = SharedCache::parse(&words("r redis://h/0 lock-lease=3"), "f:1").unwrap();
    assert_eq!(c.lock_lease_ms, 3_000);
    for (bad, want) in [
        ("a lock-lease=3", "redis:// caches only"),
        ("r redis://h/0 lock-lease=0", "from 1 to 3600"),
        ("r redis://h/0 lock-lease=1.5", "from 1 to 3600"),
        ("", "requires a name"),
        ("a/b", "must be 1 to 64"),
        (".x", "must be 1 to 64"),
        ("a rel", "absolute directory"),
        ("a size=0", "too small"),
        ("a size=1.5M", "is not a size"),
        ("a x=1", "unknown option"),
        ("a /d /e", "unexpected word"),
    ] {
        let e = SharedCache::parse(&words(bad), "f:1").unwrap_err();
        assert!(e.contains(want), "{bad}: {e}");
    }
}

#[test]
fn cache_semantics() {
    let dir = tmp("sem");
    let c = Lmdb::open(&dir, 4 << 20, true).unwrap();
    assert_eq!(c.get(b"k").unwrap(), None);
    c.set_many(&[(b"k", b"v")], None).unwrap();
    assert_eq!(c.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    assert!(!c.add(b"k", b"w", None).unwrap());
    assert!(c.add(b"k2", b"w", None).unwrap());
    assert_eq!(c.incr(b"n", 5, None).unwrap(), 5);
    assert_eq!(c.incr(b"n", -7, None).unwrap(), -2);
    assert_eq!(c.get(b"n").unwrap().as_deref(), Some(&b"-2"[..]));
    assert!(matches!(c.incr(b"k", 1, None), Err(Error::NotANumber(_))));
    c.set_many(&[(b"big", i64::MAX.to_string().as_bytes())], None)
        .unwrap();
    assert!(matches!(c.incr(b"big", 1, None), Err(Error::NotANumber(_))));
    assert!(c.delete(b"k").unwrap());
    assert!(!c.delete(b"k").unwrap());
    assert!(matches!(c.get(b""), Err(Error::BadKey(_))));
    assert!(matches!(c.get(&[b'x'; 512]), Err(Error::BadKey(_))));
    c.set_many(&[(b"t1", b"x")], Some(0.05)).unwrap();
    assert_eq!(c.keys(b"t").unwrap(), vec![b"t1".to_vec()]);
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(c.get(b"t1").unwrap(), None);
    assert!(c.keys(b"t").unwrap().is_empty());
    assert_eq!(c.sweep().unwrap(), 1);
    c.clear().unwrap();
    assert!(c.keys(b"").unwrap().is_empty());
    drop(c);
    // the data outlives the handle that wrote it
    let c = Lmdb::open(&dir, 4 << 20, true).unwrap();
    c.set_many(&[(b"p", b"1")], None).unwrap();
    drop(c);
    assert_eq!(
        Lmdb::open(&dir, 4 << 20, true)
            .unwrap()
            .get(b"p")
            .unwrap()
            .as_deref(),
        Some(&b"1"[..])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn incr_and_add_are_atomic_under_threads() {
    let dir = tmp("atomic");
    let c = Arc::new(Lmdb::open(&dir, 8 << 20, false).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let c = c.clone();
            std::thread::spawn(move || {
                let mut won = 0;
                for j in 0..200 {
                    c.incr(b"n", 1, None).unwrap();
                    if c.add(format!("slot{}", j % 50).as_bytes(), &[i], None)
                        .unwrap()
                    {
                        won += 1;
                    }
                }
                won
            })
        })
        .collect();
    let won: i32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(c.get(b"n").unwrap().as_deref(), Some(&b"1600"[..]));
    assert_eq!(won, 50);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_full_store_refuses_writes_and_keeps_its_data() {
    let dir = tmp("full");
    let c = Lmdb::open(&dir, 1 << 20, false).unwrap();
    c.set_many(&[(b"keep", b"kept")], None).unwrap();
    let value = vec![7u8; 8000];
    let mut n = 0;
    let err = loop {
        match c.set_many(&[(format!("k{n}").as_bytes(), &value)], None) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
        assert!(n < 1000, "never full");
    };
    assert!(
        matches!(err, Error::Full(ref m) if m.contains("is full")),
        "{err:?}"
    );
    assert_eq!(c.get(b"keep").unwrap().as_deref(), Some(&b"kept"[..]));
    // expired entries make room: the full path sweeps them
    let dir2 = tmp("full-ttl");
    let c = Lmdb::open(&dir2, 1 << 20, false).unwrap();
    for i in 0..60 {
        c.set_many(&[(format!("e{i}").as_bytes(), &value)], Some(0.05))
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(80));
    for i in 0..60 {
        c.set_many(&[(format!("f{i}").as_bytes(), &value)], None)
            .unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&dir2);
}

#[test]
fn named_locks_exclude_threads_and_time_out() {
    let base = tmp("locks");
    std::fs::create_dir_all(base.join("locks")).unwrap();
    store::configure(Plan {
        base: base.clone(),
        caches: vec![],
    });
    let held = store::lock("a b/c", None, None).unwrap();
    let t0 = Instant::now();
    let e =
        std::thread::spawn(|| store::lock("a b/c", Some(Duration::from_millis(100)), None).err())
            .join()
            .unwrap();
    assert!(matches!(e, Some(Error::Timeout(_))), "{e:?}");
    assert!(t0.elapsed() >= Duration::from_millis(100));
    assert!(store::lock("other", Some(Duration::ZERO), None).is_ok());
    let waiter = std::thread::spawn(|| store::lock("a b/c", None, None).is_ok());
    std::thread::sleep(Duration::from_millis(50));
    drop(held);
    assert!(waiter.join().unwrap());
    assert!(base.join("locks/lock-a%20b%2Fc").exists());
    let _ = std::fs::remove_dir_all(&base);
}
