//! Server-level configuration as httpd stores it per server_rec: the
//! script aliases (in config order), the process-wide Python settings and
//! the daemon process groups as configured. Pure: what httpd compiles
//! (the alias regular expressions) is reached through [`UriRegex`], and
//! what daemon mode decides at start-up (socket paths) lives in the
//! daemon layer, not here.

use std::sync::Arc;

use super::alias::AliasOptions;
use super::daemon::DaemonGroup;

/// A successful regular-expression match: the end of the whole match and
/// its capture groups (`$0`..`$9`).
pub struct RegexMatch {
    pub end: usize,
    pub groups: Vec<Option<Vec<u8>>>,
}

/// A compiled `WSGIScriptAliasMatch` pattern. The engine is httpd's (so
/// patterns behave exactly like mod_alias's); the layer that compiles it
/// implements this trait, so this module stays free of httpd types.
pub trait UriRegex: Send + Sync {
    fn exec(&self, subject: &[u8]) -> Option<RegexMatch>;
}

/// How an alias matches the URI.
pub enum Pattern {
    /// `WSGIScriptAlias`: a URL-path prefix with mod_alias's rules.
    Prefix(Vec<u8>),
    /// `WSGIScriptAliasMatch`: a regular expression.
    Regex(Box<dyn UriRegex>),
}

/// One `WSGIScriptAlias` or `WSGIScriptAliasMatch`.
pub struct Alias {
    pub pattern: Pattern,
    /// The file path, with `$n` references for a regex alias.
    pub target: String,
    pub options: AliasOptions,
}

/// Process-wide Python settings (server config only).
#[derive(Clone, Debug, Default)]
pub struct PythonConfig {
    /// `WSGIPythonHome`: the Python prefix or virtualenv Python starts from.
    pub home: Option<String>,
    /// `WSGIPythonPath`: directories added to `sys.path` (embedded mode).
    pub path: Vec<String>,
    /// `WSGIPythonOptimize`: Python's `-O` level.
    pub optimize: i32,
    /// `WSGIDontWriteBytecode`: no `.pyc` files are written.
    pub dont_write_bytecode: bool,
    /// `WSGIRestrictEmbedded`: Apache's children run no application.
    pub restrict_embedded: bool,
    /// `WSGIPythonWarnings`: `-W` filters, in order.
    pub warnings: Vec<String>,
    /// `WSGIPythonHashSeed` (`None`: random).
    pub hash_seed: Option<u32>,
    /// `WSGIPythonEggs`: `PYTHON_EGG_CACHE` for the processes.
    pub python_eggs: Option<String>,
    /// `WSGIRestrictStdin`: `sys.stdin` raises on use.
    pub restrict_stdin: bool,
    /// `WSGIRestrictStdout`: `sys.stdout` raises on use.
    pub restrict_stdout: bool,
    /// `WSGIRestrictSignal` (default On).
    pub restrict_signal: Option<bool>,
    /// `WSGIDestroyInterpreter` (default On).
    pub destroy_interpreter: Option<bool>,
    /// `WSGICaseSensitivity` (`Some(false)`: script names are lower-cased
    /// for `%{RESOURCE}` application groups).
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
    /// Where it is loaded: `%{GLOBAL}` (or empty) for Apache's children,
    /// else a daemon group's processes.
    pub process_group: String,
    /// The interpreter it is loaded into.
    pub application_group: String,
}

#[derive(Default)]
pub struct ServerConfig {
    /// Script aliases in match order (a virtual host's before the main
    /// server's); shared so merging copies pointers, not patterns.
    pub aliases: Vec<Arc<Alias>>,
    /// Global: the main server's settings hold for every virtual host.
    pub python: PythonConfig,
    /// `WSGIDaemonProcess` groups (a vhost sees the main server's too).
    /// Shared by reference so a group defined once is seen once, however
    /// many virtual hosts inherit it.
    pub daemons: Vec<Arc<DaemonGroup>>,
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
            // Global, except the scripts to preload: a virtual host's
            // WSGIImportScript adds to the main server's.
            python: PythonConfig {
                import_scripts: base
                    .python
                    .import_scripts
                    .iter()
                    .chain(add.python.import_scripts.iter())
                    .cloned()
                    .collect(),
                ..base.python.clone()
            },
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
