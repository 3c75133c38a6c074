//! Daemon mode: `WSGIDaemonProcess` groups run the application in
//! processes of their own, forked from the Apache parent (which never
//! starts Python), and Apache children proxy requests to them over a UNIX
//! socket.
//!
//! Per group the parent forks one *supervisor* (no Python, privileges
//! dropped) registered with httpd's other-child mechanism; the supervisor
//! forks the `processes` daemon processes, respawns one at once when it
//! dies, and starts a replacement as soon as one begins a graceful
//! recycle. All of them share one listening socket that the parent keeps
//! open across graceful restarts, so connections queued while processes
//! turn over are picked up by the next one instead of failing.

mod auth;
mod backend;
mod connect;
pub mod hmac;
pub mod privs;
pub mod proxy;
mod request;
mod retire;
mod serve;
pub mod sock;
mod startup;
mod supervisor;
mod trust;
pub mod wire;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::apache::process::{self, Argv, Event, Supervised};
use crate::apache::scoreboard;
use crate::apache::server::{self, Server};
use crate::apache::ServerConf;
use crate::apache::{log, Level, Pool};
use crate::config::daemon::DaemonGroup;
use crate::config::{PythonConfig, ServerConfig};

/// Logs from a supervisor or daemon process, against the main server.
pub fn dlog(level: Level, msg: &str) {
    log::forked(level, msg);
}

/// A group as daemon mode runs it in this configuration generation: its
/// configured options plus what post_config decided. Kept on the
/// configuration pool (see [`running`]), not in the configuration structs.
pub struct GroupEntry {
    pub conf: Arc<DaemonGroup>,
    /// The group's socket, made by the parent in post_config (its name
    /// carries the parent's pid, so it is known only then).
    pub socket: PathBuf,
    /// The server-wide Python settings (`WSGIPythonHome`, ...) the daemon
    /// processes start Python with.
    pub python: PythonConfig,
}

/// The pool userdata key of this generation's running groups.
const RUNNING: &std::ffi::CStr = c"mod_wsgi_rs:daemon-groups";

/// The groups post_config started, in this generation.
struct Running(Vec<Arc<GroupEntry>>);

/// The running group whose configuration is `conf` (by identity: two
/// virtual hosts see the same `Arc`), if post_config started it.
pub fn running(s: Server, conf: &Arc<DaemonGroup>) -> Option<Arc<GroupEntry>> {
    let all = s.process_pool().shared::<Running>(RUNNING)?;
    all.0.iter().find(|g| Arc::ptr_eq(&g.conf, conf)).cloned()
}

/// Every group of the configuration, once (vhosts inherit the main
/// server's list).
fn all_groups(s: Server) -> Vec<Arc<DaemonGroup>> {
    let mut out: Vec<Arc<DaemonGroup>> = Vec::new();
    let mut next = Some(s);
    while let Some(server) = next {
        for g in &ServerConfig::of(&server).daemons {
            if !out.iter().any(|o| Arc::ptr_eq(o, g)) {
                out.push(g.clone());
            }
        }
        next = server.next();
    }
    out
}

/// The uids the daemon groups run as (for the shared stores' access).
pub fn group_uids(s: Server) -> Vec<u32> {
    let (apache_uid, _, _) = process::apache_ids();
    all_groups(s)
        .iter()
        .filter_map(|g| {
            g.user
                .as_ref()
                .map_or(Some(apache_uid), supervisor::resolve_uid)
        })
        .collect()
}

/// True when the configuration defines daemon groups.
pub fn any_groups(s: Server) -> bool {
    !all_groups(s).is_empty()
}

/// A group's socket: the parent's pid and an id from the exact group
/// name (names differ, so ids do: `a.b` and `a_b` never share a socket,
/// and a long name cannot push the path past `sun_path`). The log lines
/// that name a socket name its group too.
fn socket_path(prefix: &str, ppid: i32, name: &str) -> PathBuf {
    PathBuf::from(format!("{prefix}.{ppid}.{}.sock", hmac::name_id(name)))
}

/// Checks that the Apache children (`uid`) can reach `dir`.
fn check_reachable(dir: &Path, uid: u32, gid: u32) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let mut cur = Some(dir);
    while let Some(d) = cur {
        let m = std::fs::metadata(d).map_err(|e| format!("'{}': {e}", d.display()))?;
        if !m.is_dir() {
            return Err(format!("'{}' is not a directory", d.display()));
        }
        let mode = m.mode();
        let ok = uid == 0
            || (m.uid() == uid && mode & 0o100 != 0)
            || (m.gid() == gid && mode & 0o010 != 0)
            || mode & 0o001 != 0;
        if !ok {
            return Err(format!(
                "'{}' (mode {:o}, owner {}:{}) cannot be searched by Apache's User (uid {uid})",
                d.display(),
                mode & 0o7777,
                m.uid(),
                m.gid()
            ));
        }
        cur = d.parent();
    }
    Ok(())
}

/// Refuses a socket directory anyone may write to without the sticky
/// bit: another user could replace a group's socket there.
fn check_not_open(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(dir) else {
        return Ok(()); // reported by check_reachable
    };
    if m.mode() & 0o002 != 0 && m.mode() & 0o1000 == 0 {
        return Err(format!(
            "[WSGI-RS-E436] WSGISocketPrefix: the daemon socket directory '{}' is writable by every user \
             and has no sticky bit, so another user could replace a group's socket; use a directory only \
             root can write (for example WSGISocketPrefix /var/run/apache2/wsgi), or chmod +t it",
            dir.display()
        ));
    }
    Ok(())
}

