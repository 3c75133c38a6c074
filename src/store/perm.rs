//! Preparing the stores' files in the Apache parent (as root, before any
//! fork, without opening them): the directories and LMDB files are owned
//! by Apache's `User`, mode 0700/0600, and the other users of the server's
//! processes (daemon groups' `user=`) are granted access with a POSIX ACL.
//! Nobody else can read them.

use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::Plan;
use crate::config::shared::Location;

/// Who must be able to use the stores.
pub struct Owners {
    pub uid: u32,
    pub gid: u32,
    /// Other uids (daemon groups running as other users).
    pub others: Vec<u32>,
}

const ACL_USER_OBJ: u16 = 0x01;
const ACL_USER: u16 = 0x02;
const ACL_GROUP_OBJ: u16 = 0x04;
const ACL_MASK: u16 = 0x10;
const ACL_OTHER: u16 = 0x20;
const ACL_UNDEFINED: u32 = u32::MAX;

/// The kernel's `system.posix_acl_*` value: version 2, then (tag, perm,
/// id) entries sorted by tag and id.
fn acl_blob(perm: u16, others: &[u32]) -> Vec<u8> {
    let mut entries = vec![(ACL_USER_OBJ, perm, ACL_UNDEFINED)];
    entries.extend(others.iter().map(|&u| (ACL_USER, perm, u)));
    entries.push((ACL_GROUP_OBJ, 0, ACL_UNDEFINED));
    entries.push((ACL_MASK, perm, ACL_UNDEFINED));
    entries.push((ACL_OTHER, 0, ACL_UNDEFINED));
    let mut out = 2u32.to_le_bytes().to_vec();
    for (tag, p, id) in entries {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&p.to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
    }
    out
}

fn set_acl(path: &Path, attr: &std::ffi::CStr, blob: &[u8]) -> std::io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: both strings are NUL-terminated, blob is a live slice of
    // blob.len() bytes; setxattr only reads them.
    let rc = unsafe {
        libc::setxattr(
            c.as_ptr(),
            attr.as_ptr(),
            blob.as_ptr().cast(),
            blob.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Gives `path` to the owner with `mode` and grants the other users the
/// same rights; a directory also passes them on to files created in it.
/// Returns a warning when the file system has no ACLs.
fn restrict(path: &Path, dir: bool, o: &Owners) -> Result<Option<String>, String> {
    let fail =
        |e: std::io::Error| format!("cannot set the owner or mode of '{}': {e}", path.display());
    std::os::unix::fs::chown(path, Some(o.uid), Some(o.gid)).map_err(fail)?;
    let (mode, perm) = if dir { (0o700, 7) } else { (0o600, 6) };
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(fail)?;
    if o.others.is_empty() {
        return Ok(None);
    }
    // The owner is named too: files a daemon user creates in a directory
    // get these entries by default, and must stay usable by Apache's User.
    let mut named = o.others.clone();
    named.push(o.uid);
    named.sort_unstable();
    named.dedup();
    let blob = acl_blob(perm, &named);
    let mut r = set_acl(path, c"system.posix_acl_access", &blob);
    if dir && r.is_ok() {
        r = set_acl(path, c"system.posix_acl_default", &blob);
    }
    match r {
        Ok(()) => Ok(None),
        Err(e) => {
            // No ACLs here: fall back to the group (Apache's Group).
            let mode = if dir { 0o770 } else { 0o660 };
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(fail)?;
            Ok(Some(format!(
                "[WSGI-RS-W703] '{}' cannot carry an ACL ({e}); it is readable by Apache's Group instead, \
                 so daemon groups running as other users must be in that group to use shared state",
                path.display()
            )))
        }
    }
}

/// A LOCATION directory must hold nothing but the cache's files, since
/// its owner and mode are changed.
fn check_dedicated(dir: &Path) -> Result<(), String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let n = e.file_name();
        if n != "data.mdb" && n != "lock.mdb" {
            return Err(format!(
                "the directory '{}' holds other files ('{}'); give WSGISharedCache a directory of its own",
                dir.display(),
                n.to_string_lossy()
            ));
        }
    }
    Ok(())
}

fn make_dir(dir: &Path, o: Option<&Owners>, warnings: &mut Vec<String>) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create '{}': {e}", dir.display()))?;
    if let Some(o) = o {
        warnings.extend(restrict(dir, true, o)?);
    }
    Ok(())
}

/// Creates the base, lock and cache directories and the LMDB files,
/// owned as `owners` says (None: not running as root, leave owners as
/// they are). Returns warnings to log.
pub fn prepare(plan: &Plan, owners: Option<&Owners>) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    make_dir(&plan.base, owners, &mut warnings)?;
    make_dir(&plan.lock_dir(), owners, &mut warnings)?;
    for cache in &plan.caches {
        let Some(dir) = plan.dir_of(cache) else {
            continue;
        };
        if matches!(cache.location, Location::Dir(_)) {
            check_dedicated(&dir).map_err(|e| format!("WSGISharedCache {}: {e}", cache.name))?;
        }
        make_dir(&dir, owners, &mut warnings)?;
        for file in ["data.mdb", "lock.mdb"] {
            let path = dir.join(file);
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| format!("cannot create '{}': {e}", path.display()))?;
            if let Some(o) = owners {
                warnings.extend(restrict(&path, false, o)?);
            }
        }
    }
    Ok(warnings)
}
