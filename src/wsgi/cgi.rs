//! The CGI variables of a request, as the server produced them, and
//! mod_wsgi's fix-ups before they become the environ.

use std::borrow::Cow;

use crate::config::proxy::{self, EnvEdit, ProxyHeader, TrustedNet};

/// Ordered `(name, value)` pairs; values borrowed from the server where
/// possible.
#[derive(Default)]
pub struct CgiVars<'a> {
    pub entries: Vec<Entry<'a>>,
}

/// One variable: name and value.
pub type Entry<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// Collapses runs of `/` (httpd's `ap_no2slash`).
pub fn collapse_slashes(value: &[u8]) -> Cow<'_, [u8]> {
    if !value.windows(2).any(|w| w == b"//") {
        return Cow::Borrowed(value);
    }
    let mut out = Vec::with_capacity(value.len());
    for &c in value {
        if !(c == b'/' && out.last() == Some(&b'/')) {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

impl<'a> CgiVars<'a> {
    pub fn push(&mut self, key: &'a [u8], value: &'a [u8]) {
        self.entries
            .push((Cow::Borrowed(key), Cow::Borrowed(value)));
    }

    pub fn get_bytes(&self, key: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_ref() == key.as_bytes())
            .map(|(_, v)| v.as_ref())
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|(k, _)| k.as_ref() == key.as_bytes())
    }

    pub fn set_bytes(&mut self, key: &str, value: Vec<u8>) {
        match self.position(key) {
            Some(i) => self.entries[i].1 = Cow::Owned(value),
            None => self
                .entries
                .push((Cow::Owned(key.as_bytes().to_vec()), Cow::Owned(value))),
        }
    }

    /// mod_wsgi's fix-ups: `PATH` removed, `PATH_INFO` always present,
    /// slash runs collapsed, the pre-proxy copies recorded, trusted proxy
    /// headers applied, and `HTTPS` turned into the URL scheme (returned)
    /// and removed.
    pub fn prepare(
        &mut self,
        trusted: &[ProxyHeader],
        proxies: Option<&[TrustedNet]>,
    ) -> &'static str {
        self.remove("PATH");
        for key in ["SCRIPT_NAME", "PATH_INFO"] {
            let value = self.get_bytes(key).unwrap_or(b"");
            let collapsed = collapse_slashes(value).into_owned();
            self.set_bytes(key, collapsed.clone());
            self.set_bytes(&format!("mod_wsgi.{}", key.to_ascii_lowercase()), collapsed);
        }
        proxy::apply(self, trusted, proxies);
        let https = self.get_bytes("HTTPS").map(|v| v.to_ascii_lowercase());
        self.remove("HTTPS");
        match https.as_deref() {
            Some(b"on") | Some(b"1") => "https",
            _ => "http",
        }
    }
}

impl EnvEdit for CgiVars<'_> {
    fn get(&self, key: &str) -> Option<String> {
        self.get_bytes(key)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
    fn set(&mut self, key: &str, value: String) {
        self.set_bytes(key, value.into_bytes());
    }
    fn remove(&mut self, key: &str) {
        self.entries.retain(|(k, _)| k.as_ref() != key.as_bytes());
    }
}
