//! Checking `WSGIPythonHome` (and `python-home=`) against the Python the
//! module was built for: a virtualenv or prefix of another Python
//! version would make every child fail to start, so it is refused while
//! the configuration is read, naming both versions.

use std::fs;
use std::path::Path;

/// `(major, minor)` from a version string such as `3.11.2 (main, …)`.
pub fn parse_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The Python version a virtualenv was made with, from its `pyvenv.cfg`.
fn venv_version(cfg: &str) -> Option<(u32, u32)> {
    cfg.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        matches!(key.trim(), "version" | "version_info")
            .then(|| parse_version(value))
            .flatten()
    })
}

/// `Ok(None)` when `home` fits Python `built`; `Ok(Some(note))` for a
/// warning (e.g. it does not exist yet); `Err` naming both versions when
/// it belongs to another Python.
pub fn check_python_home(home: &Path, built: (u32, u32)) -> Result<Option<String>, String> {
    let shown = home.display();
    if !home.is_dir() {
        return Ok(Some(format!(
            "WSGIPythonHome '{shown}' is not an accessible directory"
        )));
    }
    let built_s = format!("{}.{}", built.0, built.1);
    if let Ok(cfg) = fs::read_to_string(home.join("pyvenv.cfg")) {
        return match venv_version(&cfg) {
            Some(v) if v != built => Err(format!(
                "WSGIPythonHome '{shown}' is a virtualenv for Python {}.{}, but mod_wsgi_rs was built for \
                 Python {built_s}; recreate it with python{built_s} -m venv, or build mod_wsgi_rs against \
                 Python {}.{}",
                v.0, v.1, v.0, v.1
            )),
            _ => Ok(None),
        };
    }
    let lib = home.join("lib");
    if lib.join(format!("python{built_s}")).is_dir() {
        return Ok(None);
    }
    let other = fs::read_dir(&lib).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_prefix("python").and_then(parse_version))
            })
            .next()
    });
    match other {
        Some(v) => Err(format!(
            "WSGIPythonHome '{shown}' holds Python {}.{}, but mod_wsgi_rs was built for Python {built_s}; \
             point it at a Python {built_s} prefix or virtualenv",
            v.0, v.1
        )),
        None => Ok(Some(format!("WSGIPythonHome '{shown}' has no lib/python{built_s}; Python may fail to start"))),
    }
}
