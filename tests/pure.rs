//! Unit tests of the pure layers (directive parsing, alias matching,
//! trusted proxies). The cdylib itself cannot be linked into a test
//! binary (httpd's symbols resolve only inside httpd), so the pure
//! modules are compiled here directly from their sources.

#[path = "../src/daemon/hmac.rs"]
#[allow(dead_code)]
mod hmac;
#[path = "../src/daemon/wire.rs"]
#[allow(dead_code)]
mod wire;

#[path = "../src/config/mod.rs"]
#[allow(dead_code, unused_imports)]
mod config;

use std::collections::BTreeMap;

use config::alias::{alias_match_len, expand_target, AliasOptions};
use config::dir::{DirConfig, HeadMode};
use config::proxy::{apply, EnvEdit, ProxyHeader, TrustedNet};
use config::words::{parse_on_off, split_option};

#[test]
fn alias_matches_whole_segments() {
    assert_eq!(alias_match_len(b"/app", b"/app"), Some(4));
    assert_eq!(alias_match_len(b"/app/x", b"/app"), Some(4));
    assert_eq!(alias_match_len(b"/apple", b"/app"), None);
    assert_eq!(alias_match_len(b"/ap", b"/app"), None);
    assert_eq!(alias_match_len(b"/other", b"/app"), None);
}

#[test]
fn alias_slash_runs_match_each_other() {
    assert_eq!(alias_match_len(b"//app//x", b"/app"), Some(5));
    assert_eq!(alias_match_len(b"/a/b", b"/a//b"), Some(4));
    assert_eq!(alias_match_len(b"/a///b/c", b"/a/b"), Some(6));
}

#[test]
fn alias_with_trailing_slash_needs_the_slash() {
    assert_eq!(alias_match_len(b"/w/hello", b"/w/"), Some(3));
    assert_eq!(alias_match_len(b"/w", b"/w/"), None);
    assert_eq!(alias_match_len(b"/anything", b"/"), Some(1));
    assert_eq!(alias_match_len(b"/", b"/"), Some(1));
}

