//! What an Apache child tells a daemon about a request: the request
//! frame (the typed [`RequestHead`] plus the CGI variables, from the
//! shared request step's facts), and whether the configuration runs
//! anything embedded at all (when not, the children never start Python).

use super::wire::{self, RequestHead};
use crate::apache::{DirConf, Request, ServerConf};
use crate::config::daemon::resolve_group;
use crate::config::{DirConfig, ServerConfig};
use crate::request::Facts;

/// The `Request` frame's payload for a request the shared step prepared.
pub(super) fn request_frame(
    r: Request,
    g: &super::GroupEntry,
    dir: &DirConfig,
    facts: &Facts<'_>,
) -> Vec<u8> {
    let mut head = RequestHead {
        https: facts.url_scheme == "https",
        script: facts.target.script.clone(),
        mtime: facts.target.mtime,
        callable: facts.target.callable.clone(),
        application_group: facts.group.clone(),
        reloading: dir.reloading(),
        sendfile: dir.enable_sendfile == Some(true),
        handler: r.handler().unwrap_or(b"").to_vec(),
        listener_host: facts.listener_host.clone(),
        listener_port: facts.listener_port.parse().unwrap_or(0),
        request_id: facts.request_id.clone(),
        request_start_us: r.request_time(),
        queue_start_us: crate::request::env::now_us(),
        server_pid: std::process::id(),
        header_only: r.is_header_only(),
        has_body: facts.has_body,
        proof: [0; 32],
    };
    super::auth::sign(&mut head, &g.socket);
    let vars = facts
        .vars
        .entries
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()));
    wire::encode_request(&head, vars)
}

/// True when nothing in the configuration runs embedded, as far as the
/// server-level configuration shows: every server's default process
/// group, or else every script alias, names a daemon group, and no
/// server-level auth, dispatch or handler script needs Python here. Then
/// Apache children do not start Python at all.
pub fn daemon_only(s: crate::apache::server::Server) -> bool {
    if !super::any_groups(s) {
        return false;
    }
    let mut next = Some(s);
    while let Some(server) = next {
        let conf = ServerConfig::of(&server);
        let Some(dir) = DirConfig::server_defaults(&server) else {
            return false;
        };
        let daemon = |v: &Option<String>| {
            v.as_deref()
                .and_then(|v| resolve_group(v, |_| Some("?".into())))
                .is_some()
        };
        let default_daemon = daemon(&dir.process_group);
        let aliases_daemon = conf.aliases.iter().all(|a| {
            a.options
                .process_group
                .as_ref()
                .map_or(default_daemon, |p| daemon(&Some(p.clone())))
        });
        let needs_python = DirConfig::runs_scripts;
        if !(default_daemon || (!conf.aliases.is_empty() && aliases_daemon))
            || needs_python(dir)
            || DirConfig::sections(&server).into_iter().any(needs_python)
            || !conf
                .python
                .import_scripts
                .iter()
                .all(|i| daemon(&Some(i.process_group.clone())))
        {
            return false;
        }
        next = server.next();
    }
    true
}
