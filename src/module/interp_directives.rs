//! Handlers of mod_wsgi 6's interpreter directives: `WSGIPerInterpreterGIL`,
//! `WSGISwitchInterval`, `WSGIFreeThreading` and the
//! `<WSGIInterpreterOptions [process-group=…] [application-group=…]>`
//! section. Parsing and choosing are in `config::interp_options`; the
//! interpreters apply them (`interp`). On a Python without per-interpreter
//! GIL (3.11) each child logs one notice (N307) and nothing changes.

use crate::apache::cmd::{Cmd, Outcome};
use crate::apache::{log, server::Server, Level};
use crate::config::interp_options::{parse_section_args, parse_switch_interval, Options, Section};
use crate::config::server::ServerConfig;

/// `WSGIPerInterpreterGIL On|Off` at server level.
pub fn per_interpreter_gil(cmd: &mut Cmd, on: bool) -> Outcome {
    set_base(cmd, |o| {
        o.per_interpreter_gil = Some(on);
        Ok(())
    })
}

/// `WSGISwitchInterval SECONDS` at server level.
pub fn switch_interval(cmd: &mut Cmd, value: &str) -> Outcome {
    set_base(cmd, |o| {
        o.switch_interval = Some(parse_switch_interval(value)?);
        Ok(())
    })
}

/// `WSGIFreeThreading On|Off` at server level.
pub fn free_threading(cmd: &mut Cmd, on: bool) -> Outcome {
    set_base(cmd, |o| {
        o.free_threading = Some(on);
        Ok(())
    })
}

/// Sets a server-level (base) interpreter option.
fn set_base(cmd: &mut Cmd, set: impl FnOnce(&mut Options) -> Outcome) -> Outcome {
    cmd.check_global_only()?;
    set(&mut cmd.server_conf::<ServerConfig>().python.interpreter.base)
}

/// `<WSGIInterpreterOptions …>`: the section's selectors, then each
/// directive inside it.
pub fn interpreter_options(cmd: &mut Cmd, text: &str) -> Outcome {
    cmd.check_global_only()?;
    let selectors = text.trim_end().strip_suffix('>').ok_or_else(|| {
        "<WSGIInterpreterOptions …> needs its closing '>' on the same line".to_owned()
    })?;
    let mut section = parse_section_args(selectors)?;
    for (name, value, at) in cmd.section_children() {
        apply(&mut section, &name, &value).map_err(|e| format!("{e} ({at})"))?;
    }
    cmd.server_conf::<ServerConfig>()
        .python
        .interpreter
        .sections
        .push(section);
    Ok(())
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
