//! The WSGI adapter (PEP 3333), shared by every mode that runs Python.
//! It talks to the server only through [`Backend`], so it has no
//! `unsafe` and knows nothing of request_rec. Its Python-visible objects
//! are classes of the per-interpreter bootstrap over native functions
//! taking handles, so they work the same in every interpreter.

#![forbid(unsafe_code)]

mod backend;
mod cgi;
mod environ;
mod errors;
mod file_wrapper;
mod input;
mod interval;
mod keys;
mod metrics;
mod natives;
mod preload;
mod response;
mod serve;
mod shared;
mod start_response;
mod stats;

pub use backend::{Backend, LogLevel, Push, RequestCtx, WriteError, SMALL_RESPONSE};
pub use cgi::CgiVars;
pub use environ::{build_environ, Extras};
pub use errors::{log_process, set_process_logger, CurrentRequest};
pub use interval::{bucket as histogram_bucket, BUCKETS as HISTOGRAM_BUCKETS};
pub use natives::prepare_interpreter;
pub use preload::{mtime_us, preload, run_service};
pub use response::{run, traceback_lines, Outcome, RequestObjects, RunInfo};
pub use serve::{serve, App, Served};
pub use stats::{enable_timing, RequestStats};
