//! Whole-configuration checks, run by `apache2 -t` (test_config) and at
//! start-up (post_config): a process group that names no
//! `WSGIDaemonProcess` fails, naming the directive and the fix.

use crate::apache::server::Server;
use crate::apache::{DirConf, ServerConf};
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

/// Checks every server's aliases, import scripts, and server-level and
/// section-level `WSGIProcessGroup`s.
pub fn process_groups(main: Server) -> Result<(), String> {
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
