//! The mode-neutral request step: what an Apache request is to a WSGI
//! application, decided once for both modes. From a `request_rec` it
//! finds the target (script or handler script, callable), makes
//! mod_wsgi's checks (ExecCGI, the file, path info), applies the chunked
//! body policy, and gathers the facts the environ needs (CGI variables,
//! application group, pass-authorization, ids). Embedded mode runs the
//! application on those facts in this process; daemon mode sends them to
//! a daemon process. Also here: the [`Backend`](crate::wsgi::Backend) over
//! a `request_rec` (embedded responses, and daemon responses relayed by
//! the child) and the request-note keys shared by translate_name, the
//! dispatch script, the handler and the proxy.

mod backend;
pub mod env;
mod facts;
pub mod metrics;
mod process;

pub use backend::{level, RequestBackend};
pub use facts::{is_wsgi_handler, note, pass_authorization, prepare, target, Facts, Target};
pub use process::{configure_shared_state, python_settings, shared_plan};

use std::ffi::CStr;

/// Request notes carrying the matched alias's (or the dispatch script's)
/// choices from translate_name to the handler, in both modes.
pub const NOTE_PROCESS_GROUP: &CStr = c"mod_wsgi.process_group";
pub const NOTE_APPLICATION_GROUP: &CStr = c"mod_wsgi.application_group";
pub const NOTE_CALLABLE_OBJECT: &CStr = c"mod_wsgi.callable_object";
pub const NOTE_PASS_AUTHORIZATION: &CStr = c"mod_wsgi.pass_authorization";
/// Set when a script alias forced the handler: such a request needs no
/// `Options ExecCGI` (as mod_alias's `ScriptAlias`).
pub const NOTE_FORCED: &CStr = c"alias-forced-type";
