//! The `wsgi` authn provider, the `wsgi-group` authz provider and the
//! access checker; `apache` generates their entry points (with the panic
//! guard) and the embedded-mode auth code does the work.

use std::os::raw::c_int;

use crate::apache::auth::{self, Authn, AuthnProvider, Authz, AuthzProvider};
use crate::apache::hooks::RequestHook;
use crate::apache::{Pool, Request};
use crate::{embedded, ffi};

/// `AuthBasicProvider wsgi` / `AuthDigestProvider wsgi` and
/// `Require wsgi-group`.
struct Wsgi;

impl AuthnProvider for Wsgi {
    fn check_password(r: Request, user: &[u8], password: &[u8]) -> Authn {
        embedded::check_password(r, user, password)
    }
    fn get_realm_hash(r: Request, user: &[u8], realm: &[u8]) -> (Authn, Option<String>) {
        embedded::get_realm_hash(r, user, realm)
    }
}

impl AuthzProvider for Wsgi {
    fn check(r: Request, require: Vec<String>) -> Authz {
        embedded::check_groups(r, require)
    }
}

/// Registers the providers.
pub fn register(pool: Pool) {
    auth::register_authn::<Wsgi>(pool, c"wsgi");
    auth::register_authz::<Wsgi>(pool, c"wsgi-group");
}

/// `WSGIAccessScript`.
pub struct Access;

impl RequestHook for Access {
    const NAME: &'static str = "access_checker";
    const FALLBACK: c_int = ffi::HTTP_INTERNAL_SERVER_ERROR as c_int;
    fn run(r: Request) -> c_int {
        embedded::check_access(r)
    }
}
