//! Who a daemon group runs as, checked when the configuration is read
//! (accounts that exist, never root), what it may run (`script-user=` /
//! `script-group=`: the owner of the WSGI script), and that no supervisor
//! or daemon outlives the process that forked it.

use std::os::unix::fs::MetadataExt;

use super::supervisor::{resolve_gid, resolve_uid};
use super::GroupEntry;
use crate::apache::{Level, Request};
use crate::config::daemon::{DaemonGroup, Ident};
use crate::ffi;

fn shown(id: &Ident) -> String {
    match id {
        Ident::Name(n) => n.clone(),
        Ident::Id(n) => format!("#{n}"),
    }
}

/// At `WSGIDaemonProcess` (so `apache2 -t` fails on the directive's
/// line): `user=`, `group=`, `supplementary-groups=`, `script-user=` and
/// `script-group=` must name existing accounts, and `user=` must not be
/// root.
pub fn check_identities(g: &DaemonGroup) -> Result<(), String> {
    let unknown = |option: &str, what: &str, id: &Ident| {
        format!(
            "[WSGI-RS-E433] daemon process group '{}': {option}={} names no {what} on this system; \
             create it, or name an existing {what} (for example {option}=www-data)",
            g.name,
            shown(id),
        )
    };
    for (option, id) in [("user", &g.user), ("script-user", &g.script_user)] {
        if let Some(id) = id {
            resolve_uid(id).ok_or_else(|| unknown(option, "user", id))?;
        }
    }
    let supplementary = g
        .supplementary_groups
        .iter()
        .map(|n| Ident::Name(n.clone()));
    let groups = [
        ("group", g.group.clone()),
        ("script-group", g.script_group.clone()),
    ]
    .into_iter()
    .filter_map(|(o, id)| id.map(|id| (o, id)))
    .chain(supplementary.map(|id| ("supplementary-groups", id)));
    for (option, id) in groups {
        resolve_gid(&id).ok_or_else(|| unknown(option, "group", &id))?;
    }
    if let Some(user) = &g.user {
        if resolve_uid(user) == Some(0) {
            return Err(format!(
                "[WSGI-RS-E433] daemon process group '{}': user={} is root, and daemon processes never run \
                 as root; set user= to an unprivileged account (for example user=www-data)",
                g.name,
                shown(user)
            ));
        }
    }
    Ok(())
}

/// The numeric id of `script-user=` (or `script-group=`), resolved once
/// when the configuration is read.
pub fn script_owner_id(g: &DaemonGroup) -> Option<u32> {
    match (&g.script_user, &g.script_group) {
        (Some(u), _) => resolve_uid(u),
        (None, Some(x)) => resolve_gid(x),
        (None, None) => None,
    }
}

/// `script-user=` / `script-group=`: the WSGI script must be owned by
/// that user or group, or the request is refused with 403 before it
/// reaches the daemon.
pub fn check_script_owner(r: Request, g: &GroupEntry, script: &str) -> Result<(), i32> {
    let c = &g.conf;
    let want = c.script_owner_id;
    let (option, is_user) = match (&c.script_user, &c.script_group) {
        (Some(_), _) => ("script-user", true),
        (None, Some(_)) => ("script-group", false),
        (None, None) => return Ok(()),
    };
    let owner = std::fs::metadata(script)
        .ok()
        .map(|m| if is_user { m.uid() } else { m.gid() });
    if want.is_some() && owner == want {
        return Ok(());
    }
    let id = c.script_user.as_ref().or(c.script_group.as_ref());
    r.log(
        Level::Error,
        &format!(
            "[WSGI-RS-E434] WSGI script '{}' is not owned by the {} daemon process group '{}' requires \
             ({option}={}; owner {}): answering 403",
            super::auth::printable(script.as_bytes()),
            if is_user { "user" } else { "group" },
            c.name,
            id.map(shown).unwrap_or_default(),
            owner.map_or("unknown".into(), |o| o.to_string())
        ),
    );
    Err(ffi::HTTP_FORBIDDEN as std::os::raw::c_int)
}

/// In a freshly forked supervisor (after its privilege drop, which
/// clears the setting) or daemon: die with the parent, and if the parent
/// already died before this was set, exit now.
pub fn die_with_parent(parent: i32) {
    // SAFETY: prctl/getppid only concern this process.
    let orphan = unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
        libc::getppid() != parent
    };
    if orphan {
        // SAFETY: leaving at once; the parent that would supervise us is gone.
        unsafe { libc::_exit(0) };
    }
}

/// Variables that name or belong to the user who started Apache (a
/// login session, `sudo`, ssh), which a daemon running as another user
/// must not see.
const STARTER_VARS: &[&str] = &[
    "USERNAME",
    "MAIL",
    "PWD",
    "OLDPWD",
    "SUDO_USER",
    "SUDO_UID",
    "SUDO_GID",
    "SUDO_COMMAND",
    "SUDO_HOME",
    "SSH_CLIENT",
    "SSH_CONNECTION",
    "SSH_TTY",
    "SSH_AUTH_SOCK",
    "DBUS_SESSION_BUS_ADDRESS",
    "KRB5CCNAME",
    "XAUTHORITY",
];

/// In a daemon process, before Python starts: `HOME` (the group's
/// `home=`, else the user's home directory), `USER` and `LOGNAME` of the
/// user it runs as; no session variable of the user who started Apache
/// (`SUDO_*`, `XDG_*`, `MAIL`, ...), and no variable pointing into that
/// user's home (`PYTHONUSERBASE=/root/.local`, say), which libraries
/// such as libpq would otherwise read as the daemon's own.
pub fn clean_environment(home_option: Option<&str>) {
    // SAFETY: getuid/getpwuid in a still single-threaded process; the
    // fields are copied at once.
    let (name, home) = unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if pw.is_null() {
            (None, None)
        } else {
            (
                crate::apache::cstr_lossy((*pw).pw_name),
                crate::apache::cstr_lossy((*pw).pw_dir),
            )
        }
    };
    let home = home_option.map(str::to_owned).or(home);
    let old_home = std::env::var("HOME").ok().filter(|h| h.len() > 1);
    for (key, value) in std::env::vars_os() {
        let key_s = key.to_string_lossy();
        let under_old_home = old_home.as_deref().is_some_and(|h| {
            Some(h) != home.as_deref() && {
                let v = value.to_string_lossy();
                v == h || v.starts_with(&format!("{h}/"))
            }
        });
        if STARTER_VARS.contains(&key_s.as_ref()) || key_s.starts_with("XDG_") || under_old_home {
            std::env::remove_var(&key);
        }
    }
    let set = |k: &str, v: Option<String>| match v {
        Some(v) => std::env::set_var(k, v),
        None => std::env::remove_var(k),
    };
    set("HOME", home);
    set("USER", name.clone());
    set("LOGNAME", name);
}
