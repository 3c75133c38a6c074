//! `WSGITrustedProxyHeaders` and `WSGITrustedProxies`: which forwarding
//! headers are believed, from which peers, and how they rewrite the
//! environ (mod_wsgi's rules; see the inventory §2.4).

use std::net::IpAddr;

/// What a trusted header overrides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Client,
    Scheme,
    Host,
    Server,
    Port,
    ScriptName,
}

/// One trusted header, stored by its environ name (`HTTP_X_FORWARDED_FOR`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyHeader {
    pub env_name: &'static str,
    pub category: Category,
}

const HEADERS: &[(&str, Category)] = &[
    ("HTTP_X_FORWARDED_FOR", Category::Client),
    ("HTTP_X_CLIENT_IP", Category::Client),
    ("HTTP_X_REAL_IP", Category::Client),
    ("HTTP_X_FORWARDED_PROTO", Category::Scheme),
    ("HTTP_X_FORWARDED_SCHEME", Category::Scheme),
    ("HTTP_X_SCHEME", Category::Scheme),
    ("HTTP_X_FORWARDED_HTTPS", Category::Scheme),
    ("HTTP_X_FORWARDED_SSL", Category::Scheme),
    ("HTTP_X_HTTPS", Category::Scheme),
    ("HTTP_X_FORWARDED_HOST", Category::Host),
    ("HTTP_X_HOST", Category::Host),
    ("HTTP_X_FORWARDED_SERVER", Category::Server),
    ("HTTP_X_FORWARDED_PORT", Category::Port),
    ("HTTP_X_SCRIPT_NAME", Category::ScriptName),
    ("HTTP_X_FORWARDED_SCRIPT_NAME", Category::ScriptName),
];

impl ProxyHeader {
    /// Parses a header name as written in the directive (`X-Forwarded-For`).
    pub fn parse(name: &str) -> Result<ProxyHeader, String> {
        let env = format!("HTTP_{}", name.to_ascii_uppercase().replace('-', "_"));
        HEADERS
            .iter()
            .find(|(n, _)| *n == env)
            .map(|(n, c)| ProxyHeader { env_name: n, category: *c })
            .ok_or_else(|| {
                format!(
                    "WSGITrustedProxyHeaders: '{name}' is not a supported header; use one of \
                     X-Forwarded-For, X-Client-IP, X-Real-IP, X-Forwarded-Proto, X-Forwarded-Scheme, \
                     X-Scheme, X-Forwarded-HTTPS, X-Forwarded-SSL, X-HTTPS, X-Forwarded-Host, X-Host, \
                     X-Forwarded-Server, X-Forwarded-Port, X-Script-Name, X-Forwarded-Script-Name"
                )
            })
    }
}

/// An address or network from `WSGITrustedProxies`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedNet {
    addr: IpAddr,
    prefix: u8,
}

impl TrustedNet {
    pub fn parse(text: &str) -> Result<TrustedNet, String> {
        let bad = || format!("WSGITrustedProxies: '{text}' is not an IP address or CIDR network");
        let (ip, prefix) = match text.split_once('/') {
            Some((ip, p)) => (ip, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (text, None),
        };
        let addr: IpAddr = ip.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(TrustedNet { addr, prefix })
    }

    pub fn contains(&self, ip: &str) -> bool {
        let Ok(ip) = ip.trim().parse::<IpAddr>() else {
            return false;
        };
        let ip = match (ip, self.addr) {
            (IpAddr::V6(v6), IpAddr::V4(_)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            (ip, _) => ip,
        };
        match (ip, self.addr) {
            (IpAddr::V4(a), IpAddr::V4(n)) => prefix_eq(&a.octets(), &n.octets(), self.prefix),
            (IpAddr::V6(a), IpAddr::V6(n)) => prefix_eq(&a.octets(), &n.octets(), self.prefix),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = (bits / 8) as usize;
    if a[..full] != b[..full] {
        return false;
    }
    let rest = bits % 8;
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[full] & mask == b[full] & mask
    }
}

/// The environ operations the rewrite needs.
pub trait EnvEdit {
    fn get(&self, key: &str) -> Option<String>;
    fn set(&mut self, key: &str, value: String);
    fn remove(&mut self, key: &str);
}

/// Applies trusted proxy headers to `env` (before `wsgi.url_scheme` is
/// derived from `HTTPS`).
pub fn apply(env: &mut dyn EnvEdit, trusted: &[ProxyHeader], proxies: Option<&[TrustedNet]>) {
    if trusted.is_empty() {
        return;
    }
    let peer = env.get("REMOTE_ADDR").unwrap_or_default();
    let peer_trusted = proxies.is_none_or(|nets| nets.iter().any(|n| n.contains(&peer)));
    let categories: Vec<Category> = trusted.iter().map(|h| h.category).collect();
    let synonyms = |c: Category| {
        HEADERS
            .iter()
            .filter(move |(_, hc)| *hc == c)
            .map(|(n, _)| *n)
    };

    if !peer_trusted {
        for c in &categories {
            synonyms(*c).for_each(|n| env.remove(n));
        }
        return;
    }
    for header in trusted {
        if let Some(value) = env.get(header.env_name) {
            apply_one(env, header, &value, proxies);
        }
        for other in synonyms(header.category).filter(|n| *n != header.env_name) {
            if !trusted.iter().any(|t| t.env_name == other) {
                env.remove(other);
            }
        }
    }
}

fn apply_one(
    env: &mut dyn EnvEdit,
    header: &ProxyHeader,
    value: &str,
    proxies: Option<&[TrustedNet]>,
) {
    let value = value.trim();
    match header.category {
        Category::Client if header.env_name == "HTTP_X_FORWARDED_FOR" => {
            let entries: Vec<&str> = value
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .collect();
            let Some(mut i) = entries.len().checked_sub(1) else {
                return;
            };
            match proxies {
                None => i = 0,
                Some(nets) => {
                    while i > 0 && nets.iter().any(|n| n.contains(entries[i])) {
                        i -= 1;
                    }
                }
            }
            env.set("REMOTE_ADDR", entries[i].to_owned());
            env.set("HTTP_X_FORWARDED_FOR", entries[i..].join(", "));
        }
        Category::Client => env.set("REMOTE_ADDR", value.to_owned()),
        Category::Scheme => {
            let v = value.to_ascii_lowercase();
            let https = match header.env_name {
                "HTTP_X_FORWARDED_PROTO" | "HTTP_X_FORWARDED_SCHEME" | "HTTP_X_SCHEME" => {
                    v == "https"
                }
                _ => matches!(v.as_str(), "on" | "true" | "1"),
            };
            if https {
                env.set("HTTPS", "1".to_owned());
            } else {
                env.remove("HTTPS");
            }
        }
        Category::Host => env.set("HTTP_HOST", value.to_owned()),
        Category::Server => env.set("SERVER_NAME", value.to_owned()),
        Category::Port => env.set("SERVER_PORT", value.to_owned()),
        Category::ScriptName => {
            env.set("SCRIPT_NAME", value.to_owned());
            env.set("mod_wsgi.mount_point", value.to_owned());
        }
    }
}
