//! Command-line parsing: subcommands, `--option value` and
//! `--option=value` forms, and validation of values. Parsing is pure (no
//! file system access), so it is unit-tested directly; paths are checked
//! later, in `checks`.

use crate::Failure;

/// How APP names the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppType {
    /// A WSGI script file (`hello.wsgi`, `app.py`).
    Script,
    /// An importable `package.module[:callable]`.
    Module,
}

/// The multi-processing module Apache runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mpm {
    Event,
    Worker,
    Prefork,
}

impl Mpm {
    pub fn name(self) -> &'static str {
        match self {
            Mpm::Event => "event",
            Mpm::Worker => "worker",
            Mpm::Prefork => "prefork",
        }
    }
}

/// The options shared by `start-server` and `setup-server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub app: String,
    /// `None`: decided from APP (a colon and no such file means module).
    pub app_type: Option<AppType>,
    pub host: String,
    pub port: u16,
    pub processes: u32,
    pub threads: u32,
    pub mpm: Mpm,
    /// `(URL, DIR)` pairs, in command-line order.
    pub url_aliases: Vec<(String, String)>,
    pub callable: Option<String>,
    pub python_paths: Vec<String>,
    pub python_home: Option<String>,
    pub working_directory: Option<String>,
    pub maximum_requests: u32,
    pub reload_on_changes: bool,
    pub log_to_terminal: bool,
    pub access_log: bool,
    pub log_level: String,
    pub server_root: Option<String>,
    pub module_path: Option<String>,
    pub httpd: String,
    pub modules_dir: String,
    pub include_files: Vec<String>,
}

impl Options {
    fn new(app: String) -> Options {
        Options {
            app,
            app_type: None,
            host: "127.0.0.1".into(),
            port: 8000,
            processes: 1,
            threads: 5,
            mpm: Mpm::Event,
            url_aliases: Vec::new(),
            callable: None,
            python_paths: Vec::new(),
            python_home: None,
            working_directory: None,
            maximum_requests: 0,
            reload_on_changes: false,
            log_to_terminal: false,
            access_log: false,
            log_level: "warn".into(),
            server_root: None,
            module_path: None,
            httpd: "/usr/sbin/apache2".into(),
            modules_dir: "/usr/lib/apache2/modules".into(),
            include_files: Vec::new(),
        }
    }
}

/// Options of `module-config`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleConfigOptions {
    pub module_path: Option<String>,
    pub python_home: Option<String>,
}

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Help(&'static str),
    Start(Box<Options>),
    Setup(Box<Options>),
    ModuleConfig(ModuleConfigOptions),
    /// The hidden reload watcher `start-server --reload-on-changes` spawns.
    Monitor(crate::monitor::MonitorArgs),
}

const LOG_LEVELS: &[&str] = &[
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug", "trace1", "trace2",
    "trace3", "trace4", "trace5", "trace6", "trace7", "trace8",
];

/// Parses the whole command line (without the program name).
pub fn parse(argv: &[String]) -> Result<Command, Failure> {
    let Some(first) = argv.first() else {
        return Err(Failure::Usage("a command is required".into(), ""));
    };
    let rest = &argv[1..];
    match first.as_str() {
        "-h" | "--help" | "help" => Ok(Command::Help("")),
        "start-server" => parse_server(rest, "start-server").map(|o| match o {
            Some(o) => Command::Start(Box::new(o)),
            None => Command::Help("start-server"),
        }),
        "setup-server" => parse_server(rest, "setup-server").map(|o| match o {
            Some(o) => Command::Setup(Box::new(o)),
            None => Command::Help("setup-server"),
        }),
        "module-config" => parse_module_config(rest),
        crate::monitor::SUBCOMMAND => crate::monitor::parse(rest).map(Command::Monitor),
        other => Err(Failure::Usage(format!("unknown command '{other}'"), "")),
    }
}

/// Splits `--name=value` into its parts; other words come back whole.
fn split_eq(word: &str) -> (&str, Option<&str>) {
    match word.split_once('=') {
        Some((name, value)) if name.starts_with("--") => (name, Some(value)),
        _ => (word, None),
    }
}

/// Walks the words of a subcommand, handing out option values.
struct Words<'a> {
    words: &'a [String],
    pos: usize,
    cmd: &'static str,
}

