//! `WSGISharedCache` (docs/directives/WSGISharedCache.md) and handing the
//! shared-state plan (`crate::store::Plan`) to every process: the
//! directive adds to a plan kept as user data of the configuration pool
//! (so it lives and dies with the configuration generation), post_config
//! fixes its base directory and prepares the files in the parent, and
//! each child process copies it into `store` when it starts.

use std::ffi::c_void;
use std::os::raw::c_char;
use std::path::PathBuf;

use crate::apache::cmd::Cmd;
use crate::apache::server::Server;
use crate::apache::{log, process, Level, Pool};
use crate::config::shared::{duplicate, SharedCache};
use crate::config::words::option_words;
use crate::ffi;
use crate::store::{self, perm::Owners, Plan};

const KEY: &std::ffi::CStr = c"mod_wsgi_rs.shared_state";

/// The plan of a configuration pool, created empty on first use.
fn plan_of<'a>(pconf: Pool) -> &'a mut Plan {
    let mut data: *mut c_void = std::ptr::null_mut();
    // SAFETY: the pool is live; KEY is a 'static NUL-terminated string.
    unsafe { ffi::apr_pool_userdata_get(&mut data, KEY.as_ptr(), pconf.as_ptr()) };
    if data.is_null() {
        let made = pconf.own(Plan::default());
        // SAFETY: `made` is owned by the same pool, so it outlives the
        // user data entry; setn keeps the 'static key without copying it.
        unsafe { ffi::apr_pool_userdata_setn(made.cast(), KEY.as_ptr(), None, pconf.as_ptr()) };
        data = made.cast();
    }
    // SAFETY: the entry is a pool-owned Plan; the configuration is read
    // and written on one thread (parsing, post_config, child start).
    unsafe { &mut *data.cast::<Plan>() }
}

/// The configuration pool of the server's process.
fn pconf_of(s: Server) -> Option<Pool> {
    // SAFETY: a live server_rec's process record and its pconf live as
    // long as the configuration.
    unsafe {
        if s.as_ptr().is_null() {
            return None;
        }
        let p = (*s.as_ptr()).process;
        (!p.is_null() && !(*p).pconf.is_null()).then(|| Pool::from_raw((*p).pconf))
    }
}

/// `WSGISharedCache NAME [LOCATION] [size=N]`.
///
/// # Safety
/// Called by httpd with its live `cmd_parms` and argument string.
pub unsafe extern "C" fn shared_cache(
    cmd: *mut ffi::cmd_parms,
    _m: *mut c_void,
    line: *const c_char,
) -> *const c_char {
    super::directives::run(cmd, |cmd: Cmd| {
        cmd.check_global_only()?;
        // SAFETY: httpd passes a NUL-terminated argument string.
        let text = unsafe { crate::apache::cstr_lossy(line) }.unwrap_or_default();
        let at = cmd.location().unwrap_or_else(|| "?".into());
        let cache = SharedCache::parse(&option_words(&text, 2), &at)?;
        let plan = plan_of(cmd.pool());
        if let Some(first) = plan.caches.iter().find(|c| c.name == cache.name) {
            return Err(duplicate(first, &at));
        }
        plan.caches.push(cache);
        Ok(())
    })
}

/// post_config (parent, not the pre-flight pass): fixes the base
/// directory and creates the stores' files with their owners.
pub fn post_config(pconf: Pool, s: Server) -> Result<(), String> {
    let plan = plan_of(pconf);
    plan.base = PathBuf::from(
        process::runtime_dir_relative(pconf, "wsgi-shared")
            .unwrap_or_else(|| "/var/run/wsgi-shared".into()),
    );
    let (uid, gid, _) = process::apache_ids();
    // SAFETY: geteuid has no preconditions.
    let owners = (unsafe { libc::geteuid() } == 0).then(|| {
        let mut others: Vec<u32> = crate::daemon::group_uids(s);
        others.retain(|&u| u != uid && u != 0);
        others.sort_unstable();
        others.dedup();
        Owners { uid, gid, others }
    });
    let warnings = store::perm::prepare(plan, owners.as_ref())
        .map_err(|e| format!("[WSGI-RS-E704] shared state cannot be prepared: {e}"))?;
    for w in warnings {
        log::server(s, Level::Warn, &w);
    }
    Ok(())
}

/// In a child or daemon process: makes the plan available to the
/// `mod_wsgi_rs` module of this process.
pub fn child_init(s: Server) {
    if let Some(pconf) = pconf_of(s) {
        store::configure(plan_of(pconf).clone());
    }
}
