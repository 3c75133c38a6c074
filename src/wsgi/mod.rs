//! The WSGI adapter (PEP 3333), shared by every mode that runs Python.
//! It talks to the server only through [`Backend`], so it has no
//! `unsafe` and knows nothing of request_rec.

mod backend;
mod cgi;
mod environ;
mod errors;
mod file_wrapper;
mod input;
mod response;
mod start_response;

pub use backend::{Backend, LogLevel, Push, RequestCtx, WriteError};
pub use cgi::CgiVars;
pub use environ::{build_environ, Extras};
pub use errors::{install_std_streams, set_process_logger, CurrentRequest};
pub use response::{run, traceback_lines, Outcome, RequestObjects, RunInfo};
