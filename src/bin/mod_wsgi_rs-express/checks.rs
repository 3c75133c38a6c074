//! Checks made before Apache starts, so that the usual mistakes are
//! explained in one line instead of in Apache's error log: a busy port, a
//! missing or unreadable script, a package Python cannot import, a module
//! file that was never built.

use std::fs::File;
use std::net::{TcpListener, ToSocketAddrs};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Failure;

/// The Python used to check module applications when no `--python-home`
/// provides one. It must be the Python the module was built against.
pub const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// The installed location `module-config` and the server fall back to.
pub const INSTALLED_MODULE: &str = "/usr/lib/apache2/modules/mod_wsgi_rs.so";

/// True when this process runs as root (owner of `/proc/self` is the
/// effective user; std has no `geteuid`).
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Fails with a one-line explanation when HOST:PORT cannot be bound.
pub fn port_free(host: &str, port: u16) -> Result<(), Failure> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| Failure::Failed(format!("cannot resolve --host '{host}': {e}")))?
        .collect();
    let Some(addr) = addrs.first() else {
        return Err(Failure::Failed(format!("cannot resolve --host '{host}'")));
    };
    match TcpListener::bind(addr) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(Failure::Failed(format!(
            "port {port} on {host} is already in use; pick another with --port"
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(Failure::Failed(format!(
            "no permission to listen on port {port} on {host} (ports below 1024 need root); pick another with --port"
        ))),
        Err(e) => Err(Failure::Failed(format!("cannot listen on {host} port {port}: {e}"))),
    }
}

/// The absolute path of a readable script file, or a one-line failure.
pub fn script_file(path: &str) -> Result<PathBuf, Failure> {
    let p = absolute(Path::new(path));
    match File::open(&p).and_then(|f| f.metadata()) {
        Ok(m) if m.is_file() => Ok(p),
        Ok(_) => Err(Failure::Failed(format!(
            "WSGI script {} is not a file",
            p.display()
        ))),
        Err(e) => Err(Failure::Failed(format!(
            "cannot read WSGI script {}: {}",
            p.display(),
            plain(&e)
        ))),
    }
}

/// The Python interpreter to check module applications with.
pub fn python_for(python_home: Option<&Path>) -> PathBuf {
    if let Some(home) = python_home {
        for name in ["bin/python3", "bin/python"] {
            let p = home.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    PathBuf::from(SYSTEM_PYTHON)
}

/// Asks Python whether `module` can be found with `python_path` on
/// `sys.path`. On success returns the directories to watch for
/// `--reload-on-changes` (the top-level package, or the module's folder).
pub fn module_importable(
    python: &Path,
    module: &str,
    python_path: &[PathBuf],
    cwd: &Path,
) -> Result<Vec<PathBuf>, Failure> {
    const PROBE: &str = r#"
import importlib.util, os, sys
name = sys.argv[1]
try:
    spec = importlib.util.find_spec(name)
except ModuleNotFoundError as e:
    print("missing:%s" % e); sys.exit(1)
except Exception as e:
    print("warning:importing the parent package of %s raised %s: %s" % (name, type(e).__name__, e)); sys.exit(0)
if spec is None:
    print("missing:No module named %r" % name); sys.exit(1)
top = importlib.util.find_spec(name.split(".")[0])
locs = list(top.submodule_search_locations or []) if top else []
if not locs and top is not None and top.origin:
    locs = [os.path.dirname(top.origin)]
for loc in locs:
    print("watch:" + loc)
"#;
    let joined = join_paths(python_path);
    let out = Command::new(python)
        .args(["-c", PROBE, module])
        .env("PYTHONPATH", &joined)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            Failure::Failed(format!(
                "cannot run {} to check the module: {}",
                python.display(),
                plain(&e)
            ))
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut watch = Vec::new();
    for line in stdout.lines() {
        if let Some(msg) = line.strip_prefix("missing:") {
            return Err(Failure::Failed(format!(
                "cannot import '{module}' ({msg}) with python path '{joined}'; \
                 add its directory with --python-path or --working-directory"
            )));
        } else if let Some(msg) = line.strip_prefix("warning:") {
            eprintln!("{}: warning: {msg}", crate::PROG);
        } else if let Some(dir) = line.strip_prefix("watch:") {
            watch.push(PathBuf::from(dir));
        }
    }
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("no output");
        return Err(Failure::Failed(format!(
            "checking '{module}' with {} failed: {last}",
            python.display()
        )));
    }
    Ok(watch)
}

/// The module file to load: `--module-path`, else `libmod_wsgi_rs.so`
/// next to this executable (a cargo build), else the installed module.
pub fn module_file(explicit: Option<&str>) -> Result<PathBuf, Failure> {
    if let Some(p) = explicit {
        let p = absolute(Path::new(p));
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Failure::Failed(format!(
                "--module-path {} does not exist",
                p.display()
            )))
        };
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("libmod_wsgi_rs.so")));
    for candidate in beside.into_iter().chain([PathBuf::from(INSTALLED_MODULE)]) {
        if candidate.is_file() {
            return Ok(candidate.canonicalize().unwrap_or(candidate));
        }
    }
    Err(Failure::Failed(format!(
        "mod_wsgi_rs module not found next to this program or at {INSTALLED_MODULE}; \
         build it with `cargo build --release` or pass --module-path"
    )))
}

/// `path` made absolute against the current directory (without resolving
/// symbolic links, so the user's spelling survives in messages).
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

/// Joins directories with ':' the way `WSGIPythonPath` and `PYTHONPATH` want.
pub fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// An io::Error without the "(os error N)" suffix.
fn plain(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
