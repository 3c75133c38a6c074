//! Hook registration and the hook bodies httpd calls (through the
//! trampolines and panic guard of `apache::hooks`); each hands over to
//! the mode it serves.

use std::os::raw::c_int;
use std::ptr;

use crate::apache::hooks::{self, Order, PostConfig, Register, RequestHook};
use crate::apache::hooks::{RequestPhase, ServerHook, ServerPhase};
use crate::apache::{log, server, Pool, Request, ServerConf};
use crate::config::daemon::DaemonGroup;
use crate::config::ServerConfig;
use crate::ffi;
use crate::{daemon, embedded, interp};
use std::sync::Arc;

const OK: c_int = ffi::OK as c_int;
const DECLINED: c_int = ffi::DECLINED as c_int;
const SERVER_ERROR: c_int = ffi::HTTP_INTERNAL_SERVER_ERROR as c_int;

/// mod_alias runs first, so `Alias /static` wins over a script alias.
static TRANSLATE_AFTER: Order = Order::new(&[c"mod_alias.c".as_ptr(), ptr::null()]);
static TRANSLATE_BEFORE: Order = Order::new(&[
    c"mod_userdir.c".as_ptr(),
    c"mod_vhost_alias.c".as_ptr(),
    ptr::null(),
]);
/// Access scripts run after mod_ssl and before mod_authz_host.
static ACCESS_AFTER: Order = Order::new(&[c"mod_ssl.c".as_ptr(), ptr::null()]);
static ACCESS_BEFORE: Order = Order::new(&[c"mod_authz_host.c".as_ptr(), ptr::null()]);

/// What this module registers.
pub struct Hooks;

impl Register for Hooks {
    fn record() -> *const ffi::module {
        &raw const super::wsgi_module
    }

    fn register(pool: Pool) {
        hooks::hook_post_config::<Hooks>();
        hooks::hook_server::<ChildInit>(ServerPhase::ChildInit);
        hooks::hook_server::<TestConfig>(ServerPhase::TestConfig);
        let (after, before) = (Some(&TRANSLATE_AFTER), Some(&TRANSLATE_BEFORE));
        hooks::hook_request::<Translate>(RequestPhase::TranslateName, after, before);
        hooks::hook_request::<Handler>(RequestPhase::Handler, None, None);
        let (after, before) = (Some(&ACCESS_AFTER), Some(&ACCESS_BEFORE));
        hooks::hook_request::<super::auth::Access>(RequestPhase::AccessChecker, after, before);
        super::auth::register(pool);
    }
}

impl PostConfig for Hooks {
    fn run(pconf: Pool, main: server::Server) -> c_int {
        if server::is_preflight() {
            return OK;
        }
        let version = format!("mod_wsgi_rs/{}", env!("CARGO_PKG_VERSION"));
        server::add_version_component(pconf, &version);
        server::add_version_component(pconf, &python_component());
        if let Err(e) = super::check::process_groups(main) {
            log::server(main, log::Level::Crit, &e);
            return SERVER_ERROR;
        }
        if let Err(e) = super::shared_directives::post_config(pconf, main) {
            log::server(main, log::Level::Crit, &e);
            return SERVER_ERROR;
        }
        if let Err(e) = crate::metrics::prepare(main, &daemon_groups(main)) {
            log::server(main, log::Level::Crit, &e);
            return SERVER_ERROR;
        }
        if let Err(e) = daemon::start(pconf, main) {
            log::server(main, log::Level::Crit, &e);
            return SERVER_ERROR;
        }
        OK
    }
}

/// Every daemon group of the configuration, once.
fn daemon_groups(main: server::Server) -> Vec<Arc<DaemonGroup>> {
    let mut out: Vec<Arc<DaemonGroup>> = Vec::new();
    let mut next = Some(main);
    while let Some(s) = next {
        for g in &ServerConfig::of(&s).daemons {
            if !out.iter().any(|o| o.name == g.name) {
                out.push(g.clone());
            }
        }
        next = s.next();
    }
    out
}

fn python_component() -> String {
    let full = interp::python_version();
    let short: String = full
        .split_whitespace()
        .next()
        .unwrap_or("")
        .split('.')
        .take(2)
        .collect::<Vec<_>>()
        .join(".");
    format!("Python/{short}")
}

/// `apache2 -t`: whole-configuration checks. A failure makes httpd
/// report the configuration as broken (exit status 1).
struct TestConfig;

impl ServerHook for TestConfig {
    const NAME: &'static str = "test_config";
    fn run(pconf: Pool, main: server::Server) {
        let checked =
            super::check::process_groups(main).and_then(|()| daemon::check_socket_dir(pconf, main));
        if let Err(e) = checked {
            log::server(main, log::Level::Crit, &e);
            hooks::fail_configuration();
        }
    }
}

/// Starts Python in an Apache child, unless nothing runs embedded.
struct ChildInit;

impl ServerHook for ChildInit {
    const NAME: &'static str = "child_init";
    fn run(pchild: Pool, main: server::Server) {
        crate::request::configure_shared_state(main);
        crate::metrics::attach_child(main);
        pchild.on_cleanup(Box::new(crate::metrics::detach));
        if daemon::proxy::daemon_only(main) || !embedded::start_python(main) {
            return;
        }
        crate::metrics::set_interpreters(1);
        // pchild lives until the child exits; its cleanups run on the
        // main thread after the MPM has joined its workers (prefork: see
        // embedded::stop_python).
        pchild.on_cleanup(Box::new(embedded::stop_python));
    }
}

/// `translate_name`: script aliases (embedded mode maps them for both modes).
struct Translate;

impl RequestHook for Translate {
    const NAME: &'static str = "translate_name";
    const FALLBACK: c_int = DECLINED;
    fn run(r: Request) -> c_int {
        embedded::translate(r)
    }
}

/// The handler: the dispatch script, then a daemon group or embedded mode.
struct Handler;

impl RequestHook for Handler {
    const NAME: &'static str = "handler";
    const FALLBACK: c_int = SERVER_ERROR;
    fn run(r: Request) -> c_int {
        if let Some(status) = embedded::monitor::handle(r) {
            return status;
        }
        if let Err(status) = embedded::dispatch_request(r) {
            return status;
        }
        daemon::proxy::handle(r).unwrap_or_else(|| embedded::handle(r))
    }
}
