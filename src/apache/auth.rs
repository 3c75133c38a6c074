//! Apache's authentication and authorisation provider interfaces
//! (mod_auth.h): registering providers, and the request facts they need.

use std::os::raw::{c_char, c_int};

use super::{cstr_bytes, Pool, Request, Table};
use crate::ffi;

/// The outcome of an authn provider call (`authn_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authn {
    Denied,
    Granted,
    UserFound,
    UserNotFound,
    GeneralError,
}

impl Authn {
    pub fn raw(self) -> ffi::authn_status {
        match self {
            Authn::Denied => ffi::authn_status_AUTH_DENIED,
            Authn::Granted => ffi::authn_status_AUTH_GRANTED,
            Authn::UserFound => ffi::authn_status_AUTH_USER_FOUND,
            Authn::UserNotFound => ffi::authn_status_AUTH_USER_NOT_FOUND,
            Authn::GeneralError => ffi::authn_status_AUTH_GENERAL_ERROR,
        }
    }
}

/// The outcome of an authz provider call (`authz_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authz {
    Denied,
    Granted,
    GeneralError,
    DeniedNoUser,
}

impl Authz {
    pub fn raw(self) -> ffi::authz_status {
        match self {
            Authz::Denied => ffi::authz_status_AUTHZ_DENIED,
            Authz::Granted => ffi::authz_status_AUTHZ_GRANTED,
            Authz::GeneralError => ffi::authz_status_AUTHZ_GENERAL_ERROR,
            Authz::DeniedNoUser => ffi::authz_status_AUTHZ_DENIED_NO_USER,
        }
    }
}

/// A provider record httpd keeps a pointer to.
#[repr(transparent)]
pub struct Provider<T>(pub T);
// SAFETY: provider records hold only 'static function pointers and are
// never written after construction.
unsafe impl<T> Sync for Provider<T> {}

/// Registers an authn provider (`AuthBasicProvider NAME`).
pub fn register_authn(
    pool: Pool,
    name: &'static std::ffi::CStr,
    provider: &'static Provider<ffi::authn_provider>,
) {
    // SAFETY: the provider record and name are 'static; pool is the
    // configuration pool passed to register_hooks.
    unsafe {
        ffi::ap_register_auth_provider(
            pool.as_ptr(),
            ffi::AUTHN_PROVIDER_GROUP.as_ptr(),
            name.as_ptr(),
            ffi::AUTHN_PROVIDER_VERSION.as_ptr(),
            (&raw const provider.0).cast(),
            ffi::AP_AUTH_INTERNAL_PER_CONF,
        );
    }
}

/// Registers an authz provider (`Require NAME …`).
pub fn register_authz(
    pool: Pool,
    name: &'static std::ffi::CStr,
    provider: &'static Provider<ffi::authz_provider>,
) {
    // SAFETY: as in register_authn.
    unsafe {
        ffi::ap_register_auth_provider(
            pool.as_ptr(),
            ffi::AUTHZ_PROVIDER_GROUP.as_ptr(),
            name.as_ptr(),
            ffi::AUTHZ_PROVIDER_VERSION.as_ptr(),
            (&raw const provider.0).cast(),
            ffi::AP_AUTH_INTERNAL_PER_CONF,
        );
    }
}

impl Request {
    /// The authenticated user (`r->user`).
    pub fn user<'a>(self) -> Option<&'a [u8]> {
        // SAFETY: r->user is null or a pooled string.
        unsafe { cstr_bytes((*self.as_ptr()).user) }
    }

    /// Replaces `r->user` (a pooled copy).
    pub fn set_user(self, user: &[u8]) {
        let copy = self.pool().strdup(user);
        // SAFETY: the copy lives in r->pool.
        unsafe { (*self.as_ptr()).user = copy as *mut c_char };
    }

    /// The client's host name when Apache has it (HostnameLookups),
    /// otherwise its IP address.
    pub fn remote_host<'a>(self) -> Option<&'a [u8]> {
        // SAFETY: the connection and per-dir config are live; the result
        // is a string owned by the connection.
        unsafe {
            let r = self.as_ptr();
            let host = ffi::ap_get_remote_host(
                (*r).connection,
                (*r).per_dir_config.cast(),
                ffi::REMOTE_HOST as c_int,
                std::ptr::null_mut(),
            );
            cstr_bytes(host).or_else(|| cstr_bytes((*r).useragent_ip))
        }
    }

    /// Apache's CGI variables computed into a fresh table, leaving
    /// `subprocess_env` (and the `SetEnv` values it will hold) untouched.
    pub fn cgi_vars_snapshot(self) -> Table {
        // SAFETY: the swap is undone before returning; the fresh table
        // lives in r->pool; ap_add_*_vars only touch r->subprocess_env.
        unsafe {
            let r = self.as_ptr();
            let saved = (*r).subprocess_env;
            let fresh = ffi::apr_table_make((*r).pool, 32);
            (*r).subprocess_env = fresh;
            ffi::ap_add_common_vars(r);
            ffi::ap_add_cgi_vars(r);
            (*r).subprocess_env = saved;
            Table::from_raw(fresh)
        }
    }
}
