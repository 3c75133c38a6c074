//! The subcommands: resolving the options into a [`Plan`], writing the
//! server root, and running Apache.
//!
//! `start-server` ends by replacing itself with `apache2 -DFOREGROUND`
//! (exec), so Apache receives Ctrl-C (SIGINT) and `kill` (SIGTERM) directly,
//! shuts its children down and exits 0; the caller sees Apache's exit
//! status as ours. No signal handling is needed here.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::args::{self, AppType, Command as Cmd, ModuleConfigOptions, Options};
use crate::checks::{self, absolute};
use crate::conf::{self, App, LogTarget, Plan};
use crate::{help, monitor, Failure, PROG};

/// Parses the command line and runs the subcommand.
pub fn main(argv: &[String]) -> Result<(), Failure> {
    match args::parse(argv)? {
        Cmd::Help(cmd) => {
            print!("{}", help::text(cmd));
            Ok(())
        }
        Cmd::Start(o) => start_server(&o),
        Cmd::Setup(o) => setup_server(&o),
        Cmd::ModuleConfig(o) => module_config(&o),
        Cmd::Monitor(m) => monitor::run(&m),
    }
}

/// Decides between script and module application types.
pub fn app_type(o: &Options) -> AppType {
    o.app_type.unwrap_or_else(|| {
        if o.app.contains(':') && !Path::new(&o.app).exists() {
            AppType::Module
        } else {
            AppType::Script
        }
    })
}

/// Splits `package.module:callable`; the callable defaults to
/// `--callable-object`, then `application`.
pub fn split_module(app: &str, callable: Option<&str>) -> Result<(String, String), Failure> {
    let (module, named) = match app.split_once(':') {
        Some((m, c)) => (m, Some(c)),
        None => (app, None),
    };
    let callable = named.or(callable).unwrap_or("application");
    let valid_module = !module.is_empty() && module.split('.').all(args::is_identifier);
    if !valid_module || !args::is_identifier(callable) {
        return Err(Failure::Usage(
            format!("'{app}' is not a script file or package.module:callable"),
            "start-server",
        ));
    }
    Ok((module.to_string(), callable.to_string()))
}

/// Checks the application and resolves every path. Returns the plan and
/// the directories `--reload-on-changes` watches.
pub fn resolve(o: &Options) -> Result<(Plan, Vec<PathBuf>), Failure> {
    let root = absolute(Path::new(
        &o.server_root
            .clone()
            .unwrap_or_else(|| format!("/tmp/{PROG}-{}", o.port)),
    ));
    let python_home = o.python_home.as_deref().map(|p| absolute(Path::new(p)));
    let mut extra_paths: Vec<PathBuf> = o
        .python_paths
        .iter()
        .map(|p| absolute(Path::new(p)))
        .collect();
    let module_path = checks::module_file(o.module_path.as_deref())?;
    let (app, working_directory, watch) = match app_type(o) {
        AppType::Script => {
            let path = checks::script_file(&o.app)?;
            let dir = path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("/"));
            let wd = o
                .working_directory
                .as_deref()
                .map(|w| absolute(Path::new(w)))
                .unwrap_or(dir.clone());
            let callable = o.callable.clone().unwrap_or_else(|| "application".into());
            (App::Script { path, callable }, wd, vec![dir])
        }
        AppType::Module => {
            let (module, callable) = split_module(&o.app, o.callable.as_deref())?;
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
            let wd = o
                .working_directory
                .as_deref()
                .map(|w| absolute(Path::new(w)))
                .unwrap_or(cwd);
            let mut search = vec![wd.clone()];
            search.append(&mut extra_paths.clone());
            let python = checks::python_for(python_home.as_deref());
            let watch = checks::module_importable(&python, &module, &search, &wd)?;
            (App::Module { module, callable }, wd, watch)
        }
    };
    if !working_directory.is_dir() {
        return Err(Failure::Failed(format!(
            "working directory {} does not exist",
            working_directory.display()
        )));
    }
    let mut python_path = vec![working_directory.clone()];
    extra_paths.retain(|p| p != &working_directory);
    python_path.append(&mut extra_paths);
    let mut url_aliases = Vec::new();
    for (url, dir) in &o.url_aliases {
        let dir = absolute(Path::new(dir));
        if !dir.exists() {
            return Err(Failure::Failed(format!(
                "--url-alias {url}: {} does not exist",
                dir.display()
            )));
        }
        url_aliases.push(trim_alias(url, dir));
    }
    let (error_log, access_log) = if o.log_to_terminal {
        let access = o.access_log.then_some(LogTarget::Terminal("/dev/stdout"));
        (LogTarget::Terminal("/dev/stderr"), access)
    } else {
        let access = o
            .access_log
            .then(|| LogTarget::File(root.join("access_log")));
        (LogTarget::File(root.join("error_log")), access)
    };
    let is_root = checks::is_root();
    let modules_dir = Path::new(&o.modules_dir);
    let mut optional_modules = Vec::new();
    if is_root && modules_dir.join("mod_unixd.so").is_file() {
        optional_modules.push(("unixd_module", "mod_unixd.so"));
    }
    if o.access_log && modules_dir.join("mod_log_config.so").is_file() {
        optional_modules.push(("log_config_module", "mod_log_config.so"));
    }
    let plan = Plan {
        root,
        app,
        working_directory,
        python_path,
        python_home,
        module_path,
        url_aliases,
        error_log,
        access_log,
        include_files: o
            .include_files
            .iter()
            .map(|p| absolute(Path::new(p)))
            .collect(),
        optional_modules,
        is_root,
    };
    Ok((plan, watch))
}

