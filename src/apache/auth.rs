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

/// An authn provider (`AuthBasicProvider NAME`, `AuthDigestProvider NAME`).
pub trait AuthnProvider {
    /// Basic authentication: is `password` right for `user`?
    fn check_password(r: Request, user: &[u8], password: &[u8]) -> Authn;
    /// Digest authentication: the user's hash for `realm`, if known.
    fn get_realm_hash(r: Request, user: &[u8], realm: &[u8]) -> (Authn, Option<String>);
}

/// An authz provider (`Require NAME words…`).
pub trait AuthzProvider {
    /// Does the request's user satisfy the `Require` line's words?
    fn check(r: Request, require: Vec<String>) -> Authz;
}

/// A string argument httpd passed to a provider.
///
/// # Safety
/// `p` must be null or a NUL-terminated string that outlives `'a` (the
/// trampolines below use the result only during httpd's call).
unsafe fn bytes<'a>(p: *const c_char) -> &'a [u8] {
    // SAFETY: per the contract.
    unsafe { cstr_bytes(p) }.unwrap_or(b"")
}

/// # Safety
/// Called by httpd only: a live request and NUL-terminated strings.
unsafe extern "C" fn check_password<P: AuthnProvider>(
    r: *mut ffi::request_rec,
    user: *const c_char,
    password: *const c_char,
) -> ffi::authn_status {
    super::guard("check_password", Authn::GeneralError.raw(), || {
        // SAFETY: httpd passes a live request.
        let r = unsafe { Request::from_raw(r) };
        // SAFETY: httpd's strings live for this call.
        let (user, password) = unsafe { (bytes(user), bytes(password)) };
        P::check_password(r, user, password).raw()
    })
}

/// # Safety
/// Called by httpd only: a live request, NUL-terminated strings and the
/// out-parameter for the hash.
unsafe extern "C" fn get_realm_hash<P: AuthnProvider>(
    r: *mut ffi::request_rec,
    user: *const c_char,
    realm: *const c_char,
    rethash: *mut *mut c_char,
) -> ffi::authn_status {
    super::guard("get_realm_hash", Authn::GeneralError.raw(), || {
        // SAFETY: httpd passes a live request.
        let r = unsafe { Request::from_raw(r) };
        // SAFETY: httpd's strings live for this call.
        let (user, realm) = unsafe { (bytes(user), bytes(realm)) };
        let (status, hash) = P::get_realm_hash(r, user, realm);
        if let Some(hash) = hash {
            // SAFETY: rethash is httpd's out-parameter; the string lives
            // in r->pool.
            unsafe { *rethash = r.pool().strdup(hash.as_bytes()) as *mut c_char };
        }
        status.raw()
    })
}

/// # Safety
/// Called by httpd only: a live request and its `Require` line.
unsafe extern "C" fn check_authorization<P: AuthzProvider>(
    r: *mut ffi::request_rec,
    require_line: *const c_char,
    _parsed: *const std::os::raw::c_void,
) -> ffi::authz_status {
    super::guard("authz provider", Authz::GeneralError.raw(), || {
        // SAFETY: httpd passes a live request.
        let r = unsafe { Request::from_raw(r) };
        let words = super::cmd::split_conf_words(r.pool(), require_line);
        P::check(r, words).raw()
    })
}

/// Registers an authn provider under `name`; its record lives in `pool`
/// (the configuration pool of register_hooks, refilled at each load).
pub fn register_authn<P: AuthnProvider>(pool: Pool, name: &'static std::ffi::CStr) {
    let record = pool.own(ffi::authn_provider {
        check_password: Some(check_password::<P>),
        get_realm_hash: Some(get_realm_hash::<P>),
    });
    // SAFETY: the record is pool-owned and lives as long as the
    // configuration that uses it; name is 'static.
    unsafe {
        ffi::ap_register_auth_provider(
            pool.as_ptr(),
            ffi::AUTHN_PROVIDER_GROUP.as_ptr(),
            name.as_ptr(),
            ffi::AUTHN_PROVIDER_VERSION.as_ptr(),
            record.cast(),
            ffi::AP_AUTH_INTERNAL_PER_CONF,
        );
    }
}

/// Registers an authz provider under `name` (record as in
/// [`register_authn`]).
pub fn register_authz<P: AuthzProvider>(pool: Pool, name: &'static std::ffi::CStr) {
    let record = pool.own(ffi::authz_provider {
        check_authorization: Some(check_authorization::<P>),
        parse_require_line: None,
    });
    // SAFETY: as in register_authn.
    unsafe {
        ffi::ap_register_auth_provider(
            pool.as_ptr(),
            ffi::AUTHZ_PROVIDER_GROUP.as_ptr(),
            name.as_ptr(),
            ffi::AUTHZ_PROVIDER_VERSION.as_ptr(),
            record.cast(),
            ffi::AP_AUTH_INTERNAL_PER_CONF,
        );
    }
}

impl Request {
    /// The authenticated user (`r->user`).
    pub fn user(&self) -> Option<&[u8]> {
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
    pub fn remote_host(&self) -> Option<&[u8]> {
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
    pub fn cgi_vars_snapshot(&self) -> Table<'_> {
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
