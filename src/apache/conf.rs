//! Typed access to this module's slots in httpd's config vectors (in the
//! spirit of ngx-rust's `HttpModuleLocationConf`): the upper layers ask
//! for `&ServerConfig` of a server or `&DirConfig` of a request and get a
//! reference bounded by the borrow of the server or request wrapper, never
//! a raw pointer or an unbounded lifetime.
//!
//! The module record registers itself here once, from `register_hooks`
//! (the record is a process-lifetime static, not per-generation state);
//! the types stored in the slots promise, by implementing the unsafe
//! traits below, that the module's create and merge functions put exactly
//! that type into every slot.

use std::sync::atomic::{AtomicPtr, Ordering};

use super::request::Request;
use super::server::{self, Server};
use crate::ffi;

/// The module record whose slots the traits read (set in register_hooks,
/// before httpd parses any directive of the module).
static MODULE: AtomicPtr<ffi::module> = AtomicPtr::new(std::ptr::null_mut());

/// Records the module record (called once per load from register_hooks).
pub fn set_module(m: *const ffi::module) {
    MODULE.store(m.cast_mut(), Ordering::Release);
}

/// The module index httpd assigned at this load (0 before any).
pub fn module_index() -> std::os::raw::c_int {
    let m = module();
    // SAFETY: m is null or the module record, a process-lifetime static
    // that httpd does not write while hooks run.
    unsafe { m.as_ref() }.map_or(0, |m| m.module_index)
}

/// The module record set by [`set_module`].
pub fn module() -> *const ffi::module {
    MODULE.load(Ordering::Acquire)
}

/// The type in this module's per-server config slot.
///
/// # Safety
/// Implement it only for the type that the module's
/// `create_server_config` and `merge_server_config` put into every
/// server's slot, owned by the configuration pool.
pub unsafe trait ServerConf: Sized + 'static {
    /// The configuration of server `s` (a virtual host or the main server).
    fn of(s: &Server) -> &Self {
        // SAFETY: `s` wraps a live server_rec of the configuration (its
        // constructor's contract); by the trait's contract our slot holds
        // a pool-owned Self that lives as long as that configuration,
        // which outlives the borrow of `s`.
        unsafe { &*s.module_config(&*module()).cast::<Self>() }
    }
}

/// The type in this module's per-directory config slot.
///
/// # Safety
/// Implement it only for the type that the module's `create_dir_config`
/// and `merge_dir_config` put into every per-directory slot, owned by a
/// pool that outlives the request or configuration it belongs to.
pub unsafe trait DirConf: Sized + 'static {
    /// The merged per-directory configuration of a request.
    fn of(r: &Request) -> &Self {
        // SAFETY: the request is live while `r` is borrowed; httpd created
        // and merged its slot with the module's functions (trait contract),
        // in a pool that lives at least as long as the request.
        unsafe { &*server::module_config(r.per_dir_config(), module()).cast::<Self>() }
    }

    /// The server-level per-directory configuration of a server (what
    /// directives outside any section set).
    fn server_defaults(s: &Server) -> Option<&Self> {
        // SAFETY: a live server_rec's lookup_defaults is null or its
        // server-level config vector; our slot there is a pool-owned Self
        // (trait contract) living as long as the configuration.
        unsafe {
            let cv = (*s.as_ptr()).lookup_defaults;
            if cv.is_null() {
                return None;
            }
            server::module_config(cv, module()).cast::<Self>().as_ref()
        }
    }

    /// The per-directory configurations of a server's `<Directory>` and
    /// `<Location>` sections.
    fn sections(s: &Server) -> Vec<&Self> {
        s.section_vectors()
            .into_iter()
            .filter_map(|cv| {
                // SAFETY: every section vector holds our slot (trait
                // contract), pool-owned for the configuration's life.
                unsafe { server::module_config(cv, module()).cast::<Self>().as_ref() }
            })
            .collect()
    }
}
