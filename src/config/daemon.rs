//! `WSGIDaemonProcess name [option=value ...]`: every option of mod_wsgi
//! 4.9.4, parsed from one table. Defaults are mod_wsgi's raw directive
//! defaults (inventory §1.4), not mod_wsgi-express's. An unknown option or
//! a bad value is an error naming the option and the fix; options this
//! build accepts without acting on are listed by [`DaemonGroup::inert`]
//! so start-up can log a notice.

use super::words::{parse_on_off, quoted_whole, split_option};

/// A user or group as written: a name or `#id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ident {
    Name(String),
    Id(u32),
}

impl Ident {
    fn parse(option: &str, value: &str) -> Result<Ident, String> {
        if let Some(id) = value.strip_prefix('#') {
            return id.parse().map(Ident::Id).map_err(|_| {
                format!("'{option}={value}': expected a name or #number, e.g. {option}=www-data")
            });
        }
        if value.is_empty() {
            return Err(format!("'{option}=' needs a value, e.g. {option}=www-data"));
        }
        Ok(Ident::Name(value.to_owned()))
    }
}

/// One daemon process group. Each field is the `WSGIDaemonProcess`
/// option of the same name (`_` for `-`, sizes in bytes, times in
/// seconds), documented in docs/directives/WSGIDaemonProcess.md; fields
/// that are not an option say why they exist.
#[derive(Clone, Debug, PartialEq)]
pub struct DaemonGroup {
    pub name: String,
    /// Where the directive is (`file:line`), for the duplicate-name error.
    pub defined_at: Option<String>,
    /// `script-user=`/`script-group=` resolved to a numeric id when the
    /// directive is read (the Apache children check it per request and
    /// must not call the non-reentrant `getpwnam` from many threads).
    pub script_owner_id: Option<u32>,
    pub processes: u32,
    /// `processes=` was given (mod_wsgi then sets `wsgi.multiprocess`).
    pub processes_given: bool,
    pub threads: u32,
    pub user: Option<Ident>,
    pub group: Option<Ident>,
    pub supplementary_groups: Vec<String>,
    pub umask: Option<u32>,
    pub chroot: Option<String>,
    pub home: Option<String>,
    pub lang: Option<String>,
    pub locale: Option<String>,
    pub python_home: Option<String>,
    pub python_path: Vec<String>,
    pub python_eggs: Option<String>,
    pub stack_size: Option<u64>,
    pub maximum_requests: u64,
    pub startup_timeout: u64,
    pub shutdown_timeout: u64,
    pub deadlock_timeout: u64,
    pub inactivity_timeout: u64,
    pub request_timeout: u64,
    pub interrupt_timeout: u64,
    pub graceful_timeout: u64,
    pub eviction_timeout: u64,
    pub restart_interval: u64,
    pub connect_timeout: u64,
    pub socket_timeout: u64,
    pub queue_timeout: u64,
    pub listen_backlog: u32,
    pub socket_user: Option<Ident>,
    pub display_name: Option<String>,
    pub send_buffer_size: u64,
    pub receive_buffer_size: u64,
    pub header_buffer_size: u64,
    pub response_buffer_size: u64,
    pub response_socket_timeout: u64,
    pub response_flush_delay_ms: u64,
    pub script_user: Option<Ident>,
    pub script_group: Option<Ident>,
    pub cpu_time_limit: u64,
    pub cpu_priority: i32,
    pub memory_limit: u64,
    pub virtual_memory_limit: u64,
    pub server_metrics: bool,
    pub switch_interval: Option<f64>,
    /// Options given that this build parses but does not act on.
    pub inert: Vec<String>,
}

