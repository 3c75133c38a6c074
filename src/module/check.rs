//! Whole-configuration checks, run by `apache2 -t` (test_config) and at
//! start-up (post_config): a process group that names no
//! `WSGIDaemonProcess` fails, naming the directive and the fix.

use crate::apache::server::Server;
use crate::apache::{DirConf, ServerConf};
use std::sync::Arc;

use crate::config::daemon::{duplicate_message, DaemonGroup};
use crate::config::{DirConfig, ServerConfig};

/// A literal group name (not `%{…}`, not empty) that must be defined.
fn literal(group: &str) -> Option<&str> {
    (!group.is_empty() && !group.starts_with("%{")).then_some(group)
}

fn defined(s: Server, name: &str) -> bool {
    ServerConfig::of(&s).daemons.iter().any(|g| g.name == name)
}

fn missing(directive: &str, name: &str, server: &str) -> String {
    format!(
        "[WSGI-RS-E417] {directive} names the WSGI daemon process group '{name}' (server {server}), but no \
         'WSGIDaemonProcess {name} …' is defined for it; define the group (globally or in this virtual host) or use %{{GLOBAL}} for embedded mode"
    )
}

/// Fails when two `WSGIDaemonProcess` directives anywhere (in different
/// virtual hosts, say) define the same group name.
pub fn unique_groups(main: Server) -> Result<(), String> {
    let mut seen: Vec<Arc<DaemonGroup>> = Vec::new();
    let mut next = Some(main);
    while let Some(s) = next {
        for g in &ServerConfig::of(&s).daemons {
            match seen.iter().find(|o| o.name == g.name) {
                Some(o) if !Arc::ptr_eq(o, g) => return Err(duplicate_message(o, g)),
                Some(_) => {}
                None => seen.push(g.clone()),
            }
        }
        next = s.next();
    }
    Ok(())
}

/// Checks every server's aliases, import scripts, and server-level and
/// section-level `WSGIProcessGroup`s.
pub fn process_groups(main: Server) -> Result<(), String> {
    unique_groups(main)?;
    let mut next = Some(main);
    while let Some(s) = next {
        let name = s.name();
        let conf = ServerConfig::of(&s);
        for alias in &conf.aliases {
            if let Some(g) = alias.options.process_group.as_deref().and_then(literal) {
                if !defined(s, g) {
                    return Err(missing("process-group= of WSGIScriptAlias", g, &name));
                }
            }
        }
        for imp in &conf.python.import_scripts {
            if let Some(g) = literal(&imp.process_group) {
                if !defined(s, g) {
                    return Err(missing("process-group= of WSGIImportScript", g, &name));
                }
            }
        }
        let dirs: Vec<&DirConfig> = DirConfig::server_defaults(&s)
            .into_iter()
            .chain(DirConfig::sections(&s))
            .collect();
        for dir in dirs {
            if let Some(g) = dir.process_group.as_deref().and_then(literal) {
                if !defined(s, g) {
                    return Err(missing("WSGIProcessGroup", g, &name));
                }
            }
        }
        next = s.next();
    }
    Ok(())
}
