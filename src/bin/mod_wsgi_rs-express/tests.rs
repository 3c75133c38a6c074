//! Unit tests: argument parsing and the generated files. The end-to-end
//! tests with a real Apache are in tests/test_express.py.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::args::{parse, AppType, Command, Mpm, Options};
use crate::conf::{self, App, LogTarget, Plan};
use crate::monitor::{self, MonitorArgs};
use crate::run::{app_type, split_module};
use crate::Failure;

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| s.to_string()).collect()
}

fn start(words: &[&str]) -> Options {
    match parse(&argv(words)) {
        Ok(Command::Start(o)) => *o,
        other => panic!("expected start-server options, got {other:?}"),
    }
}

fn usage_error(words: &[&str]) -> String {
    match parse(&argv(words)) {
        Err(Failure::Usage(msg, _)) => msg,
        other => panic!("expected a usage error, got {other:?}"),
    }
}

#[test]
fn defaults() {
    let o = start(&["start-server", "hello.wsgi"]);
    assert_eq!(o.app, "hello.wsgi");
    assert_eq!(
        (o.host.as_str(), o.port, o.processes, o.threads),
        ("127.0.0.1", 8000, 1, 5)
    );
    assert_eq!(o.mpm, Mpm::Event);
    assert_eq!(o.log_level, "warn");
    assert!(!o.reload_on_changes && !o.log_to_terminal && !o.access_log);
}

#[test]
fn every_option_both_spellings() {
    let o = start(&[
        "start-server",
        "--port=9000",
        "--host",
        "0.0.0.0",
        "--processes",
        "3",
        "--threads=2",
        "--mpm",
        "prefork",
        "--url-alias",
        "/static",
        "st",
        "--url-alias",
        "/media",
        "m",
        "--callable-object",
        "app",
        "--python-path",
        "a",
        "--python-path=b",
        "--python-home",
        "/venv",
        "--working-directory",
        "/srv",
        "--maximum-requests",
        "100",
        "--reload-on-changes",
        "--log-to-terminal",
        "--access-log",
        "--log-level",
        "info",
        "--server-root",
        "/tmp/x",
        "--module-path",
        "/m.so",
        "--httpd-executable",
        "/bin/httpd",
        "--application-type",
        "module",
        "pkg.mod",
    ]);
    assert_eq!(
        (o.port, o.host.as_str(), o.processes, o.threads),
        (9000, "0.0.0.0", 3, 2)
    );
    assert_eq!(o.mpm, Mpm::Prefork);
    assert_eq!(
        o.url_aliases,
        vec![
            ("/static".into(), "st".into()),
            ("/media".into(), "m".into())
        ]
    );
    assert_eq!(o.python_paths, vec!["a", "b"]);
    assert_eq!(o.callable.as_deref(), Some("app"));
    assert_eq!(o.app_type, Some(AppType::Module));
    assert_eq!(o.maximum_requests, 100);
    assert!(o.reload_on_changes && o.log_to_terminal && o.access_log);
    assert_eq!(o.server_root.as_deref(), Some("/tmp/x"));
    assert_eq!(o.app, "pkg.mod");
}

#[test]
fn usage_errors() {
    assert!(usage_error(&[]).contains("command is required"));
    assert!(usage_error(&["serve"]).contains("unknown command"));
    assert!(usage_error(&["start-server"]).contains("is required"));
    assert!(usage_error(&["start-server", "a", "b"]).contains("unexpected argument 'b'"));
    assert!(usage_error(&["start-server", "a", "--port"]).contains("needs a value"));
    assert!(usage_error(&["start-server", "a", "--port", "x"]).contains("not a valid number"));
    assert!(usage_error(&["start-server", "a", "--port", "0"]).contains("between 1 and 65535"));
    assert!(usage_error(&["start-server", "a", "--port", "70000"]).contains("not a valid number"));
    assert!(usage_error(&["start-server", "a", "--mpm", "x"]).contains("event, worker, prefork"));
    assert!(usage_error(&["start-server", "a", "--bogus"]).contains("unknown option"));
    assert!(usage_error(&["start-server", "a", "--log-level", "loud"]).contains("log level"));
    assert!(usage_error(&["start-server", "a", "--url-alias", "/s"]).contains("needs a value"));
    assert!(usage_error(&["start-server", "a", "--url-alias", "s", "d"]).contains("start with '/'"));
    assert!(usage_error(&["start-server", "a", "--access-log=1"]).contains("takes no value"));
    assert!(usage_error(&["start-server", "a", "--callable-object", "a-b"]).contains("identifier"));
}

