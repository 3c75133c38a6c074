//! What lets a daemon process tell a request that Apache's configuration
//! routed to it from one that any other process on the machine made up: a
//! secret only the Apache parent, its children and the group's own
//! processes hold, and a proof computed with it over what the daemon
//! will load (script, callable, application group, handler).
//!
//! The Apache parent draws one master secret from `getrandom` the first
//! time daemon mode starts, before it forks any supervisor (children are
//! forked later still), and keeps it for its life, in memory only. Each
//! group's key is `HMAC(master, "group-key" ‖ socket path)`: distinct per
//! group (socket paths carry an id no two groups share) and stable across
//! graceful restarts, so requests from old children still pass while a
//! kept socket turns over. A supervisor, right after its fork, derives
//! its group's key and wipes the master from its memory, so its daemons
//! (forked from it) hold only their own group's key: a daemon running as
//! `alice` cannot compute the proofs `bob`'s group accepts.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::hmac::{hmac, Keyed};
use super::wire::RequestHead;

pub use super::hmac::LEN;

/// The Apache parent's master secret (`None` until daemon mode first
/// starts, and again in a supervisor or daemon once it was wiped).
/// Process-lifetime state: it describes this process, not a configuration.
static MASTER: Mutex<Option<[u8; LEN]>> = Mutex::new(None);

/// In a supervisor and its daemons: the group's own key (keyed, so a
/// check hashes only the request's fields).
static OWN: Mutex<Option<Keyed>> = Mutex::new(None);

/// In an Apache child: the group keys it has signed with, by socket
/// path, keyed (derived from the master, which this process holds
/// anyway; one derivation per group instead of one per request). A
/// handful of entries: one per daemon socket the child has sent to.
static SIGNERS: Mutex<Vec<(Vec<u8>, Keyed)>> = Mutex::new(Vec::new());

/// Set once the master has been wiped (a supervisor or daemon never
/// creates a new one).
static WIPED: AtomicBool = AtomicBool::new(false);

/// In the Apache parent, before the first supervisor is forked: draws
/// the master secret unless this process already has one.
pub fn init_master() -> Result<(), String> {
    let mut m = MASTER.lock();
    if m.is_some() || WIPED.load(Ordering::SeqCst) {
        return Ok(());
    }
    let mut key = [0u8; LEN];
    let mut got = 0;
    while got < LEN {
        // SAFETY: writes at most LEN - got bytes into the rest of `key`.
        let n = unsafe { libc::getrandom(key[got..].as_mut_ptr().cast(), LEN - got, 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("cannot draw the daemon secret from getrandom: {e}"));
        }
        got += n as usize;
    }
    *m = Some(key);
    Ok(())
}

/// The key of the group whose socket is `socket` (from the master).
fn derive(master: &[u8; LEN], socket: &[u8]) -> [u8; LEN] {
    hmac(master, &[b"mod_wsgi_rs group-key\0", socket])
}

/// The group key a request to `socket` is signed with, in an Apache
/// child (which holds the master); `None` before daemon mode started.
fn group_key(socket: &[u8]) -> Option<Keyed> {
    let master = MASTER.lock();
    let master = master.as_ref()?;
    let mut signers = SIGNERS.lock();
    if let Some((_, keyed)) = signers.iter().find(|(s, _)| s == socket) {
        return Some(keyed.clone());
    }
    let keyed = Keyed::new(&derive(master, socket));
    signers.push((socket.to_vec(), keyed.clone()));
    Some(keyed)
}

/// In a freshly forked supervisor: keeps only this group's key and
/// overwrites the master, so nothing forked from here can sign for
/// another group.
pub fn keep_only(socket: &[u8]) {
    let mut m = MASTER.lock();
    if let Some(master) = m.as_mut() {
        *OWN.lock() = Some(Keyed::new(&derive(master, socket)));
        for b in master.iter_mut() {
            // SAFETY: a volatile write of a zero through a valid &mut u8,
            // so the wipe is not optimised away.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
    *m = None;
    SIGNERS.lock().clear();
    WIPED.store(true, Ordering::SeqCst);
}

/// What a proof binds: everything the daemon loads or runs for a
/// request (script, callable, application group, handler).
fn bound(head: &RequestHead) -> [&[u8]; 4] {
    [
        head.script.as_bytes(),
        head.callable.as_bytes(),
        head.application_group.as_bytes(),
        &head.handler,
    ]
}

/// In an Apache child: signs a request for the group whose socket is
/// `socket`. False when this process holds no master secret.
pub fn sign(head: &mut RequestHead, socket: &std::path::Path) -> bool {
    let Some(key) = group_key(socket.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    head.proof = proof(&key, &bound(head));
    true
}

/// In a daemon: the request carries this group's proof.
pub fn check(head: &RequestHead) -> bool {
    verify(&head.proof, &bound(head))
}

/// In a daemon, before anything of a request is loaded: the peer must
/// run as Apache's `User` (or root), and the request must carry this
/// group's proof. The error is the log line.
pub fn admit(fd: std::os::fd::RawFd, head: &RequestHead, group: &str) -> Result<(), String> {
    let (apache_uid, ..) = crate::apache::process::apache_ids();
    let pid = std::process::id();
    match peer_uid(fd) {
        Some(uid) if uid == apache_uid || uid == 0 => {}
        uid => {
            return Err(format!(
                "[WSGI-RS-E432] daemon process {pid} of group '{group}' refused a connection from uid {}: \
                 only Apache's User (uid {apache_uid}) and root may send requests; nothing was loaded",
                uid.map_or("unknown".into(), |u| u.to_string())
            ))
        }
    }
    if check(head) {
        return Ok(());
    }
    Err(format!(
        "[WSGI-RS-E431] daemon process {pid} of group '{group}' refused a request for script '{}' \
         (callable '{}', application group '{}'): it does not carry the proof that Apache's configuration \
         routed it to this group, so another process made it up; nothing was loaded",
        printable(head.script.as_bytes()),
        printable(head.callable.as_bytes()),
        printable(head.application_group.as_bytes())
    ))
}

/// Text from a request made safe for one log line even where it does
/// not pass through httpd's error log escaping: control characters
/// become `\xNN` escapes.
pub fn printable(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for c in String::from_utf8_lossy(b).chars() {
        if c.is_control() {
            for byte in c.to_string().bytes() {
                out.push_str(&format!("\\x{byte:02x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The uid of the process at the other end of a UNIX socket
/// (`SO_PEERCRED`, as it was when it connected).
pub fn peer_uid(fd: std::os::fd::RawFd) -> Option<u32> {
    // SAFETY: ucred is plain data.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: fd is a connected socket; cred and len are valid for writing.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(cred.uid)
}

/// The proof a request carries: binds the key to what the daemon loads.
fn proof(key: &Keyed, fields: &[&[u8]]) -> [u8; LEN] {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(fields.len() * 2);
    let lens: Vec<[u8; 4]> = fields
        .iter()
        .map(|f| (f.len() as u32).to_le_bytes())
        .collect();
    for (f, l) in fields.iter().zip(&lens) {
        parts.push(l);
        parts.push(f);
    }
    key.mac(&parts)
}

/// In a daemon: whether `given` is the proof of `fields` under the
/// group's key (compared in constant time). False when this process has
/// no key (it is not a group's daemon).
fn verify(given: &[u8; LEN], fields: &[&[u8]]) -> bool {
    let Some(key) = OWN.lock().clone() else {
        return false;
    };
    let want = proof(&key, fields);
    given
        .iter()
        .zip(&want)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}
