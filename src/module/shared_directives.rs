//! `WSGISharedCache` (docs/directives/WSGISharedCache.md) and handing the
//! shared-state plan (`crate::store::Plan`) to every process: the
//! directive adds to a plan kept on the configuration pool (so it lives
//! and dies with the configuration generation), post_config fixes its
//! base directory and prepares the files in the parent, and each child
//! process copies it into `store` when it starts.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::apache::cmd::{Cmd, Outcome};
use crate::apache::server::Server;
use crate::apache::{log, process, Level, Pool};
use crate::config::shared::{duplicate, SharedCache};
use crate::config::words::option_words;
use crate::store::{self, perm::Owners, Plan};

/// The pool userdata key of this generation's plan.
const KEY: &std::ffi::CStr = c"mod_wsgi_rs:shared-state";

/// The plan of a configuration pool, created empty on first use.
fn plan_of(pconf: Pool) -> Arc<Mutex<Plan>> {
    if let Some(plan) = pconf.shared::<Mutex<Plan>>(KEY) {
        return plan;
    }
    let plan = Arc::new(Mutex::new(Plan::default()));
    pconf.set_shared(KEY, plan.clone());
    plan
}

/// `WSGISharedCache NAME [LOCATION] [size=N]`.
pub fn shared_cache(cmd: &mut Cmd, line: &str) -> Outcome {
    cmd.check_global_only()?;
    let at = cmd.location().unwrap_or_else(|| "?".into());
    let cache = SharedCache::parse(&option_words(line, 2), &at)?;
    let plan = plan_of(cmd.pool());
    let mut plan = plan.lock();
    if let Some(first) = plan.caches.iter().find(|c| c.name == cache.name) {
        return Err(duplicate(first, &at));
    }
    plan.caches.push(cache);
    Ok(())
}

/// post_config (parent, not the pre-flight pass): fixes the base
/// directory and creates the stores' files with their owners.
pub fn post_config(pconf: Pool, s: Server) -> Result<(), String> {
    let plan = plan_of(pconf);
    let mut plan = plan.lock();
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
    let warnings = store::perm::prepare(&plan, owners.as_ref())
        .map_err(|e| format!("[WSGI-RS-E704] shared state cannot be prepared: {e}"))?;
    for w in warnings {
        log::server(s, Level::Warn, &w);
    }
    Ok(())
}

/// In a child or daemon process: makes the plan available to the
/// `mod_wsgi_rs` module of this process.
pub fn child_init(s: Server) {
    if s.as_ptr().is_null() {
        return;
    }
    store::configure(plan_of(s.process_pool()).lock().clone());
}