impl DaemonGroup {
    pub fn new(name: &str) -> DaemonGroup {
        DaemonGroup {
            name: name.to_owned(),
            processes: 1,
            processes_given: false,
            threads: 15,
            defined_at: None,
            script_owner_id: None,
            user: None,
            group: None,
            supplementary_groups: Vec::new(),
            umask: None,
            chroot: None,
            home: None,
            lang: None,
            locale: None,
            python_home: None,
            python_path: Vec::new(),
            python_eggs: None,
            stack_size: None,
            maximum_requests: 0,
            startup_timeout: 0,
            shutdown_timeout: 5,
            deadlock_timeout: 300,
            inactivity_timeout: 0,
            request_timeout: 0,
            // mod_wsgi 6's interrupt-timeout: how long a thread has to
            // unwind from RequestTimeout before its process is replaced.
            interrupt_timeout: 5,
            graceful_timeout: 15,
            eviction_timeout: 0,
            restart_interval: 0,
            connect_timeout: 15,
            socket_timeout: 0,
            queue_timeout: 0,
            listen_backlog: 100,
            socket_user: None,
            display_name: None,
            send_buffer_size: 0,
            receive_buffer_size: 0,
            header_buffer_size: 0,
            response_buffer_size: 0,
            response_socket_timeout: 0,
            response_flush_delay_ms: 5,
            script_user: None,
            script_group: None,
            cpu_time_limit: 0,
            cpu_priority: 0,
            memory_limit: 0,
            virtual_memory_limit: 0,
            server_metrics: false,
            switch_interval: None,
            inert: Vec::new(),
        }
    }

    /// Parses the arguments of `WSGIDaemonProcess` (name first).
    pub fn parse(words: &[String]) -> Result<DaemonGroup, String> {
        let Some(name) = words.first() else {
            return Err(
                "requires a group name, e.g. WSGIDaemonProcess myapp processes=2 threads=15".into(),
            );
        };
        if name.contains('=') || name.is_empty() {
            return Err(format!(
                "the first argument must be the group name, not '{name}' (e.g. WSGIDaemonProcess myapp {name})"
            ));
        }
        let mut g = DaemonGroup::new(name);
        for word in &words[1..] {
            let Some((key, value)) = split_option(word) else {
                return Err(format!(
                    "invalid option '{word}' for daemon process group '{name}': options are name=value"
                ));
            };
            if let Some(why) = quoted_whole(key, value) {
                return Err(why);
            }
            let Some(opt) = OPTIONS.iter().find(|o| o.name == key) else {
                return Err(format!(
                    "unknown option '{key}' for daemon process group '{name}'; see docs/directives/WSGIDaemonProcess.md for the options"
                ));
            };
            (opt.set)(&mut g, key, value)?;
            if !opt.effective && !g.inert.iter().any(|k| k == key) {
                g.inert.push(key.to_owned());
            }
        }
        if g.script_user.is_some() && g.script_group.is_some() {
            return Err("options 'script-user' and 'script-group' cannot both be set".into());
        }
        Ok(g)
    }

    /// `display-name` with `%{GROUP}` expanded to `(wsgi:NAME)`.
    pub fn process_title(&self) -> Option<String> {
        self.display_name
            .as_ref()
            .map(|d| d.replace("%{GROUP}", &format!("(wsgi:{})", self.name)))
    }

    /// mod_wsgi sets `wsgi.multiprocess` when `processes=` is given at all.
    pub fn multiprocess(&self) -> bool {
        self.processes_given || self.processes > 1
    }
}

/// One row of the option table.
struct Opt {
    name: &'static str,
    /// False: accepted for compatibility, a notice is logged.
    effective: bool,
    set: fn(&mut DaemonGroup, &str, &str) -> Result<(), String>,
}

fn int(option: &str, value: &str, min: i64, max: i64) -> Result<i64, String> {
    let v: i64 = value.trim().parse().map_err(|_| {
        format!(
            "'{option}={value}': expected a whole number, e.g. {option}={}",
            min.max(1)
        )
    })?;
    if v < min || v > max {
        return Err(format!(
            "'{option}={value}': must be between {min} and {max}"
        ));
    }
    Ok(v)
}

fn secs(option: &str, value: &str) -> Result<u64, String> {
    Ok(int(option, value, 0, 365 * 24 * 3600)? as u64)
}

/// A buffer size: 0 (the default) or at least `min` bytes.
fn buffer(option: &str, value: &str, min: i64) -> Result<u64, String> {
    let v = int(option, value, 0, i64::from(i32::MAX))?;
    if v != 0 && v < min {
        return Err(format!("'{option}={value}': must be 0 or at least {min}"));
    }
    Ok(v as u64)
}

