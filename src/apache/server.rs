//! Server-level facts: module config vectors, MPM queries, process state.

use std::ffi::c_void;
use std::os::raw::c_int;

use crate::ffi;

/// A live server_rec (a virtual host or the main server), or none: the
/// main server's log.
#[derive(Clone, Copy)]
pub struct Server(*mut ffi::server_rec);

impl Server {
    /// # Safety
    /// `s` must be null or a server_rec of the live configuration.
    pub unsafe fn from_raw(s: *mut ffi::server_rec) -> Self {
        Server(s)
    }
    /// No particular server: logs go to the main error log.
    pub fn none() -> Self {
        Server(std::ptr::null_mut())
    }
    pub fn as_ptr(self) -> *mut ffi::server_rec {
        self.0
    }
    /// The configuration pool of the process (`process->pconf`): cleared
    /// and refilled at every restart, inherited by forked children.
    pub fn process_pool(self) -> super::Pool {
        // SAFETY: a live server_rec's process is httpd's process_rec,
        // whose pconf lives as long as the configuration generation.
        unsafe { super::Pool::from_raw((*(*self.0).process).pconf) }
    }

    /// httpd's process-lifetime pool (`process->pool`): what is kept
    /// there outlives every configuration generation.
    pub fn global_pool(self) -> super::Pool {
        // SAFETY: a live server_rec's process is httpd's process_rec,
        // whose pool lives as long as the process.
        unsafe { super::Pool::from_raw((*(*self.0).process).pool) }
    }

    /// The next virtual host in the configuration.
    pub fn next(self) -> Option<Server> {
        if self.0.is_null() {
            return None;
        }
        // SAFETY: a live server_rec's next is null or live.
        let next = unsafe { (*self.0).next };
        (!next.is_null()).then_some(Server(next))
    }
    /// The config vectors of the server's `<Directory>` and `<Location>`
    /// sections.
    pub fn section_vectors(self) -> Vec<*mut ffi::ap_conf_vector_t> {
        let mut out = Vec::new();
        for which in 0..2 {
            let mut n = 0;
            // SAFETY: the server is live; the shim returns its core
            // section arrays (count n) owned by the configuration pool.
            let items = unsafe { ffi::rs_server_sections(self.0, which, &mut n) };
            for i in 0..n.max(0) as usize {
                // SAFETY: i < n elements of the array.
                out.push(unsafe { *items.add(i) });
            }
        }
        out
    }

    /// The descriptor of the server's `ErrorLog` (`None` for syslog or
    /// no server).
    pub fn error_log_fd(self) -> Option<std::os::fd::RawFd> {
        if self.0.is_null() {
            return None;
        }
        // SAFETY: a live server_rec; error_log is null (syslog) or an
        // open apr_file_t of the configuration.
        let file = unsafe { (*self.0).error_log };
        if file.is_null() {
            return None;
        }
        let mut fd: ffi::apr_os_file_t = -1;
        // SAFETY: fd is a valid out-pointer; file is an open apr_file_t.
        let rc = unsafe { ffi::apr_os_file_get(&mut fd, file) };
        (rc == 0 && fd >= 0).then_some(fd)
    }

    /// `ServerName` (or `-` when unset).
    pub fn name(self) -> String {
        if self.0.is_null() {
            return "-".into();
        }
        // SAFETY: server_hostname is null or a pconf string.
        unsafe { super::cstr_lossy((*self.0).server_hostname) }.unwrap_or_else(|| "-".into())
    }

    /// This module's slot in the server's config vector.
    pub fn module_config(self, m: &ffi::module) -> *mut c_void {
        // SAFETY: the server is live (constructor contract); a null
        // server has no config.
        unsafe { module_config((*self.0).module_config, m) }
    }
}

/// Reads this module's slot in a config vector.
///
/// # Safety
/// `cv` must be a live config vector and `m` the module record.
pub unsafe fn module_config(cv: *mut ffi::ap_conf_vector_t, m: *const ffi::module) -> *mut c_void {
    // SAFETY: per the contract.
    unsafe { ffi::rs_get_module_config(cv, m) }
}

/// Adds `text` to the `Server:` header and the server description
/// (`ap_add_version_component`), copied into `pconf`.
pub fn add_version_component(pconf: super::Pool, text: &str) {
    // SAFETY: pconf is live; httpd keeps the pointer, so the string is
    // copied into pconf, which outlives this configuration generation.
    unsafe { ffi::ap_add_version_component(pconf.as_ptr(), pconf.strdup(text.as_bytes())) }
}

/// `ap_mpm_query` for an integer answer (0 when the query fails).
pub fn mpm_query(code: c_int) -> c_int {
    let mut out: c_int = 0;
    // SAFETY: out is a valid int to write to.
    let rc = unsafe { ffi::ap_mpm_query(code, &mut out) };
    if rc == 0 {
        out
    } else {
        0
    }
}

/// Whether the MPM runs several threads per process.
pub fn mpm_is_threaded() -> bool {
    mpm_query(ffi::AP_MPMQ_IS_THREADED) != ffi::AP_MPMQ_NOT_SUPPORTED as c_int
}

/// `ThreadsPerChild` (1 for prefork).
pub fn mpm_threads_per_child() -> c_int {
    mpm_query(ffi::AP_MPMQ_MAX_THREADS).max(1)
}

/// `MaxRequestWorkers / ThreadsPerChild`: how many children may run.
pub fn mpm_max_daemons() -> c_int {
    mpm_query(ffi::AP_MPMQ_MAX_DAEMONS).max(1)
}

/// True during the first, pre-flight configuration pass at start-up,
/// after which httpd unloads and reloads every module.
pub fn is_preflight() -> bool {
    // SAFETY: ap_state_query only reads process state.
    unsafe {
        ffi::ap_state_query(ffi::AP_SQ_MAIN_STATE as c_int)
            == ffi::AP_SQ_MS_CREATE_PRE_CONFIG as c_int
    }
}

/// True while httpd is exiting (`-k stop`, or a failed start): pools
/// destroyed now end the process, not a configuration generation.
pub fn is_exiting() -> bool {
    // SAFETY: ap_state_query only reads process state.
    unsafe { ffi::ap_state_query(ffi::AP_SQ_MAIN_STATE as c_int) == ffi::AP_SQ_MS_EXITING as c_int }
}

/// Apache's version as (major, minor, patch).
pub fn apache_version() -> (i32, i32, i32) {
    let mut v = std::mem::MaybeUninit::<ffi::ap_version_t>::uninit();
    // SAFETY: ap_get_server_revision fills the struct.
    let v = unsafe {
        ffi::ap_get_server_revision(v.as_mut_ptr());
        v.assume_init()
    };
    (v.major, v.minor, v.patch)
}

fn static_str(p: *const std::os::raw::c_char) -> String {
    // SAFETY: httpd returns static or pconf-owned NUL-terminated strings.
    unsafe { super::cstr_lossy(p) }.unwrap_or_default()
}

/// `Apache/2.4.x (Debian) mod_wsgi_rs/… Python/…`.
pub fn description() -> String {
    // SAFETY: no arguments; returns a string owned by httpd.
    static_str(unsafe { ffi::ap_get_server_description() })
}

/// The MPM's name: `event`, `worker` or `prefork`.
pub fn mpm_name() -> String {
    // SAFETY: no arguments; returns a static string.
    static_str(unsafe { ffi::ap_show_mpm() })
}

/// When httpd was built.
pub fn build_date() -> String {
    // SAFETY: no arguments; returns a static string.
    static_str(unsafe { ffi::ap_get_server_built() })
}