#[test]
fn help_everywhere() {
    assert_eq!(parse(&argv(&["--help"])), Ok(Command::Help("")));
    assert_eq!(
        parse(&argv(&["start-server", "--help"])),
        Ok(Command::Help("start-server"))
    );
    assert_eq!(
        parse(&argv(&["setup-server", "x", "-h"])),
        Ok(Command::Help("setup-server"))
    );
    assert_eq!(
        parse(&argv(&["module-config", "--help"])),
        Ok(Command::Help("module-config"))
    );
    for cmd in ["", "start-server", "setup-server", "module-config"] {
        assert!(crate::help::text(cmd).starts_with("usage: mod_wsgi_rs-express"));
    }
}

#[test]
fn application_type_detection() {
    let mut o = start(&["start-server", "pkg.mod:app"]);
    assert_eq!(app_type(&o), AppType::Module);
    o.app = "/nonexistent/hello.wsgi".into();
    assert_eq!(app_type(&o), AppType::Script);
    assert_eq!(
        split_module("pkg.mod:app", None),
        Ok(("pkg.mod".into(), "app".into()))
    );
    assert_eq!(
        split_module("pkg.mod", Some("wsgi")),
        Ok(("pkg.mod".into(), "wsgi".into()))
    );
    assert_eq!(
        split_module("pkg", None),
        Ok(("pkg".into(), "application".into()))
    );
    assert!(split_module("pkg-x:app", None).is_err());
    assert!(split_module(":app", None).is_err());
}

fn plan(app: App) -> Plan {
    let root = PathBuf::from("/tmp/r");
    Plan {
        root: root.clone(),
        app,
        working_directory: "/srv/app".into(),
        python_path: vec!["/srv/app".into(), "/srv/lib".into()],
        python_home: None,
        module_path: "/build/libmod_wsgi_rs.so".into(),
        url_aliases: vec![("/static".into(), "/srv/static".into())],
        error_log: LogTarget::File(root.join("error_log")),
        access_log: None,
        include_files: Vec::new(),
        optional_modules: Vec::new(),
        is_root: false,
    }
}

fn script_plan() -> Plan {
    plan(App::Script {
        path: "/srv/app/hello.wsgi".into(),
        callable: "application".into(),
    })
}

#[test]
fn httpd_conf_essentials() {
    let o = start(&[
        "start-server",
        "hello.wsgi",
        "--port",
        "8123",
        "--processes",
        "2",
        "--threads",
        "4",
    ]);
    let c = conf::httpd_conf(&o, &script_plan());
    for want in [
        "ServerRoot \"/tmp/r\"",
        "ServerName 127.0.0.1:8123",
        "Listen 127.0.0.1:8123",
        "PidFile \"/tmp/r/httpd.pid\"",
        "Mutex file:/tmp/r default",
        "LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so",
        "LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so",
        "LoadModule wsgi_module \"/build/libmod_wsgi_rs.so\"",
        "StartServers 2",
        "ThreadsPerChild 4",
        "MaxRequestWorkers 8",
        "MaxConnectionsPerChild 0",
        "ErrorLog \"/tmp/r/error_log\"",
        "LogLevel warn",
        "Alias \"/static\" \"/srv/static\"",
        "<Directory \"/srv/static\">",
        "WSGIPythonPath \"/srv/app:/srv/lib\"",
        "WSGIScriptReloading Off",
        "WSGIScriptAlias / \"/tmp/r/handler.wsgi\" application-group=%{GLOBAL}",
    ] {
        assert!(c.contains(want), "missing {want:?} in:\n{c}");
    }
    assert!(!c.contains("User www-data"));
    assert!(!c.contains("CustomLog"));
    assert!(!c.contains("WSGIPythonHome"));
}