fn abs_dir(option: &str, value: &str) -> Result<String, String> {
    if !value.starts_with('/') {
        return Err(format!("'{option}={value}': must be an absolute path"));
    }
    Ok(value.to_owned())
}

macro_rules! opt {
    ($name:literal, $eff:expr, |$g:ident, $k:ident, $v:ident| $body:expr) => {
        Opt {
            name: $name,
            effective: $eff,
            set: |$g: &mut DaemonGroup, $k: &str, $v: &str| -> Result<(), String> {
                $body;
                Ok(())
            },
        }
    };
}

static OPTIONS: &[Opt] = &[
    opt!("processes", true, |g, k, v| {
        g.processes = int(k, v, 1, 1024)? as u32;
        g.processes_given = true
    }),
    // threads=0: a service-script process (WSGIImportScript), no requests.
    opt!("threads", true, |g, k, v| g.threads =
        int(k, v, 0, 0xffff - 2)? as u32),
    opt!("user", true, |g, k, v| g.user = Some(Ident::parse(k, v)?)),
    opt!("group", true, |g, k, v| g.group = Some(Ident::parse(k, v)?)),
    opt!("supplementary-groups", true, |g, k, v| {
        let list: Vec<String> = v
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if list.len() > 64 {
            return Err(format!("'{k}': too many groups (at most 64)"));
        }
        g.supplementary_groups = list
    }),
    opt!("umask", true, |g, k, v| {
        g.umask = Some(
            u32::from_str_radix(v, 8)
                .ok()
                .filter(|m| *m <= 0o777)
                .ok_or_else(|| format!("'{k}={v}': expected an octal mode, e.g. {k}=0007"))?,
        )
    }),
    opt!("chroot", true, |g, k, v| {
        g.chroot = Some(abs_dir(k, v)?);
        Err::<(), String>(format!(
            "[WSGI-RS-E435] '{k}=' is not supported by this version (a daemon would run unconfined while \
             the configuration asks for a chroot); remove it and confine the group with user= and file \
             permissions, or run Apache in a container"
        ))?
    }),
    opt!("home", true, |g, k, v| g.home = Some(abs_dir(k, v)?)),
    opt!("lang", true, |g, _k, v| g.lang = Some(v.to_owned())),
    opt!("locale", true, |g, _k, v| g.locale = Some(v.to_owned())),
    opt!("python-home", true, |g, _k, v| g.python_home =
        Some(v.to_owned())),
    opt!("python-path", true, |g, _k, v| {
        g.python_path = v
            .split(':')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    }),
    opt!("python-eggs", true, |g, _k, v| g.python_eggs =
        Some(v.to_owned())),
    opt!("stack-size", true, |g, k, v| g.stack_size =
        Some(int(k, v, 1, i64::MAX)? as u64)),
    opt!("maximum-requests", true, |g, k, v| g.maximum_requests =
        int(k, v, 0, i64::MAX)? as u64),
    opt!("startup-timeout", true, |g, k, v| g.startup_timeout =
        secs(k, v)?),
    opt!("shutdown-timeout", true, |g, k, v| g.shutdown_timeout =
        secs(k, v)?),
    opt!("deadlock-timeout", true, |g, k, v| g.deadlock_timeout =
        secs(k, v)?),
    opt!("inactivity-timeout", true, |g, k, v| g.inactivity_timeout =
        secs(k, v)?),
    opt!("request-timeout", true, |g, k, v| g.request_timeout =
        secs(k, v)?),
    opt!("interrupt-timeout", true, |g, k, v| g.interrupt_timeout =
        secs(k, v)?),
    opt!("graceful-timeout", true, |g, k, v| g.graceful_timeout =
        secs(k, v)?),
    opt!("eviction-timeout", true, |g, k, v| g.eviction_timeout =
        secs(k, v)?),
    opt!("restart-interval", true, |g, k, v| g.restart_interval =
        secs(k, v)?),
    opt!("connect-timeout", true, |g, k, v| g.connect_timeout =
        secs(k, v)?),
    opt!("socket-timeout", true, |g, k, v| g.socket_timeout =
        secs(k, v)?),
    opt!("queue-timeout", true, |g, k, v| g.queue_timeout =
        secs(k, v)?),
    opt!("listen-backlog", true, |g, k, v| g.listen_backlog =
        int(k, v, 0, 65535)? as u32),
    opt!("socket-user", true, |g, k, v| g.socket_user =
        Some(Ident::parse(k, v)?)),
    opt!("display-name", true, |g, _k, v| g.display_name =
        Some(v.to_owned())),
    opt!("send-buffer-size", true, |g, k, v| g.send_buffer_size =
        buffer(k, v, 512)?),
    opt!("receive-buffer-size", true, |g, k, v| g
        .receive_buffer_size =
        buffer(k, v, 512)?),
    opt!("header-buffer-size", true, |g, k, v| g.header_buffer_size =
        buffer(k, v, 8192)?),
    opt!("response-buffer-size", true, |g, k, v| g
        .response_buffer_size =
        buffer(k, v, 65536)?),
    opt!("response-socket-timeout", false, |g, k, v| g
        .response_socket_timeout =
        secs(k, v)?),
    opt!("response-flush-delay", false, |g, k, v| g
        .response_flush_delay_ms =
        secs(k, v)?),
    opt!("script-user", true, |g, k, v| g.script_user =
        Some(Ident::parse(k, v)?)),
    opt!("script-group", true, |g, k, v| g.script_group =
        Some(Ident::parse(k, v)?)),
    opt!("cpu-time-limit", true, |g, k, v| g.cpu_time_limit =
        secs(k, v)?),
    opt!("cpu-priority", true, |g, k, v| g.cpu_priority =
        int(k, v, -20, 20)? as i32),
    opt!("memory-limit", true, |g, k, v| g.memory_limit =
        int(k, v, 0, i64::MAX)? as u64),
    opt!("virtual-memory-limit", true, |g, k, v| {
        g.virtual_memory_limit = int(k, v, 0, i64::MAX)? as u64
    }),
    opt!("server-metrics", true, |g, k, v| g.server_metrics =
        parse_on_off(k, v)?),
    opt!("switch-interval", true, |g, k, v| {
        let f: f64 = v
            .parse()
            .ok()
            .filter(|f: &f64| *f > 0.0 && f.is_finite())
            .ok_or_else(|| format!("'{k}={v}': expected seconds greater than 0, e.g. {k}=0.005"))?;
        g.switch_interval = Some(f)
    }),
    opt!("newrelic-config-file", false, |_g, _k, _v| {}),
    opt!("newrelic-environment", false, |_g, _k, _v| {}),
];