/// mod_alias compares URL and directory literally: keep a trailing slash
/// on both or on neither.
fn trim_alias(url: &str, dir: PathBuf) -> (String, PathBuf) {
    if url.len() > 1 && url.ends_with('/') {
        (url.trim_end_matches('/').to_string(), dir)
    } else {
        (url.to_string(), dir)
    }
}

/// Writes the server root: httpd.conf, handler.wsgi, htdocs/.
fn write_root(o: &Options, plan: &Plan) -> Result<(), Failure> {
    let fail = |what: &Path, e: std::io::Error| {
        Failure::Failed(format!("cannot write {}: {e}", what.display()))
    };
    fs::create_dir_all(plan.htdocs()).map_err(|e| fail(&plan.htdocs(), e))?;
    for dir in [&plan.root, &plan.htdocs()] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).map_err(|e| fail(dir, e))?;
    }
    write_file(&plan.conf_path(), &conf::httpd_conf(o, plan), 0o644)?;
    write_file(&plan.handler_path(), &conf::handler(plan), 0o644)
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), Failure> {
    fs::write(path, text)
        .and_then(|_| fs::set_permissions(path, fs::Permissions::from_mode(mode)))
        .map_err(|e| Failure::Failed(format!("cannot write {}: {e}", path.display())))
}

fn print_logs(plan: &Plan) {
    let where_ = |t: &LogTarget| match t {
        LogTarget::File(p) => p.display().to_string(),
        LogTarget::Terminal(_) => "this terminal".to_string(),
    };
    println!("{PROG}: error log: {}", where_(&plan.error_log));
    if let Some(access) = &plan.access_log {
        println!("{PROG}: access log: {}", where_(access));
    }
}

fn start_server(o: &Options) -> Result<(), Failure> {
    let (plan, watch) = resolve(o)?;
    checks::port_free(&o.host, o.port)?;
    write_root(o, &plan)?;
    let url_host = conf::host_port(&o.host, o.port);
    println!(
        "{PROG}: serving {} on http://{url_host}/",
        plan.app.describe()
    );
    println!("{PROG}: server root: {}", plan.root.display());
    print_logs(&plan);
    if o.reload_on_changes {
        println!(
            "{PROG}: reloading when .py/.wsgi files change under {}",
            checks::join_paths(&watch)
        );
        monitor::spawn(&monitor::MonitorArgs {
            httpd: o.httpd.clone(),
            conf: plan.conf_path(),
            parent: std::process::id(),
            dirs: watch,
        })?;
    }
    println!("{PROG}: press Ctrl-C to stop");
    let err = Command::new(&o.httpd)
        .arg("-f")
        .arg(plan.conf_path())
        .arg("-DFOREGROUND")
        .exec();
    Err(Failure::Failed(format!("cannot run {}: {err}", o.httpd)))
}

fn setup_server(o: &Options) -> Result<(), Failure> {
    let (plan, _) = resolve(o)?;
    write_root(o, &plan)?;
    write_file(
        &plan.apachectl_path(),
        &conf::apachectl(&plan, &o.httpd),
        0o755,
    )?;
    println!("{PROG}: server root: {}", plan.root.display());
    println!("{PROG}: configuration: {}", plan.conf_path().display());
    print_logs(&plan);
    println!(
        "{PROG}: apachectl: {} (start [--foreground]|stop|restart|graceful|configtest)",
        plan.apachectl_path().display()
    );
    Ok(())
}

fn module_config(o: &ModuleConfigOptions) -> Result<(), Failure> {
    let module = checks::module_file(o.module_path.as_deref())?;
    println!("# mod_wsgi_rs: add to the main Apache configuration, or to");
    println!("# /etc/apache2/mods-available/wsgi_rs.load on Debian (then `a2enmod wsgi_rs`).");
    println!("# Disable mod_wsgi first: both modules are wsgi_module.");
    println!(
        "LoadModule wsgi_module {}",
        conf::ap_quote(&module.display().to_string())
    );
    if let Some(home) = &o.python_home {
        println!(
            "WSGIPythonHome {}",
            conf::ap_quote(&absolute(Path::new(home)).display().to_string())
        );
    }
    Ok(())
}
