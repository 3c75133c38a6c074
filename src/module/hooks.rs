//! Hook registration and the hook entry points httpd calls. Each entry
//! runs inside the panic guard and hands over to the mode it serves.

use std::os::raw::{c_char, c_int};
use std::ptr;

use crate::apache::{self, log, server, Pool, Request};
use crate::ffi;
use crate::{daemon, embedded, interp};

const OK: c_int = ffi::OK as c_int;
const DECLINED: c_int = ffi::DECLINED as c_int;
const SERVER_ERROR: c_int = ffi::HTTP_INTERNAL_SERVER_ERROR as c_int;

/// A NULL-terminated list of module names for hook ordering.
#[repr(transparent)]
struct Names<const N: usize>([*const c_char; N]);
// SAFETY: the pointers are 'static string literals, only read.
unsafe impl<const N: usize> Sync for Names<N> {}

/// mod_alias runs first, so `Alias /static` wins over a script alias.
static TRANSLATE_AFTER: Names<2> = Names([c"mod_alias.c".as_ptr(), ptr::null()]);
/// Access scripts run after mod_ssl and before mod_authz_host.
static ACCESS_AFTER: Names<2> = Names([c"mod_ssl.c".as_ptr(), ptr::null()]);
static ACCESS_BEFORE: Names<2> = Names([c"mod_authz_host.c".as_ptr(), ptr::null()]);
static TRANSLATE_BEFORE: Names<3> = Names([
    c"mod_userdir.c".as_ptr(),
    c"mod_vhost_alias.c".as_ptr(),
    ptr::null(),
]);

pub unsafe extern "C" fn register(p: *mut ffi::apr_pool_t) {
    apache::guard("register_hooks", (), || {
        // SAFETY: httpd has assigned the module index before this call.
        log::set_module_index(unsafe { (*super::module_ptr()).module_index });
        apache::conf::set_module(super::module_ptr());
        let middle = ffi::APR_HOOK_MIDDLE as c_int;
        // SAFETY: hook registration during module load, with 'static
        // function pointers and ordering lists.
        unsafe {
            ffi::ap_hook_post_config(Some(post_config), ptr::null(), ptr::null(), middle);
            ffi::ap_hook_child_init(Some(child_init), ptr::null(), ptr::null(), middle);
            ffi::ap_hook_translate_name(
                Some(translate_name),
                TRANSLATE_AFTER.0.as_ptr(),
                TRANSLATE_BEFORE.0.as_ptr(),
                middle,
            );
            ffi::ap_hook_handler(Some(handler), ptr::null(), ptr::null(), middle);
            ffi::ap_hook_test_config(Some(test_config), ptr::null(), ptr::null(), middle);
            ffi::ap_hook_access_checker(
                Some(super::auth::access_checker),
                ACCESS_AFTER.0.as_ptr(),
                ACCESS_BEFORE.0.as_ptr(),
                middle,
            );
            super::auth::register(Pool::from_raw(p));
        }
    })
}

unsafe extern "C" fn post_config(
    pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
    s: *mut ffi::server_rec,
) -> c_int {
    apache::guard("post_config", OK, || {
        if server::is_preflight() {
            return OK;
        }
        let version = format!("mod_wsgi_rs/{}", env!("CARGO_PKG_VERSION"));
        // SAFETY: pconf is live; ap_add_version_component copies nothing,
        // so the string is allocated in pconf.
        unsafe {
            let pool = Pool::from_raw(pconf);
            ffi::ap_add_version_component(pconf, pool.strdup(version.as_bytes()));
            ffi::ap_add_version_component(pconf, pool.strdup(python_component().as_bytes()));
        }
        // SAFETY: post_config passes the live main server.
        let main = unsafe { server::Server::from_raw(s) };
        if let Err(e) = super::check::process_groups(main) {
            log::server(main, log::Level::Crit, &e);
            return SERVER_ERROR;
        }
        // SAFETY: pconf is the live configuration pool.
        if let Err(e) = daemon::start(unsafe { Pool::from_raw(pconf) }, main) {
            log::server(main, log::Level::Crit, &e);
            return SERVER_ERROR;
        }
        OK
    })
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
unsafe extern "C" fn test_config(pconf: *mut ffi::apr_pool_t, s: *mut ffi::server_rec) {
    apache::guard("test_config", (), || {
        // SAFETY: test_config passes the live main server.
        let main = unsafe { server::Server::from_raw(s) };
        // SAFETY: pconf is the live configuration pool.
        let pool = unsafe { Pool::from_raw(pconf) };
        let checked =
            super::check::process_groups(main).and_then(|()| daemon::check_socket_dir(pool, main));
        if let Err(e) = checked {
            log::server(main, log::Level::Crit, &e);
            // SAFETY: exiting the configuration test with a failure status,
            // as httpd itself does for a bad configuration.
            unsafe { libc::exit(1) };
        }
    })
}

unsafe extern "C" fn child_init(pchild: *mut ffi::apr_pool_t, s: *mut ffi::server_rec) {
    apache::guard("child_init", (), || {
        // SAFETY: child_init passes the live main server.
        let main = unsafe { server::Server::from_raw(s) };
        if daemon::proxy::daemon_only(main) || !embedded::start_python(main) {
            return;
        }
        // SAFETY: pchild lives until the child exits; its cleanups run on
        // the main thread after the MPM has joined its workers.
        unsafe { Pool::from_raw(pchild) }.on_cleanup(Box::new(interp::finalize));
    })
}

unsafe extern "C" fn translate_name(r: *mut ffi::request_rec) -> c_int {
    apache::guard("translate_name", DECLINED, || {
        // SAFETY: httpd passes a live request.
        embedded::translate(unsafe { Request::from_raw(r) })
    })
}

unsafe extern "C" fn handler(r: *mut ffi::request_rec) -> c_int {
    // SAFETY: httpd passes a live request.
    let req = unsafe { Request::from_raw(r) };
    apache::guard("handler", SERVER_ERROR, || {
        if let Err(status) = embedded::dispatch_request(req) {
            return status;
        }
        daemon::proxy::handle(req).unwrap_or_else(|| embedded::handle(req))
    })
}
