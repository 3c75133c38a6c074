//! `WSGIScriptAlias` matching (mod_alias's rules) and its options.

use super::words::{parse_on_off, quoted_whole, split_option};

/// The number of URI bytes an alias consumes, or `None` when it does not
/// match. A run of `/` in the alias matches a run of `/` in the URI, and
/// the alias must end at a segment boundary (`/app` matches `/app` and
/// `/app/x`, not `/apple`).
pub fn alias_match_len(uri: &[u8], alias: &[u8]) -> Option<usize> {
    let (mut a, mut u) = (0usize, 0usize);
    while a < alias.len() {
        if alias[a] == b'/' {
            if uri.get(u) != Some(&b'/') {
                return None;
            }
            while alias.get(a) == Some(&b'/') {
                a += 1;
            }
            while uri.get(u) == Some(&b'/') {
                u += 1;
            }
        } else {
            if uri.get(u) != Some(&alias[a]) {
                return None;
            }
            a += 1;
            u += 1;
        }
    }
    let ends_with_slash = alias.last() == Some(&b'/');
    if !ends_with_slash && u < uri.len() && uri[u] != b'/' {
        return None;
    }
    Some(u)
}

/// The options a script alias may carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AliasOptions {
    pub process_group: Option<String>,
    pub application_group: Option<String>,
    pub callable_object: Option<String>,
    pub pass_authorization: Option<bool>,
}

impl AliasOptions {
    /// Parses the words after the URL and path of `WSGIScriptAlias[Match]`.
    pub fn parse(directive: &str, words: &[String]) -> Result<AliasOptions, String> {
        let mut opts = AliasOptions::default();
        for word in words {
            let Some((name, value)) = split_option(word) else {
                return Err(format!(
                    "Invalid option to WSGI script alias definition: '{word}' \
                     ({directive} takes URL-path file-path [name=value ...])"
                ));
            };
            if let Some(why) = quoted_whole(name, value) {
                return Err(why);
            }
            match name {
                "process-group" => opts.process_group = Some(value.to_owned()),
                "application-group" => opts.application_group = Some(value.to_owned()),
                "callable-object" => opts.callable_object = Some(value.to_owned()),
                "pass-authorization" => {
                    opts.pass_authorization = Some(parse_on_off("pass-authorization", value)?)
                }
                _ => {
                    return Err(format!(
                        "Invalid option to WSGI script alias definition: '{name}'. \
                         {directive} accepts process-group=, application-group=, \
                         callable-object= and pass-authorization="
                    ))
                }
            }
        }
        Ok(opts)
    }
}

/// Expands `$0`–`$9` in a `WSGIScriptAliasMatch` target from the groups
/// of the match (as httpd's `ap_pregsub`; `\$` is a literal dollar).
pub fn expand_target(target: &str, groups: &[Option<Vec<u8>>]) -> Vec<u8> {
    let bytes = target.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\\' && matches!(bytes.get(i + 1), Some(b'$') | Some(b'&')) {
            out.push(bytes[i + 1]);
            i += 2;
        } else if c == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            let n = (bytes[i + 1] - b'0') as usize;
            if let Some(Some(g)) = groups.get(n) {
                out.extend_from_slice(g);
            }
            i += 2;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}
