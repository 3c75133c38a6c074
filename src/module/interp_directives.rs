//! Handlers of mod_wsgi 6's interpreter directives: `WSGIPerInterpreterGIL`,
//! `WSGISwitchInterval`, `WSGIFreeThreading` and the
//! `<WSGIInterpreterOptions [process-group=…] [application-group=…]>`
//! section. Parsing and choosing are in `config::interp_options`; the
//! interpreters apply them (`interp`). On a Python without per-interpreter
//! GIL (3.11) each child logs one notice (N307) and nothing changes.

use std::ffi::c_void;
use std::os::raw::{c_char, c_int};

use super::directives::{arg, run, server_conf};
use crate::apache::{log, server::Server, Level};
use crate::config::interp_options::{parse_section_args, parse_switch_interval, Options, Section};
use crate::ffi;

/// `WSGIPerInterpreterGIL On|Off` at server level.
pub unsafe extern "C" fn per_interpreter_gil(
    cmd: *mut ffi::cmd_parms,
    _m: *mut c_void,
    on: c_int,
) -> *const c_char {
    set_base(cmd, |o| {
        o.per_interpreter_gil = Some(on != 0);
        Ok(())
    })
}

/// `WSGISwitchInterval SECONDS` at server level.
pub unsafe extern "C" fn switch_interval(
    cmd: *mut ffi::cmd_parms,
    _m: *mut c_void,
    value: *const c_char,
) -> *const c_char {
    set_base(cmd, |o| {
        o.switch_interval = Some(parse_switch_interval(&arg(value))?);
        Ok(())
    })
}

/// `WSGIFreeThreading On|Off` at server level.
pub unsafe extern "C" fn free_threading(
    cmd: *mut ffi::cmd_parms,
    _m: *mut c_void,
    on: c_int,
) -> *const c_char {
    set_base(cmd, |o| {
        o.free_threading = Some(on != 0);
        Ok(())
    })
}

/// Sets a server-level (base) interpreter option.
fn set_base(
    cmd: *mut ffi::cmd_parms,
    set: impl FnOnce(&mut Options) -> Result<(), String>,
) -> *const c_char {
    run(cmd, |cmd| {
        cmd.check_global_only()?;
        set(&mut server_conf(cmd).python.interpreter.base)
    })
}

/// `<WSGIInterpreterOptions …>`: the section's selectors, then each
/// directive inside it.
pub unsafe extern "C" fn interpreter_options(
    cmd: *mut ffi::cmd_parms,
    _m: *mut c_void,
    args: *const c_char,
) -> *const c_char {
    run(cmd, |cmd| {
        cmd.check_global_only()?;
        let text = arg(args);
        let selectors = text.trim_end().strip_suffix('>').ok_or_else(|| {
            "<WSGIInterpreterOptions …> needs its closing '>' on the same line".to_owned()
        })?;
        let mut section = parse_section_args(selectors)?;
        for (name, value, at) in cmd.section_children() {
            apply(&mut section, &name, &value).map_err(|e| format!("{e} ({at})"))?;
        }
        server_conf(cmd).python.interpreter.sections.push(section);
        Ok(())
    })
}

/// Applies one directive written inside a section.
fn apply(section: &mut Section, name: &str, value: &str) -> Result<(), String> {
    let value = value.trim().trim_matches('"');
    let o: &mut Options = &mut section.options;
    match name.to_ascii_lowercase().as_str() {
        "wsgiperinterpretergil" => o.per_interpreter_gil = Some(on_off(name, value)?),
        "wsgiswitchinterval" => o.switch_interval = Some(parse_switch_interval(value)?),
        "wsgifreethreading" if section.application_group.is_some() => log::server(
            Server::none(),
            Level::Warn,
            "[WSGI-RS-W308] WSGIFreeThreading applies to a whole process: ignored in a \
             <WSGIInterpreterOptions> section with application-group= (use process-group= \
             only, or the server level)",
        ),
        "wsgifreethreading" => o.free_threading = Some(on_off(name, value)?),
        "wsgipythonpath" => o.python_path.extend(
            value
                .split(':')
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
        ),
        "wsgirestrictstdin" => o.restrict_stdin = Some(on_off(name, value)?),
        "wsgirestrictstdout" => o.restrict_stdout = Some(on_off(name, value)?),
        "wsgirestrictsignal" => o.restrict_signal = Some(on_off(name, value)?),
        _ => {
            return Err(format!(
                "<WSGIInterpreterOptions> may hold WSGIPerInterpreterGIL, WSGISwitchInterval, \
                 WSGIFreeThreading, WSGIPythonPath, WSGIRestrictStdin, WSGIRestrictStdout and \
                 WSGIRestrictSignal, not {name}"
            ))
        }
    }
    Ok(())
}

fn on_off(name: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{name} takes On or Off, not '{value}'")),
    }
}