/// The socket path prefix in force (`WSGISocketPrefix`, or the runtime
/// directory's `wsgi`).
fn socket_prefix(pconf: Pool, s: Server) -> String {
    match &ServerConfig::of(&s).socket_prefix {
        Some(p) => p.clone(),
        None => {
            process::runtime_dir_relative(pconf, "wsgi").unwrap_or_else(|| "/var/run/wsgi".into())
        }
    }
}

/// Checks that Apache's children will be able to reach the daemon
/// sockets (also run by `apache2 -t`).
pub fn check_socket_dir(pconf: Pool, s: Server) -> Result<(), String> {
    if all_groups(s).is_empty() {
        return Ok(());
    }
    let prefix = socket_prefix(pconf, s);
    let (uid, gid, _) = process::apache_ids();
    let dir = Path::new(&prefix).parent().unwrap_or(Path::new("/"));
    check_not_open(dir)?;
    check_reachable(dir, uid, gid).map_err(|e| {
        format!(
            "[WSGI-RS-E401] the daemon socket directory is not usable: {e}. Create it or make it searchable \
             by Apache's User, or set WSGISocketPrefix to a path in a directory that is (for example \
             WSGISocketPrefix /var/run/apache2/wsgi)"
        )
    })
}

/// post_config (not the pre-flight pass): creates each group's socket
/// and starts its supervisor. An error fails the start-up.
pub fn start(pconf: Pool, s: Server) -> Result<(), String> {
    let groups = all_groups(s);
    if groups.is_empty() {
        sock::sweep();
        return Ok(());
    }
    let prefix = socket_prefix(pconf, s);
    let conf = ServerConfig::of(&s);
    proxy::init_deaths();
    let (uid, gid, _) = process::apache_ids();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    check_socket_dir(pconf, s)?;
    auth::init_master()?;
    // SAFETY: getpid has no preconditions.
    let ppid = unsafe { libc::getpid() };
    let argv = Argv::of(s);
    if groups.iter().any(|g| g.server_metrics) {
        share_scoreboard(s);
    }
    let mut started = Vec::with_capacity(groups.len());
    for g in &groups {
        let path = socket_path(&prefix, ppid, &g.name);
        let owner = root.then(|| {
            let su = g.socket_user.as_ref().and_then(supervisor::resolve_uid);
            (su.unwrap_or(uid), gid)
        });
        let fd = sock::listener(&path, g.listen_backlog, owner).map_err(|e| {
            format!(
                "[WSGI-RS-E401] cannot create the socket '{}' of daemon process group '{}': {e}",
                path.display(),
                g.name
            )
        })?;
        sock::set_buffer_sizes(fd, g.send_buffer_size, g.receive_buffer_size);
        let entry = Arc::new(GroupEntry {
            conf: g.clone(),
            socket: path,
            python: conf.python.clone(),
        });
        for opt in &g.inert {
            log::server(s, Level::Notice, &format!(
                "[WSGI-RS-N410] WSGIDaemonProcess {}: option '{opt}' is accepted but has no effect in this version",
                g.name
            ));
        }
        launch(pconf, entry.clone(), fd, argv, s);
        started.push(entry);
    }
    pconf.set_shared(RUNNING, Arc::new(Running(started)));
    sock::sweep();
    Ok(())
}

/// Makes sure the daemon processes about to be forked inherit Apache's
/// scoreboard, for `server-metrics=On`. At the first start httpd creates
/// it only after post_config; after a restart it already exists.
fn share_scoreboard(s: Server) {
    if let Err(e) = scoreboard::create_early(s) {
        log::server(s, Level::Warn, &format!(
            "[WSGI-RS-W419] Apache's scoreboard could not be created before the daemon process groups \
             started ({e}); mod_wsgi.server_metrics() returns None in groups with server-metrics=On \
             until Apache is restarted"
        ));
    }
}

/// Forks the group's supervisor and keeps it supervised for this
/// configuration generation; on restart or stop it is told to drain.
fn launch(pconf: Pool, g: Arc<GroupEntry>, fd: i32, argv: Argv, s: Server) {
    log::set_forked_server(s);
    let Some(pid) = supervisor::spawn(&g, fd, argv) else {
        return;
    };
    let (global, socket) = (s.global_pool(), g.socket.clone());
    // A stop waits for the supervisor's drain up to shutdown-timeout
    // (plus a second), then ends what is left.
    let wait = Duration::from_secs(g.conf.shutdown_timeout + 1);
    let current = Arc::new(AtomicI32::new(pid));
    let cur = current.clone();
    let name = g.conf.name.clone();
    Supervised::register(
        pconf,
        pid,
        Box::new(move |event| match event {
            Event::Death(_) | Event::Lost if !process::mpm_stopping() => {
                log::server(Server::none(), Level::Error, &format!(
                    "[WSGI-RS-E409] supervisor of daemon process group '{name}' (pid {}) exited; starting it again",
                    cur.load(Ordering::Relaxed)
                ));
                let pid = supervisor::spawn(&g, fd, argv)?;
                cur.store(pid, Ordering::Relaxed);
                Some(pid)
            }
            Event::Gone if process::mpm_stopping() => {
                // Stop or restart: every group starts draining now, in
                // parallel; the generation's cleanup then waits (stop)
                // or keeps watching (restart), group by group.
                let pid = cur.load(Ordering::Relaxed);
                if pid > 0 {
                    // SAFETY: signals our own supervisor process.
                    unsafe { libc::kill(pid, libc::SIGTERM) };
                }
                None
            }
            _ => None,
        }),
    );
    pconf.on_cleanup(Box::new(move || {
        let pid = current.load(Ordering::Relaxed);
        if pid > 0 {
            retire::retire(global, pid, &socket, server::is_exiting(), wait);
        }
    }));
}
