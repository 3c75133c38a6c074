//! Per-directory configuration (server, vhost, `<Directory>`,
//! `<Location>`, `.htaccess`): every field is unset until a directive sets
//! it, and a merge takes the more specific value.

use super::proxy::{ProxyHeader, TrustedNet};
use super::scripts::{merge_handlers, HandlerScript, ScriptRef};

/// `WSGIMapHEADToGET`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadMode {
    On,
    Off,
    Auto,
}

impl HeadMode {
    pub fn parse(value: &str) -> Result<HeadMode, String> {
        match value.to_ascii_lowercase().as_str() {
            "on" => Ok(HeadMode::On),
            "off" => Ok(HeadMode::Off),
            "auto" => Ok(HeadMode::Auto),
            _ => Err(format!(
                "WSGIMapHEADToGET must be one of: Off | On | Auto (got '{value}')"
            )),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct DirConfig {
    /// `WSGIProcessGroup`: the daemon group (or `%{GLOBAL}`: embedded).
    pub process_group: Option<String>,
    /// `WSGIApplicationGroup`: the interpreter, before expansion.
    pub application_group: Option<String>,
    /// `WSGICallableObject` (default `application`).
    pub callable_object: Option<String>,
    /// `WSGIPassAuthorization`: `HTTP_AUTHORIZATION` reaches the app.
    pub pass_authorization: Option<bool>,
    /// `WSGIChunkedRequest`: chunked bodies are accepted (else 411).
    pub chunked_request: Option<bool>,
    /// `WSGIMapHEADToGET`: HEAD shown to the app as GET.
    pub map_head_to_get: Option<HeadMode>,
    /// `WSGIEnableSendfile`: file_wrapper files go out with sendfile.
    pub enable_sendfile: Option<bool>,
    /// `WSGIScriptReloading` (default On).
    pub script_reloading: Option<bool>,
    /// `WSGITrustedProxyHeaders`: forwarding headers applied to the
    /// environ when the peer is trusted.
    pub trusted_proxy_headers: Option<Vec<ProxyHeader>>,
    /// `WSGITrustedProxies`: the peers trusted for them (`None`: any).
    pub trusted_proxies: Option<Vec<TrustedNet>>,
    /// `WSGIAccessScript`.
    pub access_script: Option<ScriptRef>,
    /// `WSGIAuthUserScript`.
    pub auth_user_script: Option<ScriptRef>,
    /// `WSGIAuthGroupScript`.
    pub auth_group_script: Option<ScriptRef>,
    /// `WSGIGroupAuthoritative`: accepted, no effect with 2.4 authz.
    pub group_authoritative: Option<bool>,
    /// `WSGIDispatchScript`.
    pub dispatch_script: Option<ScriptRef>,
    /// `WSGIPassApacheRequest`: `apache.request_rec` in the environ.
    pub pass_apache_request: Option<bool>,
    /// `WSGIHandlerScript`s by handler name (a later one replaces an
    /// earlier one of the same name).
    pub handler_scripts: Vec<HandlerScript>,
    /// `WSGIErrorOverride`: daemon error responses give way to Apache's
    /// `ErrorDocument`.
    pub error_override: Option<bool>,
    /// `WSGIRestrictProcess`: the process groups allowed here (`""` is
    /// embedded mode).
    pub restrict_process: Option<Vec<String>>,
}

fn pick<T: Clone>(add: &Option<T>, base: &Option<T>) -> Option<T> {
    add.clone().or_else(|| base.clone())
}

impl DirConfig {
    /// The configuration in force where `add` (more specific) overrides
    /// `base`. Neither input is modified.
    pub fn merge(base: &DirConfig, add: &DirConfig) -> DirConfig {
        DirConfig {
            process_group: pick(&add.process_group, &base.process_group),
            application_group: pick(&add.application_group, &base.application_group),
            callable_object: pick(&add.callable_object, &base.callable_object),
            pass_authorization: pick(&add.pass_authorization, &base.pass_authorization),
            chunked_request: pick(&add.chunked_request, &base.chunked_request),
            map_head_to_get: pick(&add.map_head_to_get, &base.map_head_to_get),
            enable_sendfile: pick(&add.enable_sendfile, &base.enable_sendfile),
            script_reloading: pick(&add.script_reloading, &base.script_reloading),
            trusted_proxy_headers: pick(&add.trusted_proxy_headers, &base.trusted_proxy_headers),
            trusted_proxies: pick(&add.trusted_proxies, &base.trusted_proxies),
            access_script: pick(&add.access_script, &base.access_script),
            auth_user_script: pick(&add.auth_user_script, &base.auth_user_script),
            auth_group_script: pick(&add.auth_group_script, &base.auth_group_script),
            group_authoritative: pick(&add.group_authoritative, &base.group_authoritative),
            dispatch_script: pick(&add.dispatch_script, &base.dispatch_script),
            pass_apache_request: pick(&add.pass_apache_request, &base.pass_apache_request),
            handler_scripts: merge_handlers(&base.handler_scripts, &add.handler_scripts),
            restrict_process: pick(&add.restrict_process, &base.restrict_process),
            error_override: pick(&add.error_override, &base.error_override),
        }
    }

    pub fn callable(&self) -> &str {
        self.callable_object.as_deref().unwrap_or("application")
    }
    pub fn head_mode(&self) -> HeadMode {
        self.map_head_to_get.unwrap_or(HeadMode::Auto)
    }
    /// `Err` with mod_wsgi's message when `WSGIRestrictProcess` does not
    /// allow process group `group` (`""`: embedded mode).
    pub fn check_process_allowed(&self, group: &str) -> Result<(), String> {
        match &self.restrict_process {
            Some(allowed) if !allowed.iter().any(|g| g == group) => Err(format!(
                "Daemon process called '{}' cannot be accessed by this WSGI application as not a member of \
                 allowed groups (WSGIRestrictProcess {})",
                if group.is_empty() { "%{GLOBAL}" } else { group },
                allowed.iter().map(|g| if g.is_empty() { "%{GLOBAL}" } else { g }).collect::<Vec<_>>().join(" ")
            )),
            _ => Ok(()),
        }
    }

    /// True when this section runs Python in Apache's children whatever
    /// the process group: access, auth, group, dispatch or handler scripts.
    pub fn runs_scripts(&self) -> bool {
        self.access_script.is_some()
            || self.auth_user_script.is_some()
            || self.auth_group_script.is_some()
            || self.dispatch_script.is_some()
            || !self.handler_scripts.is_empty()
    }

    pub fn reloading(&self) -> bool {
        self.script_reloading.unwrap_or(true)
    }
}
