//! Expanding application-group names (`WSGIApplicationGroup`,
//! `application-group=`): `%{GLOBAL}`, `%{SERVER}`, `%{RESOURCE}`,
//! `%{HOST}`, `%{ENV:var}` or a literal name, as mod_wsgi does. The
//! result `""` is the main interpreter.

/// The request facts an expansion may use.
pub struct GroupFacts<'a> {
    /// `ServerName` of the virtual host.
    pub server_name: &'a str,
    /// The port the request arrived on.
    pub port: u16,
    /// The host the client asked for (Host header, without port).
    pub host: Option<&'a str>,
    /// SCRIPT_NAME, slash runs collapsed.
    pub script_name: &'a str,
    /// Looks a variable up (request notes, then environment).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

fn with_port(name: &str, port: u16) -> String {
    if port == 80 || port == 443 || port == 0 {
        name.to_owned()
    } else {
        format!("{name}:{port}")
    }
}

/// The interpreter name for `spec`; `None` (unset) is `%{GLOBAL}`, this
/// module's default.
pub fn expand_application_group(spec: Option<&str>, facts: &GroupFacts<'_>) -> String {
    let Some(spec) = spec else {
        return String::new();
    };
    match expand_once(spec, facts) {
        Expanded::Env(value) if value.starts_with('%') && !value.starts_with("%{ENV:") => {
            match expand_once(&value, facts) {
                Expanded::Env(v) | Expanded::Done(v) => v,
            }
        }
        Expanded::Env(v) | Expanded::Done(v) => v,
    }
}

enum Expanded {
    /// Came from `%{ENV:…}`: may be expanded once more.
    Env(String),
    Done(String),
}

fn expand_once(spec: &str, facts: &GroupFacts<'_>) -> Expanded {
    match spec {
        "%{GLOBAL}" => Expanded::Done(String::new()),
        "%{SERVER}" => Expanded::Done(with_port(facts.server_name, facts.port)),
        "%{HOST}" => Expanded::Done(with_port(
            facts.host.unwrap_or(facts.server_name),
            facts.port,
        )),
        "%{RESOURCE}" => Expanded::Done(format!(
            "{}|{}",
            with_port(facts.server_name, facts.port),
            facts.script_name
        )),
        _ => match spec
            .strip_prefix("%{ENV:")
            .and_then(|r| r.strip_suffix('}'))
        {
            Some(var) => Expanded::Env((facts.env)(var).unwrap_or_default()),
            None => Expanded::Done(spec.to_owned()),
        },
    }
}

/// True when `spec` names one interpreter whatever the request (so a
/// script can be preloaded into it at start-up).
pub fn is_static(spec: &str) -> bool {
    spec == "%{GLOBAL}" || !spec.contains("%{")
}
