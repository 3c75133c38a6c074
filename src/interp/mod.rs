//! The Python interpreters inside a process. Every raw CPython C-API
//! call of the module lives in this layer: start-up in `child_init`
//! (never in the parent), the per-thread thread-state pin, named
//! sub-interpreters, handles (capsules), latin-1 strings, and loading
//! WSGI scripts as modules.

mod bootstrap;
mod build_info;
pub mod compat;
mod extensions;
pub mod handle;
mod init;
mod interpreters;
mod interrupt;
pub mod strings;
mod thread;

pub use bootstrap::{import_script, load_app, LoadError, Prepare};
pub use build_info::python_version;
pub use init::{finalize, initialize, is_initialized, stop_callbacks, Settings};
pub use interpreters::{group_names, with_group};
pub use interrupt::raise_request_timeout;
pub use strings::{bytes_filled, latin1, module, request_capsule};
pub use thread::{add_gil_wait, enable_stats_timing, stats_timing, take_gil_wait, with_python};
