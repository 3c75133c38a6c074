//! The script directives of the request phases: `WSGIAccessScript`,
//! `WSGIAuthUserScript`, `WSGIAuthGroupScript`, `WSGIDispatchScript`
//! and `WSGIHandlerScript`.

use super::words::{parse_on_off, split_option};

/// A Python script run by a request phase, and the application group
/// (interpreter) it runs in (`None`: the main interpreter).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScriptRef {
    pub path: String,
    pub application_group: Option<String>,
}

impl ScriptRef {
    /// Parses `path [application-group=NAME]`.
    pub fn parse(directive: &str, words: &[String]) -> Result<ScriptRef, String> {
        let Some((path, rest)) = words.split_first() else {
            return Err(format!("{directive} requires the path of a Python script"));
        };
        let mut script = ScriptRef {
            path: path.clone(),
            application_group: None,
        };
        for word in rest {
            match split_option(word) {
                Some(("application-group", v)) => script.application_group = Some(v.to_owned()),
                _ => {
                    return Err(format!(
                        "Invalid option to {directive}: '{word}'; the only option is application-group=NAME"
                    ))
                }
            }
        }
        Ok(script)
    }
}

/// `WSGIHandlerScript name path [options]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerScript {
    pub name: String,
    pub path: String,
    pub process_group: Option<String>,
    pub application_group: Option<String>,
    pub pass_authorization: Option<bool>,
}

impl HandlerScript {
    pub fn parse(words: &[String]) -> Result<HandlerScript, String> {
        let [name, path, rest @ ..] = words else {
            return Err("WSGIHandlerScript requires a handler name and a script path".into());
        };
        let mut h = HandlerScript {
            name: name.clone(),
            path: path.clone(),
            process_group: None,
            application_group: None,
            pass_authorization: None,
        };
        for word in rest {
            match split_option(word) {
                Some(("process-group", v)) => h.process_group = Some(v.to_owned()),
                Some(("application-group", v)) => h.application_group = Some(v.to_owned()),
                Some(("pass-authorization", v)) => {
                    h.pass_authorization = Some(parse_on_off("pass-authorization", v)?)
                }
                _ => {
                    return Err(format!(
                    "Invalid option to WSGIHandlerScript: '{word}'; options are process-group=, \
                         application-group= and pass-authorization="
                ))
                }
            }
        }
        Ok(h)
    }
}

/// Merges handler lists: entries of `add` replace same-named ones of `base`.
pub fn merge_handlers(base: &[HandlerScript], add: &[HandlerScript]) -> Vec<HandlerScript> {
    let mut out: Vec<HandlerScript> = base
        .iter()
        .filter(|b| !add.iter().any(|a| a.name == b.name))
        .cloned()
        .collect();
    out.extend(add.iter().cloned());
    out
}