#[test]
fn alias_options_parse() {
    let words: Vec<String> = [
        "process-group=%{GLOBAL}",
        "application-group=x",
        "callable-object=app",
        "pass-authorization=On",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let o = AliasOptions::parse("WSGIScriptAlias", &words).unwrap();
    assert_eq!(o.process_group.as_deref(), Some("%{GLOBAL}"));
    assert_eq!(o.application_group.as_deref(), Some("x"));
    assert_eq!(o.callable_object.as_deref(), Some("app"));
    assert_eq!(o.pass_authorization, Some(true));
}

#[test]
fn alias_options_reject_unknown_and_bad_values() {
    let err = AliasOptions::parse("WSGIScriptAlias", &["bogus=1".to_string()]).unwrap_err();
    assert!(err.contains("bogus"), "{err}");
    let err = AliasOptions::parse("WSGIScriptAlias", &["pass-authorization=maybe".to_string()])
        .unwrap_err();
    assert!(err.contains("Off | On"), "{err}");
    let err = AliasOptions::parse("WSGIScriptAlias", &["novalue".to_string()]).unwrap_err();
    assert!(err.contains("novalue"), "{err}");
}

#[test]
fn regex_targets_expand_groups() {
    let groups = vec![Some(b"/admin/x".to_vec()), Some(b"admin".to_vec())];
    assert_eq!(
        expand_target("/srv/h.py/$1", &groups),
        b"/srv/h.py/admin".to_vec()
    );
    assert_eq!(expand_target("/srv/$2x", &groups), b"/srv/x".to_vec());
    assert_eq!(expand_target("/srv/\\$1", &groups), b"/srv/$1".to_vec());
}

#[test]
fn on_off_and_options() {
    assert_eq!(parse_on_off("X", "ON"), Ok(true));
    assert_eq!(parse_on_off("X", "off"), Ok(false));
    assert!(parse_on_off("X", "yes").is_err());
    assert_eq!(split_option("a=b=c"), Some(("a", "b=c")));
    assert_eq!(split_option("=b"), None);
    assert_eq!(split_option("a b=c"), None);
}

#[test]
fn dir_config_merge_prefers_the_more_specific() {
    let base = DirConfig {
        callable_object: Some("base".into()),
        chunked_request: Some(true),
        ..Default::default()
    };
    let add = DirConfig {
        callable_object: Some("add".into()),
        ..Default::default()
    };
    let m = DirConfig::merge(&base, &add);
    assert_eq!(m.callable(), "add");
    assert_eq!(m.chunked_request, Some(true));
    assert_eq!(DirConfig::default().callable(), "application");
    assert_eq!(DirConfig::default().head_mode(), HeadMode::Auto);
    assert!(DirConfig::default().reloading());
    assert!(HeadMode::parse("sometimes").is_err());
}

#[derive(Default)]
struct Env(BTreeMap<String, String>);

impl EnvEdit for Env {
    fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
    fn remove(&mut self, key: &str) {
        self.0.remove(key);
    }
}

fn env(pairs: &[(&str, &str)]) -> Env {
    Env(pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

#[test]
fn cidr_membership() {
    let net = TrustedNet::parse("10.0.0.0/8").unwrap();
    assert!(net.contains("10.1.2.3"));
    assert!(!net.contains("11.1.2.3"));
    assert!(net.contains("::ffff:10.0.0.1"));
    let one = TrustedNet::parse("127.0.0.1").unwrap();
    assert!(one.contains("127.0.0.1"));
    assert!(!one.contains("127.0.0.2"));
    let v6 = TrustedNet::parse("2001:db8::/32").unwrap();
    assert!(v6.contains("2001:db8::1"));
    assert!(!v6.contains("2001:db9::1"));
    assert!(TrustedNet::parse("10.0.0.0/33").is_err());
    assert!(TrustedNet::parse("not-an-ip").is_err());
}

#[test]
fn forwarded_for_without_proxy_list_takes_first_entry() {
    let h = vec![ProxyHeader::parse("X-Forwarded-For").unwrap()];
    let mut e = env(&[
        ("REMOTE_ADDR", "10.0.0.1"),
        ("HTTP_X_FORWARDED_FOR", " , 1.2.3.4, 10.0.0.2"),
        ("HTTP_X_REAL_IP", "9.9.9.9"),
    ]);
    apply(&mut e, &h, None);
    assert_eq!(e.get("REMOTE_ADDR").as_deref(), Some("1.2.3.4"));
    assert_eq!(
        e.get("HTTP_X_REAL_IP"),
        None,
        "synonyms of a trusted category are removed"
    );
}

#[test]
fn forwarded_for_chain_skips_trusted_proxies_from_the_right() {
    let h = vec![ProxyHeader::parse("X-Forwarded-For").unwrap()];
    let nets = vec![TrustedNet::parse("10.0.0.0/8").unwrap()];
    let mut e = env(&[
        ("REMOTE_ADDR", "10.0.0.1"),
        ("HTTP_X_FORWARDED_FOR", "6.6.6.6, 1.2.3.4, 10.0.0.7"),
    ]);
    apply(&mut e, &h, Some(&nets));
    assert_eq!(e.get("REMOTE_ADDR").as_deref(), Some("1.2.3.4"));
    assert_eq!(
        e.get("HTTP_X_FORWARDED_FOR").as_deref(),
        Some("1.2.3.4, 10.0.0.7")
    );
}

#[test]
fn untrusted_peer_loses_all_listed_categories() {
    let h = vec![
        ProxyHeader::parse("X-Forwarded-Proto").unwrap(),
        ProxyHeader::parse("X-Forwarded-Host").unwrap(),
    ];
    let nets = vec![TrustedNet::parse("10.0.0.0/8").unwrap()];
    let mut e = env(&[
        ("REMOTE_ADDR", "8.8.8.8"),
        ("HTTP_X_FORWARDED_PROTO", "https"),
        ("HTTP_X_SCHEME", "https"),
        ("HTTP_X_FORWARDED_HOST", "evil"),
        ("HTTP_HOST", "good"),
        ("HTTP_X_FORWARDED_PORT", "1"),
    ]);
    apply(&mut e, &h, Some(&nets));
    assert_eq!(e.get("HTTP_X_FORWARDED_PROTO"), None);
    assert_eq!(e.get("HTTP_X_SCHEME"), None);
    assert_eq!(e.get("HTTP_X_FORWARDED_HOST"), None);
    assert_eq!(e.get("HTTP_HOST").as_deref(), Some("good"));
    assert_eq!(
        e.get("HTTP_X_FORWARDED_PORT").as_deref(),
        Some("1"),
        "unlisted categories pass through"
    );
    assert_eq!(e.get("HTTPS"), None);
}

#[test]
fn trusted_scheme_host_port_and_script_name() {
    let h: Vec<_> = [
        "X-Forwarded-Proto",
        "X-Forwarded-Host",
        "X-Forwarded-Port",
        "X-Script-Name",
        "X-Forwarded-Server",
    ]
    .iter()
    .map(|n| ProxyHeader::parse(n).unwrap())
    .collect();
    let mut e = env(&[
        ("REMOTE_ADDR", "10.0.0.1"),
        ("HTTP_X_FORWARDED_PROTO", "https"),
        ("HTTP_X_FORWARDED_HOST", "example.com"),
        ("HTTP_X_FORWARDED_PORT", "443"),
        ("HTTP_X_SCRIPT_NAME", "/mount"),
        ("HTTP_X_FORWARDED_SERVER", "front"),
        ("SCRIPT_NAME", "/app"),
    ]);
    apply(&mut e, &h, None);
    assert_eq!(e.get("HTTPS").as_deref(), Some("1"));
    assert_eq!(e.get("HTTP_HOST").as_deref(), Some("example.com"));
    assert_eq!(e.get("SERVER_PORT").as_deref(), Some("443"));
    assert_eq!(e.get("SERVER_NAME").as_deref(), Some("front"));
    assert_eq!(e.get("SCRIPT_NAME").as_deref(), Some("/mount"));
    assert_eq!(e.get("mod_wsgi.mount_point").as_deref(), Some("/mount"));
}

#[test]
fn https_flags_and_unknown_headers() {
    let h = vec![ProxyHeader::parse("x-forwarded-ssl").unwrap()];
    let mut e = env(&[
        ("REMOTE_ADDR", "1.1.1.1"),
        ("HTTP_X_FORWARDED_SSL", "off"),
        ("HTTPS", "on"),
    ]);
    apply(&mut e, &h, None);
    assert_eq!(e.get("HTTPS"), None);
    assert!(ProxyHeader::parse("X-Bogus").is_err());
}

use config::groups::{expand_application_group, is_static, GroupFacts};

fn facts<'a>(env: &'a dyn Fn(&str) -> Option<String>) -> GroupFacts<'a> {
    GroupFacts {
        server_name: "www.example.com",
        port: 8080,
        host: Some("alias.example.com"),
        script_name: "/app",
        env,
    }
}

#[test]
fn application_group_expansion() {
    let env = |k: &str| match k {
        "GROUP" => Some("from-env".to_owned()),
        "INDIRECT" => Some("%{SERVER}".to_owned()),
        "LOOP" => Some("%{ENV:LOOP}".to_owned()),
        _ => None,
    };
    let f = facts(&env);
    assert_eq!(expand_application_group(None, &f), "");
    assert_eq!(expand_application_group(Some("%{GLOBAL}"), &f), "");
    assert_eq!(
        expand_application_group(Some("%{SERVER}"), &f),
        "www.example.com:8080"
    );
    assert_eq!(
        expand_application_group(Some("%{HOST}"), &f),
        "alias.example.com:8080"
    );
    assert_eq!(
        expand_application_group(Some("%{RESOURCE}"), &f),
        "www.example.com:8080|/app"
    );
    assert_eq!(
        expand_application_group(Some("%{ENV:GROUP}"), &f),
        "from-env"
    );
    assert_eq!(
        expand_application_group(Some("%{ENV:INDIRECT}"), &f),
        "www.example.com:8080"
    );
    assert_eq!(
        expand_application_group(Some("%{ENV:LOOP}"), &f),
        "%{ENV:LOOP}"
    );
    assert_eq!(expand_application_group(Some("%{ENV:MISSING}"), &f), "");
    assert_eq!(expand_application_group(Some("literal"), &f), "literal");
    let f80 = GroupFacts {
        port: 80,
        ..facts(&env)
    };
    assert_eq!(
        expand_application_group(Some("%{SERVER}"), &f80),
        "www.example.com"
    );
    assert!(is_static("%{GLOBAL}") && is_static("name") && !is_static("%{ENV:X}"));
}

use config::python_home::{check_python_home, parse_version};

#[test]
fn python_home_versions() {
    assert_eq!(parse_version("3.11.2 (main, Mar 13 2023)"), Some((3, 11)));
    let dir = std::env::temp_dir().join(format!("mwrs-home-{}", std::process::id()));
    let venv = dir.join("venv");
    std::fs::create_dir_all(&venv).unwrap();
    std::fs::write(
        venv.join("pyvenv.cfg"),
        "home = /usr/bin\nversion = 3.9.2\n",
    )
    .unwrap();
    let err = check_python_home(&venv, (3, 11)).unwrap_err();
    assert!(err.contains("3.9") && err.contains("3.11"), "{err}");
    std::fs::write(venv.join("pyvenv.cfg"), "version_info = 3.11.7.final.0\n").unwrap();
    assert_eq!(check_python_home(&venv, (3, 11)), Ok(None));
    let prefix = dir.join("prefix");
    std::fs::create_dir_all(prefix.join("lib/python3.10")).unwrap();
    let err = check_python_home(&prefix, (3, 11)).unwrap_err();
    assert!(err.contains("3.10") && err.contains("3.11"), "{err}");
    std::fs::create_dir_all(prefix.join("lib/python3.11")).unwrap();
    assert_eq!(check_python_home(&prefix, (3, 11)), Ok(None));
    assert!(check_python_home(&dir.join("missing"), (3, 11))
        .unwrap()
        .is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}

fn ws(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn daemon_defaults_are_mod_wsgi_raw_defaults() {
    use config::daemon::DaemonGroup;
    let g = DaemonGroup::parse(&ws(&["app"])).unwrap();
    assert_eq!(g.processes, 1);
    assert!(!g.multiprocess());
    assert_eq!(g.threads, 15);
    assert_eq!(g.shutdown_timeout, 5);
    assert_eq!(g.deadlock_timeout, 300);
    assert_eq!(g.graceful_timeout, 15);
    assert_eq!(g.connect_timeout, 15);
    assert_eq!(g.listen_backlog, 100);
    assert_eq!(g.maximum_requests, 0);
    assert!(g.inert.is_empty());
}

#[test]
fn daemon_common_configuration_parses() {
    use config::daemon::{DaemonGroup, Ident};
    let g = DaemonGroup::parse(&ws(&[
        "appname",
        "python-path=/srv/a:/srv/b",
        "processes=2",
        "threads=15",
        "maximum-requests=3000",
        "user=#33",
        "group=www-data",
        "umask=0007",
        "display-name=%{GROUP}",
        "queue-timeout=45",
        "switch-interval=0.01",
    ]))
    .unwrap();
    assert_eq!(g.name, "appname");
    assert_eq!(g.python_path, vec!["/srv/a", "/srv/b"]);
    assert_eq!(g.processes, 2);
    assert!(g.multiprocess());
    assert_eq!(g.maximum_requests, 3000);
    assert_eq!(g.user, Some(Ident::Id(33)));
    assert_eq!(g.group, Some(Ident::Name("www-data".into())));
    assert_eq!(g.umask, Some(0o007));
    assert_eq!(g.process_title().as_deref(), Some("(wsgi:appname)"));
    assert_eq!(g.queue_timeout, 45);
    assert_eq!(g.switch_interval, Some(0.01));
    // processes=1 given explicitly still means multiprocess (mod_wsgi).
    assert!(DaemonGroup::parse(&ws(&["a", "processes=1"]))
        .unwrap()
        .multiprocess());
}

#[test]
fn daemon_every_option_is_in_the_table() {
    use config::daemon::option_names;
    let names: Vec<&str> = option_names().collect();
    for o in [
        "processes",
        "threads",
        "user",
        "group",
        "supplementary-groups",
        "umask",
        "chroot",
        "home",
        "lang",
        "locale",
        "python-home",
        "python-path",
        "python-eggs",
        "stack-size",
        "maximum-requests",
        "startup-timeout",
        "shutdown-timeout",
        "deadlock-timeout",
        "inactivity-timeout",
        "request-timeout",
        "interrupt-timeout",
        "graceful-timeout",
        "eviction-timeout",
        "restart-interval",
        "connect-timeout",
        "socket-timeout",
        "queue-timeout",
        "listen-backlog",
        "socket-user",
        "display-name",
        "send-buffer-size",
        "receive-buffer-size",
        "header-buffer-size",
        "response-buffer-size",
        "response-socket-timeout",
        "script-user",
        "script-group",
        "cpu-time-limit",
        "cpu-priority",
        "memory-limit",
        "virtual-memory-limit",
        "server-metrics",
    ] {
        assert!(names.contains(&o), "{o} missing");
    }
}

#[test]
fn daemon_bad_options_name_the_option() {
    use config::daemon::DaemonGroup;
    for (words, needle) in [
        (vec!["a", "bogus=1"], "unknown option 'bogus'"),
        (vec!["a", "processes=0"], "processes=0"),
        (vec!["a", "threads=x"], "threads=x"),
        (vec!["a", "umask=999"], "umask=999"),
        (vec!["a", "home=relative"], "absolute"),
        (vec!["a", "request-timeout=-1"], "request-timeout=-1"),
        (
            vec!["a", "header-buffer-size=100"],
            "header-buffer-size=100",
        ),
        (vec!["a", "server-metrics=maybe"], "server-metrics"),
        (vec!["a", "noequals"], "noequals"),
        (vec!["a", "script-user=x", "script-group=y"], "script-group"),
        (vec![], "group name"),
    ] {
        let e = DaemonGroup::parse(&ws(&words)).unwrap_err();
        assert!(e.contains(needle), "{e:?} should mention {needle}");
    }
}

#[test]
fn daemon_inert_options_are_listed_once() {
    use config::daemon::DaemonGroup;
    let g = DaemonGroup::parse(&ws(&[
        "a",
        "response-flush-delay=1",
        "startup-timeout=3",
        "response-flush-delay=2",
        "script-user=x",
    ]))
    .unwrap();
    assert_eq!(g.inert, vec!["response-flush-delay"]);
}

#[test]
fn daemon_chroot_is_refused_not_ignored() {
    use config::daemon::DaemonGroup;
    let e = DaemonGroup::parse(&ws(&["a", "chroot=/srv/jail"])).unwrap_err();
    assert!(
        e.contains("WSGI-RS-E435") && e.contains("not supported"),
        "{e}"
    );
}

#[test]
fn daemon_server_metrics_is_effective() {
    use config::daemon::DaemonGroup;
    let g = DaemonGroup::parse(&ws(&["a", "server-metrics=On"])).unwrap();
    assert!(g.server_metrics);
    assert!(g.inert.is_empty());
    let g = DaemonGroup::parse(&ws(&["a", "server-metrics=off"])).unwrap();
    assert!(!g.server_metrics);
    assert!(!DaemonGroup::new("a").server_metrics);
}

#[test]
fn process_group_resolution() {
    use config::daemon::resolve_group;
    let env = |k: &str| (k == "G").then(|| "grp".to_string());
    assert_eq!(resolve_group("%{GLOBAL}", env), None);
    assert_eq!(resolve_group("", env), None);
    assert_eq!(resolve_group("app", env).as_deref(), Some("app"));
    assert_eq!(resolve_group("%{ENV:G}", env).as_deref(), Some("grp"));
    assert_eq!(resolve_group("%{ENV:H}", env), None);
}

#[test]
fn wire_pairs_and_start_round_trip() {
    let pairs: Vec<(&[u8], &[u8])> = vec![(b"A", b"1"), (b"", b""), (b"PATH_INFO", b"/x\0y")];
    let enc = wire::encode_pairs(pairs.iter().copied());
    assert_eq!(wire::decode_pairs(&enc).unwrap(), pairs);
    let h: Vec<(&[u8], &[u8])> = vec![(b"Content-Type", b"text/plain")];
    let s = wire::encode_start(404, b"404 Not Found", &h);
    let (st, line, hh) = wire::decode_start(&s).unwrap();
    assert_eq!((st, line, hh), (404, &b"404 Not Found"[..], h));
    assert_eq!(wire::decode_file(&wire::encode_file(7, 9)).unwrap(), (7, 9));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn sha256_matches_fips_vectors() {
    assert_eq!(
        hex(&hmac::sha256(&[b"abc"])),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hex(&hmac::sha256(&[b""])),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    // 56 bytes: the padding spills into a second block; split in parts.
    assert_eq!(
        hex(&hmac::sha256(&[
            b"abcdbcdecdefdefgefghfghighij",
            b"hijkijkljklmklmnlmnomnopnopq"
        ])),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
    let million = vec![b'a'; 1_000_000];
    assert_eq!(
        hex(&hmac::sha256(&[&million])),
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    );
}

#[test]
fn hmac_sha256_matches_rfc4231() {
    // Test cases 1, 2 and 6 of RFC 4231.
    assert_eq!(
        hex(&hmac::hmac(&[0x0b; 20], &[b"Hi There"])),
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    );
    assert_eq!(
        hex(&hmac::hmac(
            b"Jefe",
            &[b"what do ya want ", b"for nothing?"]
        )),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    assert_eq!(
        hex(&hmac::hmac(
            &[0xaa; 131],
            &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
        )),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

#[test]
fn socket_name_ids_differ_for_names_that_sanitize_alike() {
    assert_ne!(hmac::name_id("a.b"), hmac::name_id("a_b"));
    assert_eq!(hmac::name_id("a.b"), hmac::name_id("a.b"));
    assert_eq!(hmac::name_id("x").len(), 12);
}

fn sample_head() -> wire::RequestHead {
    wire::RequestHead {
        https: true,
        script: "/srv/app/app.wsgi".into(),
        mtime: 1_700_000_000_123_456,
        callable: "application".into(),
        application_group: "example.com|/app".into(),
        reloading: true,
        sendfile: false,
        handler: b"wsgi-script".to_vec(),
        listener_host: b"127.0.0.1".to_vec(),
        listener_port: 8443,
        request_id: "aBc-123".into(),
        request_start_us: -1,
        queue_start_us: i64::MAX,
        server_pid: u32::MAX,
        header_only: false,
        has_body: true,
        proof: [7u8; 32],
    }
}

#[test]
fn wire_request_round_trips_head_and_variables() {
    let vars: Vec<(&[u8], &[u8])> = vec![(b"REQUEST_METHOD", b"POST"), (b"PATH_INFO", b"/a\0b")];
    for flags in 0u8..32 {
        let mut head = sample_head();
        head.https = flags & 1 != 0;
        head.reloading = flags & 2 != 0;
        head.sendfile = flags & 4 != 0;
        head.header_only = flags & 8 != 0;
        head.has_body = flags & 16 != 0;
        let payload = wire::encode_request(&head, vars.iter().copied());
        let (back, back_vars) = wire::decode_request(&payload).unwrap();
        assert_eq!(back, head);
        assert_eq!(back_vars, vars);
    }
    let empty = wire::RequestHead::default();
    let payload = wire::encode_request(&empty, std::iter::empty());
    assert_eq!(wire::decode_request(&payload).unwrap(), (empty, Vec::new()));
}

#[test]
fn wire_request_rejects_truncated_and_trailing_bytes() {
    let vars: Vec<(&[u8], &[u8])> = vec![(b"A", b"1")];
    let payload = wire::encode_request(&sample_head(), vars.iter().copied());
    for cut in 0..payload.len() {
        assert!(
            wire::decode_request(&payload[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut long = payload.clone();
    long.push(0);
    assert!(wire::decode_request(&long).is_err());
}

/// A writer that accepts at most a few bytes per call, to exercise
/// partial vectored writes.
struct Trickle(Vec<u8>, usize);
impl std::io::Write for Trickle {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.1 = self.1 % 7 + 1;
        let n = b.len().min(self.1);
        self.0.extend_from_slice(&b[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn wire_frames_round_trip_and_fuzz() {
    // Deterministic xorshift: random frames written in trickles must read
    // back identically; random garbage must never panic.
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let kinds = [
        wire::Kind::Body,
        wire::Kind::Data,
        wire::Kind::Start,
        wire::Kind::End,
    ];
    for _ in 0..200 {
        let mut out = Trickle(Vec::new(), 0);
        let mut sent = Vec::new();
        for _ in 0..(rnd() % 8) {
            let kind = kinds[(rnd() % 4) as usize];
            let a: Vec<u8> = (0..rnd() % 300).map(|_| rnd() as u8).collect();
            let b: Vec<u8> = (0..rnd() % 50).map(|_| rnd() as u8).collect();
            wire::write_frame(&mut out, kind, &[&a, &b]).unwrap();
            sent.push((kind, [a, b].concat()));
        }
        let mut r = wire::FrameReader::new(&out.0[..]);
        for (kind, payload) in &sent {
            let (k, p) = r.next_frame().unwrap().unwrap();
            assert_eq!((k, p), (*kind, &payload[..]));
        }
        assert!(r.next_frame().unwrap().is_none());
        // Truncated streams are errors, not panics.
        if out.0.len() > 1 {
            let cut = (rnd() as usize) % (out.0.len() - 1) + 1;
            let mut r = wire::FrameReader::new(&out.0[..cut]);
            while let Ok(Some(_)) = r.next_frame() {}
        }
        let garbage: Vec<u8> = (0..rnd() % 64).map(|_| rnd() as u8).collect();
        let _ = wire::decode_pairs(&garbage);
        let _ = wire::decode_start(&garbage);
        let _ = wire::decode_request(&garbage);
        // A valid request with random bytes flipped decodes or fails,
        // never panics.
        let mut request = wire::encode_request(&sample_head(), [(&b"K"[..], &b"V"[..])]);
        for _ in 0..4 {
            let i = rnd() as usize % request.len();
            request[i] = rnd() as u8;
        }
        let _ = wire::decode_request(&request);
        let mut r = wire::FrameReader::new(&garbage[..]);
        while let Ok(Some(_)) = r.next_frame() {}
    }
}

/// A reader that returns at most a varying, small number of bytes per call.
struct Dribble<'a>(&'a [u8], usize);
impl std::io::Read for Dribble<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        self.1 = self.1 % 4999 + 1;
        let n = out.len().min(self.1).min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn wire_reader_reuses_its_buffer_and_reads_body_frames_in_pieces() {
    // Frames larger than the reader's buffer, read back through every
    // path (whole payloads, borrowed chunks, copies into a caller buffer
    // larger and smaller than the reader's), with the buffer handed from
    // one reader to the next as the proxy does between requests.
    let mut out = Vec::new();
    let mut sent = Vec::new();
    for i in 0..40usize {
        let len = (i * 7919) % 20000;
        let p: Vec<u8> = (0..len).map(|j| (i * 31 + j) as u8).collect();
        let kind = if i % 3 == 0 {
            wire::Kind::Start
        } else {
            wire::Kind::Data
        };
        wire::write_frame(&mut out, kind, &[&p]).unwrap();
        sent.push((kind, p));
    }
    let mut buf = Vec::new();
    for round in 0..3 {
        let mut r = wire::FrameReader::with_buffer(Dribble(&out, round), std::mem::take(&mut buf));
        for (i, (kind, p)) in sent.iter().enumerate() {
            let (k, len) = r.next_prefix().unwrap().unwrap();
            assert_eq!((k, len), (*kind, p.len()));
            let mut got = Vec::new();
            match (i + round) % 3 {
                0 => got.extend_from_slice(r.payload(len).unwrap()),
                1 => {
                    while got.len() < len {
                        let c = r.next_chunk(len - got.len()).unwrap().to_vec();
                        assert!(!c.is_empty());
                        got.extend_from_slice(&c);
                    }
                }
                _ => {
                    let mut tmp = vec![0u8; if i % 2 == 0 { 100 } else { 9000 }];
                    while got.len() < len {
                        let n = r.read_some(&mut tmp, len - got.len()).unwrap();
                        got.extend_from_slice(&tmp[..n]);
                    }
                }
            }
            assert_eq!(&got, p, "frame {i} round {round}");
        }
        assert!(r.next_prefix().unwrap().is_none());
        buf = r.into_buffer();
        assert!(buf.len() >= 4096);
    }
}

#[test]
fn wire_reader_sees_an_end_frame_already_buffered_after_the_last_chunk() {
    let mut out = Vec::new();
    wire::write_frame(&mut out, wire::Kind::Data, &[b"hello"]).unwrap();
    wire::write_frame(&mut out, wire::Kind::End, &[]).unwrap();
    wire::write_frame(&mut out, wire::Kind::Data, &[b"abc"]).unwrap();
    wire::write_frame(&mut out, wire::Kind::Data, &[b"def"]).unwrap();
    let mut r = wire::FrameReader::new(&out[..]);
    assert_eq!(r.next_prefix().unwrap(), Some((wire::Kind::Data, 5)));
    assert_eq!(r.next_chunk_and_end(5).unwrap(), (&b"hello"[..], true));
    assert_eq!(r.next_prefix().unwrap(), Some((wire::Kind::Data, 3)));
    // Followed by another Data frame, not End: nothing is consumed.
    assert_eq!(r.next_chunk_and_end(3).unwrap(), (&b"abc"[..], false));
    assert_eq!(r.next_prefix().unwrap(), Some((wire::Kind::Data, 3)));
    // Partial chunk: never reports the end.
    assert_eq!(r.next_chunk_and_end(3).unwrap(), (&b"def"[..], false));
    assert_eq!(r.next_prefix().unwrap(), None);
}

#[test]
fn wire_reader_grows_its_buffer_only_for_large_reads() {
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut small = Vec::new();
    wire::write_frame(&mut small, wire::Kind::Data, &[b"hi"]).unwrap();
    // A small response leaves the buffer at its first size.
    let mut r = wire::FrameReader::growing(&small[..], vec![0u8; 4096], 65536);
    let (_, len) = r.next_prefix().unwrap().unwrap();
    assert_eq!(r.payload(len).unwrap(), b"hi");
    assert_eq!(r.into_buffer().len(), 4096);
    // A large one grows it (up to the maximum) and still reads exactly.
    let mut out = Vec::new();
    wire::write_frame(&mut out, wire::Kind::Data, &[&big]).unwrap();
    let mut r = wire::FrameReader::growing(&out[..], vec![0u8; 4096], 65536);
    let (_, len) = r.next_prefix().unwrap().unwrap();
    let mut got = Vec::new();
    while got.len() < len {
        let c = r.next_chunk(len - got.len()).unwrap();
        got.extend_from_slice(c);
    }
    assert_eq!(got, big);
    assert_eq!(r.into_buffer().len(), 65536);
}

// ---- directive lines read as mod_wsgi reads them (ap_getword_conf + name=value)

#[test]
fn conf_word_strips_leading_quotes_only() {
    use config::words::next_conf_word;
    let mut line = "  'a b' \"c\\\"d\" e'f' g\\\\h 'x\\'y\\\\z'  ";
    let mut got = Vec::new();
    while !line.is_empty() {
        got.push(next_conf_word(&mut line));
    }
    assert_eq!(got, ["a b", "c\"d", "e'f'", "g\\h", "x'y\\z"]);
    // An unterminated quote runs to the end of the line.
    let mut line = "'abc def";
    assert_eq!(next_conf_word(&mut line), "abc def");
    assert_eq!(line, "");
    // A backslash before anything else stays.
    let mut line = "'a\\b' c\\d";
    assert_eq!(next_conf_word(&mut line), "a\\b");
    assert_eq!(next_conf_word(&mut line), "c\\d");
}

#[test]
fn option_values_lose_their_quotes() {
    use config::words::option_words;
    let w = option_words(
        "'localhost:9876' display-name='(wsgi:localhost:9876:0)' home='/srv/my app' \
         python-path='' lang='C.UTF-8' locale=\"en_US.UTF-8\" threads=5",
        1,
    );
    assert_eq!(
        w,
        [
            "localhost:9876",
            "display-name=(wsgi:localhost:9876:0)",
            "home=/srv/my app",
            "python-path=",
            "lang=C.UTF-8",
            "locale=en_US.UTF-8",
            "threads=5",
        ]
    );
    // Positional words are read with their quotes stripped too.
    let w = option_words(
        "'/my app' \"/srv/a b.wsgi\" process-group='g 1' application-group=%{GLOBAL}",
        2,
    );
    assert_eq!(
        w,
        [
            "/my app",
            "/srv/a b.wsgi",
            "process-group=g 1",
            "application-group=%{GLOBAL}"
        ]
    );
}

#[test]
fn option_quoted_whole_or_without_equals_is_not_an_option() {
    use config::words::option_words;
    // mod_wsgi reads the name up to '=': `'home` is not an option name.
    assert_eq!(
        option_words("g 'home=/tmp' threads=2", 1),
        ["g", "'home=/tmp'", "threads=2"]
    );
    assert_eq!(option_words("g threads 2", 1), ["g", "threads"]);
    assert_eq!(option_words("g =5 threads=2", 1), ["g", "=5"]);
}

#[test]
fn daemon_group_from_express_line() {
    use config::daemon::DaemonGroup;
    use config::words::option_words;
    let g = DaemonGroup::parse(&option_words(
        "'localhost:8000' display-name='(wsgi:localhost:8000:0)' home='/srv' threads=5 \
         maximum-requests=0 python-path='/srv/a:/srv/b' python-eggs='/tmp/eggs' \
         lang='C.UTF-8' locale='C.UTF-8'",
        1,
    ))
    .unwrap();
    assert_eq!(g.name, "localhost:8000");
    assert_eq!(g.home.as_deref(), Some("/srv"));
    assert_eq!(g.lang.as_deref(), Some("C.UTF-8"));
    assert_eq!(g.locale.as_deref(), Some("C.UTF-8"));
    assert_eq!(g.python_path, ["/srv/a", "/srv/b"]);
    assert_eq!(g.python_eggs.as_deref(), Some("/tmp/eggs"));
    assert_eq!(g.display_name.as_deref(), Some("(wsgi:localhost:8000:0)"));
    let e = DaemonGroup::parse(&option_words("g 'home=/tmp'", 1)).unwrap_err();
    assert!(e.contains("'home=/tmp' is quoted as a whole"), "{e}");
    assert!(e.ends_with("home='/tmp'"), "{e}");
    let e = DaemonGroup::parse(&option_words("g \"threads=2\"", 1)).unwrap_err();
    assert!(e.ends_with("threads=\"2\""), "{e}");
}

#[test]
fn alias_and_script_options_lose_their_quotes() {
    use config::scripts::{HandlerScript, ScriptRef};
    use config::words::option_words;
    let o = AliasOptions::parse(
        "WSGIScriptAlias",
        &option_words(
            "/ /srv/a.wsgi process-group='g' application-group='%{GLOBAL}'",
            2,
        )[2..],
    )
    .unwrap();
    assert_eq!(o.process_group.as_deref(), Some("g"));
    assert_eq!(o.application_group.as_deref(), Some("%{GLOBAL}"));
    let h = HandlerScript::parse(&option_words(
        "wsgi-handler '/r/handler.wsgi' process-group='localhost:80' application-group=%{GLOBAL}",
        2,
    ))
    .unwrap();
    assert_eq!(
        (h.path.as_str(), h.process_group.as_deref()),
        ("/r/handler.wsgi", Some("localhost:80"))
    );
    let s = ScriptRef::parse(
        "WSGIAccessScript",
        &option_words("/a.py application-group='x y'", 1),
    )
    .unwrap();
    assert_eq!(s.application_group.as_deref(), Some("x y"));
    let e = AliasOptions::parse(
        "WSGIScriptAlias",
        &option_words("/ /a 'process-group=g'", 2)[2..],
    )
    .unwrap_err();
    assert!(e.ends_with("process-group='g'"), "{e}");
}

#[test]
fn wire_large_writes_split_into_frames_below_the_limit() {
    // One app write of any size becomes frames of at most the data frame
    // size, in order, covering every byte exactly once.
    let a: Vec<u8> = (0..2_500_000u32).map(|i| i as u8).collect();
    let b = vec![7u8; 10];
    for max in [1usize, 3, 1000, wire::DATA_FRAME] {
        let parts: [&[u8]; 3] = [&a[..max.min(a.len()) * 3 % a.len()], &[], &b];
        let frames = wire::split_frames(&parts, max);
        let joined: Vec<u8> = frames
            .iter()
            .flatten()
            .flat_map(|p| p.iter().copied())
            .collect();
        assert_eq!(joined, parts.concat());
        for f in &frames {
            let n: usize = f.iter().map(|p| p.len()).sum();
            assert!(n <= max && n > 0, "{n} > {max}");
        }
    }
    assert_eq!(wire::split_frames(&[], 10), vec![Vec::<&[u8]>::new()]);
}

#[test]
fn wire_lengths_above_the_limit_are_refused_on_both_sides() {
    // The writer refuses a payload above MAX_FRAME (no cut to 32 bits)...
    let big = vec![0u8; wire::MAX_FRAME + 1];
    let mut out = Vec::new();
    let e = wire::write_frame(&mut out, wire::Kind::Data, &[&big]).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    assert!(out.is_empty());
    // ... and the reader refuses a prefix announcing one, even one whose
    // length would wrap.
    for len in [wire::MAX_FRAME as u32 + 1, u32::MAX] {
        let mut f = vec![b'D'];
        f.extend_from_slice(&len.to_le_bytes());
        let mut r = wire::FrameReader::new(&f[..]);
        assert_eq!(
            r.next_prefix().unwrap_err().kind(),
            std::io::ErrorKind::InvalidData
        );
    }
    // exactly the limit passes
    let ok = vec![1u8; wire::MAX_FRAME];
    wire::write_frame(&mut out, wire::Kind::Data, &[&ok]).unwrap();
    let mut r = wire::FrameReader::new(&out[..]);
    assert_eq!(
        r.next_prefix().unwrap().unwrap(),
        (wire::Kind::Data, wire::MAX_FRAME)
    );
}

// ------------------------------------------------ interpreter options

use config::interp_options::{
    group_name, parse_section_args, parse_switch_interval, InterpreterOptions, Options, Section,
};

fn section(pg: Option<&str>, ag: Option<&str>, options: Options) -> Section {
    Section {
        process_group: pg.map(group_name),
        application_group: ag.map(group_name),
        options,
    }
}

fn gil(on: bool) -> Options {
    Options {
        per_interpreter_gil: Some(on),
        ..Options::default()
    }
}

#[test]
fn interpreter_options_section_args() {
    let s = parse_section_args("process-group=web application-group=%{GLOBAL}").unwrap();
    assert_eq!(s.process_group.as_deref(), Some("web"));
    assert_eq!(s.application_group.as_deref(), Some(""));
    let s = parse_section_args("").unwrap();
    assert_eq!((s.process_group, s.application_group), (None, None));
    let s = parse_section_args("application-group=\"app one\"").unwrap_err();
    assert!(s.contains("one"), "{s}");
    assert!(parse_section_args("bogus=1").unwrap_err().contains("bogus"));
    assert!(parse_section_args("process-group=a process-group=b")
        .unwrap_err()
        .contains("twice"));
    assert!(parse_section_args("process-group").is_err());
}

#[test]
fn interpreter_options_switch_interval() {
    assert_eq!(parse_switch_interval("0.005"), Ok(0.005));
    assert_eq!(parse_switch_interval(" 1 "), Ok(1.0));
    for bad in ["0", "-1", "abc", "inf", "NaN", ""] {
        assert!(
            parse_switch_interval(bad)
                .unwrap_err()
                .contains("WSGISwitchInterval"),
            "{bad}"
        );
    }
}

#[test]
fn interpreter_options_most_specific_section_wins() {
    let opts = InterpreterOptions {
        base: gil(false),
        sections: vec![
            section(Some("web"), Some("A"), gil(true)),
            section(None, None, gil(true)),
            section(Some("web"), None, gil(false)),
            section(None, Some("A"), gil(false)),
        ],
    };
    // two selectors beat one and none, whatever the order
    assert_eq!(opts.resolve("web", "A").per_interpreter_gil, Some(true));
    // one selector beats none
    assert_eq!(opts.resolve("web", "B").per_interpreter_gil, Some(false));
    assert_eq!(opts.resolve("", "A").per_interpreter_gil, Some(false));
    // only the catch-all matches
    assert_eq!(opts.resolve("other", "C").per_interpreter_gil, Some(true));
    // %{GLOBAL} is the empty name: embedded mode, main interpreter
    let opts = InterpreterOptions {
        base: Options::default(),
        sections: vec![section(Some("%{GLOBAL}"), Some("%{GLOBAL}"), gil(true))],
    };
    assert_eq!(opts.resolve("", "").per_interpreter_gil, Some(true));
    assert_eq!(opts.resolve("", "A").per_interpreter_gil, None);
    assert_eq!(opts.resolve("web", "").per_interpreter_gil, None);
}

#[test]
fn interpreter_options_later_section_wins_a_tie() {
    let opts = InterpreterOptions {
        base: Options::default(),
        sections: vec![
            section(None, Some("A"), gil(true)),
            section(Some("web"), None, gil(false)),
        ],
    };
    assert_eq!(opts.resolve("web", "A").per_interpreter_gil, Some(false));
    let opts = InterpreterOptions {
        base: Options::default(),
        sections: vec![
            section(None, Some("A"), gil(false)),
            section(None, Some("A"), gil(true)),
        ],
    };
    assert_eq!(opts.resolve("", "A").per_interpreter_gil, Some(true));
}

#[test]
fn interpreter_options_merge_with_the_base() {
    let opts = InterpreterOptions {
        base: Options {
            per_interpreter_gil: Some(true),
            switch_interval: Some(0.01),
            python_path: vec!["/base".into()],
            restrict_stdout: Some(true),
            ..Options::default()
        },
        sections: vec![section(
            None,
            Some("A"),
            Options {
                switch_interval: Some(0.002),
                python_path: vec!["/a".into()],
                restrict_stdin: Some(true),
                ..Options::default()
            },
        )],
    };
    let a = opts.resolve("", "A");
    assert_eq!(
        a.per_interpreter_gil,
        Some(true),
        "unset in the section: the base's"
    );
    assert_eq!(a.switch_interval, Some(0.002));
    assert_eq!(
        a.python_path,
        vec!["/base".to_owned(), "/a".to_owned()],
        "path adds to the base"
    );
    assert_eq!(
        (a.restrict_stdin, a.restrict_stdout),
        (Some(true), Some(true))
    );
    assert_eq!(opts.resolve("", "B"), opts.base);
    assert_eq!(
        opts.with_switch_interval(Some(0.5))
            .resolve("", "B")
            .switch_interval,
        Some(0.5)
    );
    assert_eq!(opts.with_switch_interval(None), opts);
}

#[test]
fn interpreter_options_new_features() {
    let mut opts = InterpreterOptions::default();
    assert!(!opts.uses_new_features());
    opts.base.switch_interval = Some(0.01);
    assert!(
        !opts.uses_new_features(),
        "switch interval works on every Python"
    );
    opts.sections.push(section(None, Some("A"), gil(true)));
    assert!(opts.uses_new_features());
}

#[test]
fn wire_reader_runs_the_whole_data_frames_already_buffered() {
    use std::io::Read;
    use wire::Kind::{Data, End, File};
    let mut out = Vec::new();
    for (kind, p) in [
        (Data, &b"ab"[..]),
        (Data, b"cd"),
        (Data, b"ef"),
        (File, b"xx"),
        (Data, b"gh"),
        (Data, b"ij"),
        (Data, b"kl"),
        (End, b""),
    ] {
        wire::write_frame(&mut out, kind, &[p]).unwrap();
    }
    let mut r = wire::FrameReader::new(&out[..]);
    let mut run = [wire::Span::default(); 4];
    let text = |r: &wire::FrameReader<&[u8]>, run: &[wire::Span], n| {
        run[..n]
            .iter()
            .map(|s| r.span(*s).to_vec())
            .collect::<Vec<_>>()
    };
    assert_eq!(r.next_prefix().unwrap(), Some((Data, 2)));
    let t = r.next_data_run(2, &mut run).unwrap();
    assert_eq!((t.current, t.spans, t.ends), (2, 3, false));
    assert_eq!(
        text(&r, &run, 3),
        [b"ab".to_vec(), b"cd".to_vec(), b"ef".to_vec()]
    );
    // A File frame ends the run (its descriptor travels with it).
    assert_eq!(r.next_frame().unwrap(), Some((File, &b"xx"[..])));
    // No more spans than the caller has room for.
    assert_eq!(r.next_prefix().unwrap(), Some((Data, 2)));
    let t = r.next_data_run(2, &mut run[..2]).unwrap();
    assert_eq!((t.spans, t.ends), (2, false));
    assert_eq!(text(&r, &run, 2), [b"gh".to_vec(), b"ij".to_vec()]);
    assert_eq!(r.next_prefix().unwrap(), Some((Data, 2)));
    let t = r.next_data_run(2, &mut run).unwrap();
    assert_eq!((t.spans, t.ends), (1, true));
    assert_eq!(r.next_prefix().unwrap(), None);

    // A frame not wholly received yet stays for the next read.
    let mut split = Vec::new();
    wire::write_frame(&mut split, Data, &[b"ab"]).unwrap();
    wire::write_frame(&mut split, Data, &[b"cd"]).unwrap();
    let (first, rest) = split.split_at(7 + 3);
    let mut r = wire::FrameReader::new(first.chain(rest));
    assert_eq!(r.next_prefix().unwrap(), Some((Data, 2)));
    let t = r.next_data_run(2, &mut run).unwrap();
    assert_eq!((t.current, t.spans, t.ends), (2, 1, false));
    assert_eq!(r.next_frame().unwrap(), Some((Data, &b"cd"[..])));
}
