//! The Python interpreter inside an Apache child process. Every raw
//! CPython C-API call of the module lives in this layer: start-up in
//! `child_init` (never in the parent), the per-thread thread-state pin,
//! latin-1 strings, and loading WSGI scripts as modules.

mod bootstrap;
mod init;
mod strings;
mod thread;

pub use bootstrap::{load_app, LoadError};
pub use init::{finalize, initialize, is_initialized, Settings};
pub use strings::{latin1, request_capsule};
pub use thread::with_python;
