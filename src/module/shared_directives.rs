//! `WSGISharedCache` (docs/directives/WSGISharedCache.md) and handing the
//! shared-state plan (`crate::store::Plan`) to every process: the
//! directive adds to a plan kept on the configuration pool (so it lives
//! and dies with the configuration generation), post_config fixes its
//! base directory and prepares the files in the parent; each child
//! process copies it into `store` when it starts
//! (`request::configure_shared_state`).

use std::path::PathBuf;

use crate::apache::cmd::{Cmd, Outcome};
use crate::apache::server::Server;
use crate::apache::{log, process, Level, Pool};
use crate::config::shared::{duplicate, SharedCache};
use crate::config::words::option_words;
use crate::request;
use crate::store::{self, perm::Owners};

/// `WSGISharedCache NAME [LOCATION] [size=N]`.
pub fn shared_cache(cmd: &mut Cmd, line: &str) -> Outcome {
    cmd.check_global_only()?;
    let at = cmd.location().unwrap_or_else(|| "?".into());
    let cache = SharedCache::parse(&option_words(line, 2), &at)?;
    let plan = request::shared_plan(cmd.pool());
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
    let plan = request::shared_plan(pconf);
    let mut plan = plan.lock();
    plan.base = PathBuf::from(
        process::runtime_dir_relative(pconf, "wsgi-shared")
            .unwrap_or_else(|| "/var/run/wsgi-shared".into()),
    );
    let (uid, gid, _) = process::apache_ids();
    let owners = (process::effective_uid() == 0).then(|| {
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