/// The error for a group name defined twice (anywhere in the
/// configuration: daemon groups share one namespace, as in mod_wsgi).
pub fn duplicate_message(first: &DaemonGroup, second: &DaemonGroup) -> String {
    let at = |g: &DaemonGroup| g.defined_at.clone().unwrap_or_else(|| "?".into());
    format!(
        "[WSGI-RS-E430] Name duplicates previous WSGI daemon definition: 'WSGIDaemonProcess {}' is defined at {} \
         and again at {}; daemon process group names must be unique across the whole configuration, virtual \
         hosts included: rename one of them (and the WSGIProcessGroup / process-group= that select it)",
        first.name,
        at(first),
        at(second)
    )
}

/// The option names this build knows, in table order.
pub fn option_names() -> impl Iterator<Item = &'static str> {
    OPTIONS.iter().map(|o| o.name)
}

/// Resolves a process group name as `WSGIProcessGroup` and
/// `process-group=` write it: `None` for embedded mode (`%{GLOBAL}` or
/// empty), otherwise the name, with `%{ENV:var}` looked up by `env`.
pub fn resolve_group(value: &str, env: impl Fn(&str) -> Option<String>) -> Option<String> {
    if value.is_empty() || value == "%{GLOBAL}" {
        return None;
    }
    if let Some(var) = value
        .strip_prefix("%{ENV:")
        .and_then(|r| r.strip_suffix('}'))
    {
        return env(var).filter(|v| !v.is_empty() && v != "%{GLOBAL}");
    }
    Some(value.to_owned())
}