impl<'a> Words<'a> {
    fn value(&mut self, name: &str, inline: Option<&'a str>) -> Result<&'a str, Failure> {
        if let Some(v) = inline {
            return Ok(v);
        }
        match self.words.get(self.pos) {
            Some(v) => {
                self.pos += 1;
                Ok(v)
            }
            None => Err(self.usage(format!("{name} needs a value"))),
        }
    }

    fn number<T: std::str::FromStr>(
        &mut self,
        name: &str,
        inline: Option<&'a str>,
    ) -> Result<T, Failure> {
        let v = self.value(name, inline)?;
        v.parse()
            .map_err(|_| self.usage(format!("{name}: '{v}' is not a valid number")))
    }

    fn usage(&self, msg: String) -> Failure {
        Failure::Usage(msg, self.cmd)
    }
}

/// Parses `start-server`/`setup-server`; `Ok(None)` means `--help`.
fn parse_server(argv: &[String], cmd: &'static str) -> Result<Option<Options>, Failure> {
    let mut w = Words {
        words: argv,
        pos: 0,
        cmd,
    };
    let mut app: Option<String> = None;
    let mut o = Options::new(String::new());
    while let Some(word) = argv.get(w.pos) {
        w.pos += 1;
        let (name, inline) = split_eq(word);
        match name {
            "-h" | "--help" => return Ok(None),
            "--host" => o.host = w.value(name, inline)?.to_string(),
            "--port" => o.port = w.number(name, inline)?,
            "--processes" => o.processes = w.number(name, inline)?,
            "--threads" => o.threads = w.number(name, inline)?,
            "--mpm" => {
                o.mpm = match w.value(name, inline)? {
                    "event" => Mpm::Event,
                    "worker" => Mpm::Worker,
                    "prefork" => Mpm::Prefork,
                    v => {
                        return Err(
                            w.usage(format!("--mpm: '{v}' is not one of event, worker, prefork"))
                        )
                    }
                }
            }
            "--application-type" => {
                o.app_type = Some(match w.value(name, inline)? {
                    "script" => AppType::Script,
                    "module" => AppType::Module,
                    v => {
                        return Err(
                            w.usage(format!("--application-type: '{v}' is not script or module"))
                        )
                    }
                })
            }
            "--url-alias" => {
                if inline.is_some() {
                    return Err(w.usage("--url-alias takes two words: --url-alias URL DIR".into()));
                }
                let url = w.value(name, None)?.to_string();
                let dir = w.value(name, None)?.to_string();
                o.url_aliases.push((url, dir));
            }
            "--callable-object" => o.callable = Some(w.value(name, inline)?.to_string()),
            "--python-path" => o.python_paths.push(w.value(name, inline)?.to_string()),
            "--python-home" => o.python_home = Some(w.value(name, inline)?.to_string()),
            "--working-directory" => o.working_directory = Some(w.value(name, inline)?.to_string()),
            "--maximum-requests" => o.maximum_requests = w.number(name, inline)?,
            "--log-level" => o.log_level = w.value(name, inline)?.to_string(),
            "--server-root" => o.server_root = Some(w.value(name, inline)?.to_string()),
            "--module-path" => o.module_path = Some(w.value(name, inline)?.to_string()),
            "--httpd-executable" => o.httpd = w.value(name, inline)?.to_string(),
            "--modules-directory" => o.modules_dir = w.value(name, inline)?.to_string(),
            "--include-file" => o.include_files.push(w.value(name, inline)?.to_string()),
            "--reload-on-changes" | "--log-to-terminal" | "--access-log" if inline.is_some() => {
                return Err(w.usage(format!("{name} takes no value")));
            }
            "--reload-on-changes" => o.reload_on_changes = true,
            "--log-to-terminal" => o.log_to_terminal = true,
            "--access-log" => o.access_log = true,
            _ if word.starts_with('-') && word.len() > 1 => {
                return Err(w.usage(format!("unknown option '{word}'")));
            }
            _ if app.is_some() => return Err(w.usage(format!("unexpected argument '{word}'"))),
            _ => app = Some(word.clone()),
        }
    }
    let Some(app) = app else {
        return Err(w.usage(
            "the application (a WSGI script file or package.module:callable) is required".into(),
        ));
    };
    o.app = app;
    validate(&o).map_err(|msg| w.usage(msg))?;
    Ok(Some(o))
}

fn validate(o: &Options) -> Result<(), String> {
    if o.port == 0 {
        return Err("--port must be between 1 and 65535".into());
    }
    if o.processes == 0 || o.processes > 1000 {
        return Err("--processes must be between 1 and 1000".into());
    }
    if o.threads == 0 || o.threads > 1000 {
        return Err("--threads must be between 1 and 1000".into());
    }
    if !LOG_LEVELS.contains(&o.log_level.as_str()) {
        return Err(format!(
            "--log-level: '{}' is not an Apache log level (e.g. warn, info, debug)",
            o.log_level
        ));
    }
    if o.host.is_empty() || o.host.contains(char::is_whitespace) {
        return Err(format!(
            "--host: '{}' is not a host name or address",
            o.host
        ));
    }
    if let Some(c) = &o.callable {
        if !is_identifier(c) {
            return Err(format!(
                "--callable-object: '{c}' is not a Python identifier"
            ));
        }
    }
    for (url, _) in &o.url_aliases {
        if !url.starts_with('/') {
            return Err(format!("--url-alias: the URL '{url}' must start with '/'"));
        }
    }
    Ok(())
}

/// True for a plain Python identifier (ASCII is enough for a callable name).
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn parse_module_config(argv: &[String]) -> Result<Command, Failure> {
    let mut w = Words {
        words: argv,
        pos: 0,
        cmd: "module-config",
    };
    let mut o = ModuleConfigOptions::default();
    while let Some(word) = argv.get(w.pos) {
        w.pos += 1;
        let (name, inline) = split_eq(word);
        match name {
            "-h" | "--help" => return Ok(Command::Help("module-config")),
            "--module-path" => o.module_path = Some(w.value(name, inline)?.to_string()),
            "--python-home" => o.python_home = Some(w.value(name, inline)?.to_string()),
            _ => return Err(w.usage(format!("unexpected argument '{word}'"))),
        }
    }
    Ok(Command::ModuleConfig(o))
}
