//! Server-level configuration as httpd stores it per server_rec: the
//! script aliases (in config order) and the process-wide Python settings.

use std::sync::Arc;

use crate::apache::regex::Regex;
use crate::config::AliasOptions;

/// How an alias matches the URI.
pub enum Pattern {
    /// `WSGIScriptAlias`: a URL-path prefix with mod_alias's rules.
    Prefix(Vec<u8>),
    /// `WSGIScriptAliasMatch`: a regular expression.
    Regex(Regex),
}

pub struct Alias {
    pub pattern: Pattern,
    pub target: String,
    pub options: AliasOptions,
}

/// Process-wide Python settings (server config only).
#[derive(Clone, Debug, Default)]
pub struct PythonConfig {
    pub home: Option<String>,
    pub path: Vec<String>,
    pub optimize: i32,
    pub dont_write_bytecode: bool,
    pub restrict_embedded: bool,
    pub warnings: Vec<String>,
    pub hash_seed: Option<u32>,
    pub python_eggs: Option<String>,
    pub restrict_stdin: bool,
    pub restrict_stdout: bool,
    /// `WSGIRestrictSignal` (default On).
    pub restrict_signal: Option<bool>,
    /// `WSGIDestroyInterpreter` (default On).
    pub destroy_interpreter: Option<bool>,
    pub case_sensitive: Option<bool>,
    /// `WSGIServerMetrics`: `mod_wsgi.server_metrics()` works in embedded
    /// mode (daemon groups have `server-metrics=` instead).
    pub server_metrics: bool,
    /// `WSGIImportScript path process-group=… application-group=…`.
    pub import_scripts: Vec<ImportScript>,
    /// Interpreter options (src/config/interp_options.rs).
    pub interpreter: crate::config::interp_options::InterpreterOptions,
}

/// A script preloaded when a process starts.
#[derive(Clone, Debug)]
pub struct ImportScript {
    pub path: String,
    pub process_group: String,
    pub application_group: String,
}

#[derive(Default)]
pub struct ServerConfig {
    pub aliases: Vec<Arc<Alias>>,
    pub python: PythonConfig,
    /// `WSGIDaemonProcess` groups (a vhost sees the main server's too).
    pub daemons: Vec<Arc<crate::daemon::GroupEntry>>,
    /// `WSGISocketPrefix` (global).
    pub socket_prefix: Option<String>,
}

impl ServerConfig {
    /// A virtual host's aliases come first, then the main server's (as
    /// mod_alias merges). Python settings are global.
    pub fn merge(base: &ServerConfig, add: &ServerConfig) -> ServerConfig {
        ServerConfig {
            aliases: add
                .aliases
                .iter()
                .chain(base.aliases.iter())
                .cloned()
                .collect(),
            python: base.python.clone(),
            daemons: add
                .daemons
                .iter()
                .chain(base.daemons.iter())
                .cloned()
                .collect(),
            socket_prefix: base.socket_prefix.clone(),
        }
    }
}
