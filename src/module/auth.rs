//! Entry points of the `wsgi` authn provider, the `wsgi-group` authz
//! provider and the access checker; each runs inside the panic guard and
//! hands over to the embedded-mode auth code.

use std::os::raw::{c_char, c_int, c_void};

use crate::apache::auth::{self, Authn, Authz, Provider};
use crate::apache::cmd::split_conf_words;
use crate::apache::{self, cstr_bytes, Pool, Request};
use crate::{embedded, ffi};

static AUTHN: Provider<ffi::authn_provider> = Provider(ffi::authn_provider {
    check_password: Some(check_password),
    get_realm_hash: Some(get_realm_hash),
});

static AUTHZ: Provider<ffi::authz_provider> = Provider(ffi::authz_provider {
    check_authorization: Some(check_groups),
    parse_require_line: None,
});

/// Registers `AuthBasicProvider wsgi` / `AuthDigestProvider wsgi` and
/// `Require wsgi-group`.
pub fn register(pool: Pool) {
    auth::register_authn(pool, c"wsgi", &AUTHN);
    auth::register_authz(pool, c"wsgi-group", &AUTHZ);
}

fn bytes<'a>(p: *const c_char) -> &'a [u8] {
    // SAFETY: httpd passes NUL-terminated strings living for the call.
    unsafe { cstr_bytes(p) }.unwrap_or(b"")
}

unsafe extern "C" fn check_password(
    r: *mut ffi::request_rec,
    user: *const c_char,
    password: *const c_char,
) -> ffi::authn_status {
    apache::guard("check_password", Authn::GeneralError.raw(), || {
        // SAFETY: httpd passes a live request.
        let r = unsafe { Request::from_raw(r) };
        embedded::check_password(r, bytes(user), bytes(password)).raw()
    })
}

unsafe extern "C" fn get_realm_hash(
    r: *mut ffi::request_rec,
    user: *const c_char,
    realm: *const c_char,
    rethash: *mut *mut c_char,
) -> ffi::authn_status {
    apache::guard("get_realm_hash", Authn::GeneralError.raw(), || {
        // SAFETY: httpd passes a live request.
        let r = unsafe { Request::from_raw(r) };
        let (status, hash) = embedded::get_realm_hash(r, bytes(user), bytes(realm));
        if let Some(hash) = hash {
            // SAFETY: rethash is httpd's out-parameter; the string lives
            // in r->pool.
            unsafe { *rethash = r.pool().strdup(hash.as_bytes()) as *mut c_char };
        }
        status.raw()
    })
}

unsafe extern "C" fn check_groups(
    r: *mut ffi::request_rec,
    require_line: *const c_char,
    _parsed: *const c_void,
) -> ffi::authz_status {
    apache::guard("wsgi-group", Authz::GeneralError.raw(), || {
        // SAFETY: httpd passes a live request.
        let r = unsafe { Request::from_raw(r) };
        let groups = split_conf_words(r.pool(), require_line);
        embedded::check_groups(r, groups).raw()
    })
}

pub unsafe extern "C" fn access_checker(r: *mut ffi::request_rec) -> c_int {
    apache::guard(
        "access_checker",
        ffi::HTTP_INTERNAL_SERVER_ERROR as c_int,
        || {
            // SAFETY: httpd passes a live request.
            embedded::check_access(unsafe { Request::from_raw(r) })
        },
    )
}
