//! What an Apache child tells a daemon about a request: the request
//! frame (the CGI variables plus the facts the daemon needs, under
//! [`META`]-prefixed keys), and whether the configuration runs anything
//! embedded at all (when not, the children never start Python).

use super::proxy::lossy;
use super::serve::META;
use super::wire;
use crate::apache::Request;
use crate::apache::{DirConf, ServerConf};
use crate::config::daemon::resolve_group;
use crate::config::{DirConfig, ServerConfig};

pub(super) fn request_frame(r: Request, script: &str, has_body: bool) -> Vec<u8> {
    let dir = DirConfig::of(&r);
    let pass_auth = match r.notes().get(c"mod_wsgi.pass_authorization") {
        Some(v) => v == b"1",
        None => dir.pass_authorization == Some(true),
    };
    let (vars, scheme) = crate::embedded::env::cgi_vars(r, dir, pass_auth);
    let group_spec = r
        .notes()
        .get(c"mod_wsgi.application_group")
        .map(lossy)
        .or_else(|| dir.application_group.clone());
    let script_name = vars
        .get_bytes("mod_wsgi.script_name")
        .unwrap_or(b"")
        .to_vec();
    let group = crate::embedded::env::application_group(r, group_spec.as_deref(), &script_name);
    let callable = r
        .notes()
        .get(c"mod_wsgi.callable_object")
        .map(lossy)
        .unwrap_or_else(|| dir.callable().to_owned());
    let (host, port) = r.local_listener();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    let meta: Vec<(String, Vec<u8>)> = vec![
        ("scheme".into(), scheme.as_bytes().to_vec()),
        ("script".into(), script.as_bytes().to_vec()),
        ("mtime".into(), r.file_mtime().to_string().into_bytes()),
        ("callable".into(), callable.into_bytes()),
        ("group".into(), group.into_bytes()),
        (
            "reload".into(),
            if dir.reloading() {
                b"1".to_vec()
            } else {
                b"0".to_vec()
            },
        ),
        (
            "sendfile".into(),
            if dir.enable_sendfile == Some(true) {
                b"1".to_vec()
            } else {
                b"0".to_vec()
            },
        ),
        ("handler".into(), r.handler().unwrap_or(b"").to_vec()),
        ("lhost".into(), host.unwrap_or_default()),
        ("lport".into(), port.to_string().into_bytes()),
        ("reqid".into(), r.log_id().unwrap_or(b"").to_vec()),
        ("rstart".into(), r.request_time().to_string().into_bytes()),
        ("qstart".into(), now.to_string().into_bytes()),
        (
            "head".into(),
            if r.is_header_only() {
                b"1".to_vec()
            } else {
                b"0".to_vec()
            },
        ),
        (
            "body".into(),
            if has_body {
                b"1".to_vec()
            } else {
                b"0".to_vec()
            },
        ),
    ];
    let keys: Vec<Vec<u8>> = meta
        .iter()
        .map(|(k, _)| [META.as_bytes(), k.as_bytes()].concat())
        .collect();
    wire::encode_pairs(
        vars.entries
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .chain(
                keys.iter()
                    .zip(meta.iter())
                    .map(|(k, (_, v))| (k.as_slice(), v.as_slice())),
            ),
    )
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
        let needs_python = |d: &crate::config::DirConfig| {
            d.access_script.is_some()
                || d.auth_user_script.is_some()
                || d.auth_group_script.is_some()
                || d.dispatch_script.is_some()
                || !d.handler_scripts.is_empty()
        };
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
