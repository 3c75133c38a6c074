//! Embedded mode: the application runs inside Apache's own child
//! processes. This layer maps URIs to scripts (translate_name), starts
//! Python in each child, and serves requests through the WSGI adapter.

mod auth;
mod backend;
mod dispatch;
mod handler;
mod script;
mod translate;

pub use auth::{check_access, check_groups, check_password, get_realm_hash};
pub use backend::EmbeddedBackend;
pub use handler::handle;
pub use translate::translate;

use crate::apache::server::{self, Server};
use crate::apache::{log, Level};
use crate::{interp, module, wsgi};

fn process_log(level: wsgi::LogLevel, msg: &str) {
    log::server(Server::none(), backend::level(level), msg);
}

/// Starts Python in this child (from `child_init`) unless embedded mode
/// is switched off. Returns true when Python is running.
pub fn start_python(s: Server) -> bool {
    let conf = module::server_config(s);
    if conf.python.restrict_embedded {
        return false;
    }
    let settings = interp::Settings {
        python_home: conf.python.home.clone(),
        python_path: conf.python.path.clone(),
        optimize: conf.python.optimize,
        dont_write_bytecode: conf.python.dont_write_bytecode,
        threads_per_process: server::mpm_threads_per_child(),
        maximum_processes: server::mpm_max_daemons(),
        apache_version: server::apache_version(),
    };
    wsgi::set_process_logger(process_log);
    match interp::initialize(&settings, wsgi::install_std_streams) {
        Ok(()) => true,
        Err(e) => {
            log::server(
                s,
                Level::Crit,
                &format!("[WSGI-RS-E106] Python could not be initialised in this child: {e}"),
            );
            interp::is_initialized()
        }
    }
}

/// Configuration checks that need the whole configuration (post_config):
/// a missing WSGI script is a warning, since it may appear later.
pub fn check_config(s: Server) {
    let mut next = Some(s);
    while let Some(server) = next {
        let conf = module::server_config(server);
        for alias in &conf.aliases {
            let static_target = !alias.target.contains('$');
            if static_target && !std::path::Path::new(&alias.target).exists() {
                log::server(server, Level::Warn, &format!(
                    "[WSGI-RS-W601] WSGI script target '{}' does not exist (yet); requests to it will get 404",
                    alias.target
                ));
            }
        }
        next = server.next();
    }
}
