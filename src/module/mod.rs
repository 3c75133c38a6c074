//! The module httpd loads: the exported `wsgi_module` record, the
//! configuration constructors and merges, and hook registration.

mod auth;
mod check;
mod directives;
mod hooks;

use std::ffi::c_void;
use std::os::raw::c_int;
use std::ptr;

use crate::apache::{self, DirConf, Pool, ServerConf};
use crate::config::{DirConfig, ServerConfig};
use crate::ffi;

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

// SAFETY: create_server_config and merge_server_config below put a
// pool-owned ServerConfig into every server slot of this module.
unsafe impl ServerConf for ServerConfig {}
// SAFETY: create_dir_config and merge_dir_config below put a pool-owned
// DirConfig into every per-directory slot of this module.
unsafe impl DirConf for DirConfig {}

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
