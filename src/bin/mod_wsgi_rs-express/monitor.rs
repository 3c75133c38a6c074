//! The reload watcher behind `start-server --reload-on-changes`.
//!
//! `start-server` replaces itself with Apache (exec), so the watcher runs as
//! a separate process: a hidden subcommand of this binary, spawned just
//! before the exec. It becomes a child of Apache's parent process (same
//! pid), polls the modification times of the application's `.py`/`.wsgi`
//! files once a second, and on a change runs `apache2 -f CONF -k graceful`
//! so that every child restarts with fresh code. It exits as soon as its
//! parent is gone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use crate::Failure;

/// The hidden subcommand name.
pub const SUBCOMMAND: &str = "_reload-monitor";

/// Upper bound on files watched, so a huge tree cannot stall the poll.
const MAX_FILES: usize = 20_000;

/// Arguments of the hidden subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorArgs {
    pub httpd: String,
    pub conf: PathBuf,
    /// The pid that becomes Apache's parent process; the watcher exits
    /// when its parent is no longer this pid.
    pub parent: u32,
    pub dirs: Vec<PathBuf>,
}

impl MonitorArgs {
    /// The argument list that [`parse`] reads back.
    pub fn to_args(&self) -> Vec<String> {
        let mut v = vec![
            SUBCOMMAND.to_string(),
            self.httpd.clone(),
            self.conf.display().to_string(),
            self.parent.to_string(),
        ];
        v.extend(self.dirs.iter().map(|d| d.display().to_string()));
        v
    }
}

/// Parses `HTTPD CONF PARENT DIR...` (after the subcommand name).
pub fn parse(argv: &[String]) -> Result<MonitorArgs, Failure> {
    let bad = || {
        Failure::Usage(
            format!("{SUBCOMMAND} is internal: HTTPD CONF PARENT-PID DIR..."),
            "",
        )
    };
    let [httpd, conf, parent, dirs @ ..] = argv else {
        return Err(bad());
    };
    Ok(MonitorArgs {
        httpd: httpd.clone(),
        conf: PathBuf::from(conf),
        parent: parent.parse().map_err(|_| bad())?,
        dirs: dirs.iter().map(PathBuf::from).collect(),
    })
}

/// Starts the watcher as a child of this process (soon Apache).
pub fn spawn(args: &MonitorArgs) -> Result<(), Failure> {
    let exe = std::env::current_exe().map_err(|e| {
        Failure::Failed(format!(
            "cannot find this program to start the reload monitor: {e}"
        ))
    })?;
    Command::new(exe)
        .args(args.to_args())
        .stdin(Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|e| Failure::Failed(format!("cannot start the reload monitor: {e}")))
}

/// The watcher's main loop; returns when the parent process is gone.
pub fn run(args: &MonitorArgs) -> Result<(), Failure> {
    let mut last = snapshot(&args.dirs);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        if std::os::unix::process::parent_id() != args.parent {
            return Ok(());
        }
        let now = snapshot(&args.dirs);
        if let Some(changed) = first_difference(&last, &now) {
            eprintln!(
                "{}: {} changed; restarting Apache gracefully",
                crate::PROG,
                changed.display()
            );
            let status = Command::new(&args.httpd)
                .arg("-f")
                .arg(&args.conf)
                .args(["-k", "graceful"])
                .stdin(Stdio::null())
                .status();
            if let Err(e) = status {
                eprintln!(
                    "{}: cannot run {} -k graceful: {e}",
                    crate::PROG,
                    args.httpd
                );
            }
            last = now;
        }
    }
}

/// Modification times of the watched source files.
pub fn snapshot(dirs: &[PathBuf]) -> BTreeMap<PathBuf, SystemTime> {
    let mut files = BTreeMap::new();
    for dir in dirs {
        walk(dir, &mut files);
    }
    files
}

fn walk(path: &Path, files: &mut BTreeMap<PathBuf, SystemTime>) {
    if files.len() >= MAX_FILES {
        return;
    }
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.is_file() {
        if is_source(path) {
            files.insert(
                path.to_path_buf(),
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            );
        }
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "__pycache__" || name == "node_modules" {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() || (kind.is_file() && is_source(&entry.path())) {
            walk(&entry.path(), files);
        }
    }
}

fn is_source(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("py" | "wsgi")
    )
}

/// The first file added, removed or modified between two snapshots.
pub fn first_difference(
    old: &BTreeMap<PathBuf, SystemTime>,
    new: &BTreeMap<PathBuf, SystemTime>,
) -> Option<PathBuf> {
    new.iter()
        .find(|(p, t)| old.get(*p) != Some(t))
        .map(|(p, _)| p.clone())
        .or_else(|| old.keys().find(|p| !new.contains_key(*p)).cloned())
}
