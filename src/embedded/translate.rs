//! `translate_name`: maps a URI to a WSGI script through
//! `WSGIScriptAlias`/`WSGIScriptAliasMatch`, first match in configuration
//! order, after mod_alias has had its turn.

use std::os::raw::c_int;

use crate::apache::Request;
use crate::apache::ServerConf;
use crate::config::alias::{alias_match_len, expand_target};
use crate::config::{Pattern, ServerConfig};
use crate::ffi;
use crate::request::{NOTE_APPLICATION_GROUP, NOTE_CALLABLE_OBJECT, NOTE_FORCED};
use crate::request::{NOTE_PASS_AUTHORIZATION, NOTE_PROCESS_GROUP};

pub fn translate(r: Request) -> c_int {
    let server = r.server();
    let conf = ServerConfig::of(&server);
    let uri = r.uri();
    if uri.first() != Some(&b'/') {
        return ffi::DECLINED as c_int;
    }
    for alias in &conf.aliases {
        let filename = match &alias.pattern {
            Pattern::Prefix(prefix) => match alias_match_len(uri, prefix) {
                Some(_) if prefix.as_slice() == b"/" => [alias.target.as_bytes(), uri].concat(),
                Some(len) => [alias.target.as_bytes(), &uri[len..]].concat(),
                None => continue,
            },
            Pattern::Regex(re) => match re.exec(uri) {
                Some(m) => [
                    expand_target(&alias.target, &m.groups).as_slice(),
                    &uri[m.end.min(uri.len())..],
                ]
                .concat(),
                None => continue,
            },
        };
        r.set_filename(&filename);
        r.set_handler(c"wsgi-script");
        let (notes, pool) = (r.notes(), r.pool());
        notes.set(pool, NOTE_FORCED.to_bytes(), b"wsgi-script");
        let opts = &alias.options;
        let pairs = [
            (NOTE_PROCESS_GROUP, opts.process_group.as_deref()),
            (NOTE_APPLICATION_GROUP, opts.application_group.as_deref()),
            (NOTE_CALLABLE_OBJECT, opts.callable_object.as_deref()),
            (
                NOTE_PASS_AUTHORIZATION,
                opts.pass_authorization.map(|on| if on { "1" } else { "0" }),
            ),
        ];
        for (key, value) in pairs {
            if let Some(v) = value {
                notes.set(pool, key.to_bytes(), v.as_bytes());
            }
        }
        return ffi::OK as c_int;
    }
    ffi::DECLINED as c_int
}