#[test]
fn httpd_conf_variants() {
    let o = start(&[
        "start-server",
        "x",
        "--mpm",
        "prefork",
        "--processes",
        "3",
        "--access-log",
        "--log-to-terminal",
        "--maximum-requests",
        "50",
        "--reload-on-changes",
        "--host",
        "::1",
    ]);
    let mut p = script_plan();
    p.is_root = true;
    p.python_home = Some("/venv".into());
    p.error_log = LogTarget::Terminal("/dev/stderr");
    p.access_log = Some(LogTarget::Terminal("/dev/stdout"));
    p.optional_modules = vec![("log_config_module", "mod_log_config.so")];
    let c = conf::httpd_conf(&o, &p);
    for want in [
        "Listen [::1]:8000",
        "mod_mpm_prefork.so",
        "MaxSpareServers 3",
        "MaxRequestWorkers 3",
        "MaxConnectionsPerChild 50",
        "User www-data\nGroup www-data",
        "ErrorLog \"/dev/stderr\"",
        "CustomLog \"/dev/stdout\" combined",
        "<IfModule !log_config_module>",
        "WSGIPythonHome \"/venv\"",
        "WSGIScriptReloading On",
    ] {
        assert!(c.contains(want), "missing {want:?} in:\n{c}");
    }
    assert!(!c.contains("ThreadsPerChild"));
}

#[test]
fn handlers() {
    let h = conf::handler(&script_plan());
    assert!(h.contains("os.chdir('/srv/app')"));
    assert!(h.contains("SourceFileLoader('_mod_wsgi_rs_express_app', '/srv/app/hello.wsgi')"));
    assert!(h.contains("application = getattr(_module, 'application')"));
    let h = conf::handler(&plan(App::Module {
        module: "pkg.mod".into(),
        callable: "app".into(),
    }));
    assert!(h.contains("application = getattr(importlib.import_module('pkg.mod'), 'app')"));
}

#[test]
fn quoting() {
    assert_eq!(conf::py_quote("a'b\\c\n"), "'a\\'b\\\\c\\x0a'");
    assert_eq!(conf::ap_quote("a\"b\\"), "\"a\\\"b\\\\\"");
    assert_eq!(conf::sh_quote("it's"), "'it'\\''s'");
    assert_eq!(conf::host_port("::1", 80), "[::1]:80");
    assert_eq!(conf::host_port("localhost", 80), "localhost:80");
}

#[test]
fn apachectl_wrapper() {
    let a = conf::apachectl(&script_plan(), "/usr/sbin/apache2");
    assert!(a.starts_with("#!/bin/sh\n"));
    assert!(a.contains("HTTPD='/usr/sbin/apache2'"));
    assert!(a.contains("CONF='/tmp/r/httpd.conf'"));
    assert!(a.contains("-DFOREGROUND"));
    assert!(a.contains("stop|restart|graceful|graceful-stop)"));
}

#[test]
fn monitor_args_round_trip_and_diff() {
    let m = MonitorArgs {
        httpd: "/h".into(),
        conf: "/c".into(),
        parent: 42,
        dirs: vec!["/a".into()],
    };
    let words = m.to_args();
    assert_eq!(parse(&words), Ok(Command::Monitor(m)));
    let t0 = SystemTime::UNIX_EPOCH;
    let old: BTreeMap<PathBuf, SystemTime> = [("/a/x.py".into(), t0)].into();
    let mut new = old.clone();
    assert_eq!(monitor::first_difference(&old, &new), None);
    new.insert("/a/x.py".into(), t0 + Duration::from_secs(1));
    assert_eq!(
        monitor::first_difference(&old, &new),
        Some("/a/x.py".into())
    );
    assert_eq!(
        monitor::first_difference(&old, &BTreeMap::new()),
        Some("/a/x.py".into())
    );
}
