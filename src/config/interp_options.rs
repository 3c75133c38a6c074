//! Interpreter options (mod_wsgi 6's `WSGIPerInterpreterGIL`,
//! `WSGISwitchInterval`, `WSGIFreeThreading` and the
//! `<WSGIInterpreterOptions [process-group=…] [application-group=…]>`
//! section), and choosing the ones that apply to one interpreter.
//!
//! The server-level directives are the base. Of the sections whose
//! selectors all match the interpreter, the most specific (most
//! selectors) wins, the later one on a tie; what it sets replaces the
//! base, except `WSGIPythonPath`, which adds to the base path.

/// What a section (or the server level) sets; `None` leaves it to the
/// level below.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    pub per_interpreter_gil: Option<bool>,
    /// Seconds, for `sys.setswitchinterval`.
    pub switch_interval: Option<f64>,
    pub free_threading: Option<bool>,
    pub python_path: Vec<String>,
    pub restrict_stdin: Option<bool>,
    pub restrict_stdout: Option<bool>,
    pub restrict_signal: Option<bool>,
}

/// One `<WSGIInterpreterOptions>` section. A selector of `None` matches
/// every group; `Some("")` is `%{GLOBAL}` (embedded mode for
/// `process-group=`, the main interpreter for `application-group=`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Section {
    pub process_group: Option<String>,
    pub application_group: Option<String>,
    pub options: Options,
}

/// The base options and the sections, in configuration order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InterpreterOptions {
    pub base: Options,
    pub sections: Vec<Section>,
}

/// Normalises a group name as written in a directive: `%{GLOBAL}` is `""`.
pub fn group_name(text: &str) -> String {
    if text == "%{GLOBAL}" {
        String::new()
    } else {
        text.to_owned()
    }
}

impl Section {
    fn matches(&self, process_group: &str, application_group: &str) -> bool {
        self.process_group
            .as_deref()
            .is_none_or(|p| p == process_group)
            && self
                .application_group
                .as_deref()
                .is_none_or(|a| a == application_group)
    }

    fn score(&self) -> usize {
        usize::from(self.process_group.is_some()) + usize::from(self.application_group.is_some())
    }
}

impl InterpreterOptions {
    /// The section that applies to the interpreter of `application_group`
    /// in `process_group` (`""`: embedded mode), if any.
    pub fn section_for(&self, process_group: &str, application_group: &str) -> Option<&Section> {
        let mut best: Option<&Section> = None;
        for s in &self.sections {
            if s.matches(process_group, application_group)
                && best.is_none_or(|b| s.score() >= b.score())
            {
                best = Some(s);
            }
        }
        best
    }

    /// The options in force for that interpreter: the base, overridden by
    /// the winning section (whose path adds to the base path).
    pub fn resolve(&self, process_group: &str, application_group: &str) -> Options {
        let mut out = self.base.clone();
        let Some(s) = self.section_for(process_group, application_group) else {
            return out;
        };
        let o = &s.options;
        out.per_interpreter_gil = o.per_interpreter_gil.or(out.per_interpreter_gil);
        out.switch_interval = o.switch_interval.or(out.switch_interval);
        out.free_threading = o.free_threading.or(out.free_threading);
        out.restrict_stdin = o.restrict_stdin.or(out.restrict_stdin);
        out.restrict_stdout = o.restrict_stdout.or(out.restrict_stdout);
        out.restrict_signal = o.restrict_signal.or(out.restrict_signal);
        out.python_path.extend(o.python_path.iter().cloned());
        out
    }

    /// These options with a daemon group's `switch-interval=` (if set) as
    /// the base switch interval.
    pub fn with_switch_interval(&self, seconds: Option<f64>) -> InterpreterOptions {
        let mut out = self.clone();
        if seconds.is_some() {
            out.base.switch_interval = seconds;
        }
        out
    }

    /// True when any level turns on an option that needs CPython 3.12+
    /// (for the one notice on older Pythons). The switch interval works
    /// on every version.
    pub fn uses_new_features(&self) -> bool {
        let set =
            |o: &Options| o.per_interpreter_gil == Some(true) || o.free_threading == Some(true);
        set(&self.base) || self.sections.iter().any(|s| set(&s.options))
    }
}

/// Parses a `WSGISwitchInterval` value: seconds, a positive finite number.
pub fn parse_switch_interval(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!(
            "WSGISwitchInterval takes a positive number of seconds (e.g. 0.005), not '{text}'"
        )),
    }
}

/// Parses the arguments of `<WSGIInterpreterOptions …>` (the text before
/// the closing `>`): at most one `process-group=` and one
/// `application-group=`.
pub fn parse_section_args(args: &str) -> Result<Section, String> {
    let mut section = Section::default();
    for word in args.split_whitespace() {
        let (key, value) = word.split_once('=').ok_or_else(|| {
            format!("<WSGIInterpreterOptions> takes process-group=NAME and application-group=NAME, not '{word}'")
        })?;
        let value = value.trim_matches('"');
        let slot = match key {
            "process-group" => &mut section.process_group,
            "application-group" => &mut section.application_group,
            _ => {
                return Err(format!(
                    "<WSGIInterpreterOptions> has no option '{key}' (process-group= and application-group= only)"
                ))
            }
        };
        if slot.is_some() {
            return Err(format!("<WSGIInterpreterOptions> names {key}= twice"));
        }
        *slot = Some(group_name(value));
    }
    Ok(section)
}
