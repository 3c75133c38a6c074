//! The module httpd loads: the exported `wsgi_module` record, the
//! configuration constructors and merges, and hook registration.

mod auth;
mod check;
mod directives;
mod hooks;
mod interp_directives;
pub mod store;

use std::ffi::c_void;
use std::os::raw::c_int;
use std::ptr;

use crate::apache::{self, server::Server, Pool};
use crate::config::DirConfig;
use crate::ffi;
use store::ServerConfig;

/// The module record. Its name is `mod_wsgi.c`, so existing
/// `<IfModule mod_wsgi.c>` blocks match; `LoadModule wsgi_module …`
/// finds it by this symbol. httpd writes into it (index, next), hence
/// `static mut`; nothing in Rust reads it except through raw pointers.
#[unsafe(no_mangle)]
#[used]
pub static mut wsgi_module: ffi::module = ffi::module {
    version: ffi::MODULE_MAGIC_NUMBER_MAJOR as c_int,
    minor_version: ffi::MODULE_MAGIC_NUMBER_MINOR as c_int,
    module_index: -1,
    name: c"mod_wsgi.c".as_ptr(),
    dynamic_load_handle: ptr::null_mut(),
    next: ptr::null_mut(),
    magic: ffi::MODULE_MAGIC_COOKIE as std::os::raw::c_ulong,
    rewrite_args: None,
    create_dir_config: Some(create_dir_config),
    merge_dir_config: Some(merge_dir_config),
    create_server_config: Some(create_server_config),
    merge_server_config: Some(merge_server_config),
    cmds: directives::TABLE.as_ptr(),
    register_hooks: Some(hooks::register),
    flags: 0,
};

/// A pointer to the module record, for config lookups.
pub fn module_ptr() -> *const ffi::module {
    &raw const wsgi_module
}

/// The module record, read-only (httpd writes it only while loading).
pub fn module_ref() -> &'static ffi::module {
    // SAFETY: after loading, httpd does not write the record while
    // requests or configuration parsing run; we never write it.
    unsafe { &*module_ptr() }
}

/// The merged per-directory configuration of a request.
pub fn dir_config<'a>(r: apache::Request) -> &'a DirConfig {
    // SAFETY: httpd created (and merged) this slot with our functions, so
    // it holds a pool-owned DirConfig that lives as long as the request.
    unsafe { &*apache::server::module_config(r.per_dir_config(), module_ptr()).cast::<DirConfig>() }
}

/// The server-level per-directory configuration of a server (what
/// directives outside any section set).
pub fn server_dir_defaults<'a>(s: Server) -> Option<&'a DirConfig> {
    // SAFETY: a live server_rec's lookup_defaults is its server-level
    // config vector; our slot there is a pool-owned DirConfig.
    unsafe {
        let cv = (*s.as_ptr()).lookup_defaults;
        if cv.is_null() {
            return None;
        }
        let p = apache::server::module_config(cv, module_ptr()).cast::<DirConfig>();
        (!p.is_null()).then(|| &*p)
    }
}

/// The per-directory configurations of a server's `<Directory>` and
/// `<Location>` sections.
pub fn section_dir_configs<'a>(s: Server) -> Vec<&'a DirConfig> {
    s.section_vectors()
        .into_iter()
        .filter_map(|cv| {
            // SAFETY: every section vector holds our slot, created by
            // create_dir_config and living as long as the configuration.
            unsafe {
                let p = apache::server::module_config(cv, module_ptr()).cast::<DirConfig>();
                (!p.is_null()).then(|| &*p)
            }
        })
        .collect()
}

/// The server configuration of a server (virtual host).
pub fn server_config<'a>(s: Server) -> &'a ServerConfig {
    // SAFETY: create/merge_server_config filled the slot with a
    // pool-owned ServerConfig living as long as the configuration.
    unsafe { &*s.module_config(module_ref()).cast::<ServerConfig>() }
}

unsafe extern "C" fn create_dir_config(
    p: *mut ffi::apr_pool_t,
    _dir: *mut std::os::raw::c_char,
) -> *mut c_void {
    apache::guard("create_dir_config", ptr::null_mut(), || {
        // SAFETY: p is the live config pool httpd passed.
        unsafe { Pool::from_raw(p) }
            .own(DirConfig::default())
            .cast()
    })
}

unsafe extern "C" fn merge_dir_config(
    p: *mut ffi::apr_pool_t,
    base: *mut c_void,
    add: *mut c_void,
) -> *mut c_void {
    apache::guard("merge_dir_config", ptr::null_mut(), || {
        // SAFETY: base and add were made by create/merge_dir_config.
        let merged =
            unsafe { DirConfig::merge(&*base.cast::<DirConfig>(), &*add.cast::<DirConfig>()) };
        // SAFETY: p is the live pool httpd passed.
        unsafe { Pool::from_raw(p) }.own(merged).cast()
    })
}

unsafe extern "C" fn create_server_config(
    p: *mut ffi::apr_pool_t,
    _s: *mut ffi::server_rec,
) -> *mut c_void {
    apache::guard("create_server_config", ptr::null_mut(), || {
        // SAFETY: p is the live config pool httpd passed.
        unsafe { Pool::from_raw(p) }
            .own(ServerConfig::default())
            .cast()
    })
}

unsafe extern "C" fn merge_server_config(
    p: *mut ffi::apr_pool_t,
    base: *mut c_void,
    add: *mut c_void,
) -> *mut c_void {
    apache::guard("merge_server_config", ptr::null_mut(), || {
        // SAFETY: base and add were made by create_server_config.
        let merged = unsafe {
            ServerConfig::merge(&*base.cast::<ServerConfig>(), &*add.cast::<ServerConfig>())
        };
        // SAFETY: p is the live pool httpd passed.
        unsafe { Pool::from_raw(p) }.own(merged).cast()
    })
}
