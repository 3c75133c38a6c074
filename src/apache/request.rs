//! `request_rec`: the request httpd hands to our hooks.
//!
//! A [`Request`] is built once per hook call from the pointer httpd passed
//! in and never outlives that call; all field access goes through here.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int};

use super::{brigade::Brigade, cstr_bytes, log, Level, Pool, Table};
use crate::ffi;

/// A borrowed, live request.
#[derive(Clone, Copy)]
pub struct Request(*mut ffi::request_rec);

// SAFETY: Request is Copy, so copies can reach other threads: the
// request's backend (behind wsgi's RequestCtx mutex) may be called from a
// thread of the application while the handler still runs. Every use is
// serialised, by the handler's own thread or by that mutex, and ends
// before the handler returns (the context is expired first); httpd's
// request functions do not depend on the calling thread.
unsafe impl Send for Request {}

/// How a request body is read: mirrors `REQUEST_CHUNKED_*`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum BodyPolicy {
    /// Chunked bodies are refused with 411.
    RefuseChunked,
    /// Chunked bodies are de-chunked.
    Dechunk,
}

macro_rules! field {
    ($self:ident . $f:ident) => {
        // SAFETY: the wrapper only exists for a live request_rec.
        unsafe { (*$self.0).$f }
    };
}

impl Request {
    /// # Safety
    /// `r` must be a live request for as long as the wrapper is used.
    pub unsafe fn from_raw(r: *mut ffi::request_rec) -> Self {
        Request(r)
    }

    pub fn as_ptr(self) -> *mut ffi::request_rec {
        self.0
    }

    pub fn pool(self) -> Pool {
        // SAFETY: r->pool lives as long as the request.
        unsafe { Pool::from_raw((*self.0).pool) }
    }

    fn str_field(&self, p: *const c_char) -> Option<&[u8]> {
        // SAFETY: request string fields live in r->pool, for the request.
        unsafe { cstr_bytes(p) }
    }

    pub fn uri(&self) -> &[u8] {
        self.str_field(field!(self.uri)).unwrap_or(b"")
    }
    pub fn filename(&self) -> Option<&[u8]> {
        self.str_field(field!(self.filename))
    }
    pub fn path_info(&self) -> &[u8] {
        self.str_field(field!(self.path_info)).unwrap_or(b"")
    }
    pub fn handler(&self) -> Option<&[u8]> {
        self.str_field(field!(self.handler))
    }
    /// The request target as the client sent it (`r->unparsed_uri`).
    pub fn unparsed_uri(&self) -> &[u8] {
        self.str_field(field!(self.unparsed_uri)).unwrap_or(b"")
    }
    /// The query string (`r->args`), empty when there is none.
    pub fn args(&self) -> &[u8] {
        self.str_field(field!(self.args)).unwrap_or(b"")
    }
    pub fn method(&self) -> &[u8] {
        self.str_field(field!(self.method)).unwrap_or(b"")
    }
    pub fn is_header_only(self) -> bool {
        field!(self.header_only) != 0
    }
    pub fn is_main(self) -> bool {
        field!(self.main).is_null()
    }
    pub fn log_id(&self) -> Option<&[u8]> {
        let mut id = field!(self.log_id);
        if id.is_null() {
            // SAFETY: httpd fills r->log_id through the same hook its own
            // logger uses; the id lives in the request or connection pool.
            unsafe {
                ffi::ap_run_generate_log_id((*self.0).connection, self.0, &mut id);
                (*self.0).log_id = id;
            }
        }
        self.str_field(id)
    }
    /// Request start time, microseconds since the epoch.
    pub fn request_time(self) -> i64 {
        field!(self.request_time)
    }

    pub fn headers_in(&self) -> Table<'_> {
        // SAFETY: request tables live as long as the request.
        unsafe { Table::from_raw((*self.0).headers_in) }
    }
    pub fn headers_out(&self) -> Table<'_> {
        // SAFETY: as above.
        unsafe { Table::from_raw((*self.0).headers_out) }
    }
    pub fn err_headers_out(&self) -> Table<'_> {
        // SAFETY: as above.
        unsafe { Table::from_raw((*self.0).err_headers_out) }
    }
    pub fn subprocess_env(&self) -> Table<'_> {
        // SAFETY: as above.
        unsafe { Table::from_raw((*self.0).subprocess_env) }
    }
    pub fn notes(&self) -> Table<'_> {
        // SAFETY: as above.
        unsafe { Table::from_raw((*self.0).notes) }
    }

    pub fn server(self) -> super::server::Server {
        // SAFETY: r->server is live for the request.
        unsafe { super::server::Server::from_raw((*self.0).server) }
    }
    pub fn per_dir_config(self) -> *mut ffi::ap_conf_vector_t {
        field!(self.per_dir_config)
    }
    pub fn server_config(self) -> *mut ffi::ap_conf_vector_t {
        // SAFETY: r->server is live for the request.
        unsafe { (*(*self.0).server).module_config }
    }

    /// True when the file the URI mapped to exists as a regular file.
    pub fn file_kind(self) -> FileKind {
        let t = field!(self.finfo).filetype;
        if t == ffi::apr_filetype_e_APR_REG {
            FileKind::Regular
        } else if t == ffi::apr_filetype_e_APR_DIR {
            FileKind::Directory
        } else if t == ffi::apr_filetype_e_APR_NOFILE {
            FileKind::Missing
        } else {
            FileKind::Other
        }
    }
    /// Modification time of the mapped file (µs since the epoch).
    pub fn file_mtime(self) -> i64 {
        field!(self.finfo).mtime
    }

    /// `Options ExecCGI` in force for this request.
    pub fn exec_cgi_allowed(self) -> bool {
        // SAFETY: r is live; the shim reads the core per-dir config.
        unsafe { ffi::rs_allow_options(self.0) & ffi::OPT_EXECCGI as c_int != 0 }
    }
    /// `AcceptPathInfo Off` in force for this request.
    pub fn rejects_path_info(self) -> bool {
        // SAFETY: as above.
        unsafe { ffi::rs_accept_path_info(self.0) == ffi::AP_REQ_REJECT_PATH_INFO as c_int }
    }

    /// True when the first output filter works below the protocol level
    /// (deflate, cache, …) and so needs the body: mod_wsgi's
    /// `WSGIMapHEADToGET Auto` test.
    pub fn has_content_filters(self) -> bool {
        let f = field!(self.output_filters);
        if f.is_null() {
            return false;
        }
        // SAFETY: the filter chain is live for the request.
        unsafe {
            let frec = (*f).frec;
            !frec.is_null() && ((*frec).ftype as i64) < ffi::ap_filter_type_AP_FTYPE_PROTOCOL as i64
        }
    }

    pub fn set_filename(self, value: &[u8]) {
        let p = self.pool().strdup(value);
        // SAFETY: the copy lives in r->pool.
        unsafe { (*self.0).filename = p as *mut c_char };
    }
    pub fn set_handler(self, value: &'static CStr) {
        // SAFETY: a 'static string outlives the request.
        unsafe { (*self.0).handler = value.as_ptr() };
    }
    pub fn set_method_get(self) {
        // SAFETY: a 'static string; M_GET is the matching number.
        unsafe {
            (*self.0).method = c"GET".as_ptr();
            (*self.0).method_number = ffi::M_GET as c_int;
        }
    }

    /// Adds Apache's CGI variables to `subprocess_env`.
    pub fn add_cgi_vars(self) {
        // SAFETY: r is live; these fill r->subprocess_env.
        unsafe {
            ffi::ap_add_common_vars(self.0);
            ffi::ap_add_cgi_vars(self.0);
        }
    }

    pub fn set_status(self, status: u16, status_line: &[u8]) {
        let line = self.pool().strdup(status_line);
        // SAFETY: the status line copy lives in r->pool.
        unsafe {
            (*self.0).status = status as c_int;
            (*self.0).status_line = line;
        }
    }
    pub fn set_content_type(self, value: &[u8]) {
        let v = self.pool().strdup(value);
        // SAFETY: ap_set_content_type keeps the pointer; it lives in r->pool.
        unsafe { ffi::ap_set_content_type(self.0, v) }
    }
    pub fn set_content_length(self, len: u64) {
        // SAFETY: r is live.
        unsafe { ffi::ap_set_content_length(self.0, len as ffi::apr_off_t) }
    }

    /// Prepares to read the body; an error status (411, 413, 400) is
    /// returned as `Err`.
    pub fn setup_body(self, policy: BodyPolicy) -> Result<(), c_int> {
        let p = match policy {
            BodyPolicy::RefuseChunked => ffi::REQUEST_CHUNKED_ERROR,
            BodyPolicy::Dechunk => ffi::REQUEST_CHUNKED_DECHUNK,
        };
        // SAFETY: r is live.
        let rc = unsafe { ffi::ap_setup_client_block(self.0, p as c_int) };
        if rc == ffi::OK as c_int {
            Ok(())
        } else {
            Err(rc)
        }
    }
    /// Must be called once after [`setup_body`] before reading.
    pub fn should_read_body(self) -> bool {
        // SAFETY: r is live.
        unsafe { ffi::ap_should_client_block(self.0) != 0 }
    }
    /// Reads up to `buf.len()` body bytes; `Ok(0)` at the end.
    pub fn read_body(self, buf: &mut [u8]) -> Option<usize> {
        // SAFETY: buf is writable for its length; r is live.
        let n = unsafe { ffi::ap_get_client_block(self.0, buf.as_mut_ptr().cast(), buf.len()) };
        usize::try_from(n).ok()
    }

    /// [`Request::read_body`] into memory not initialised yet; returns
    /// how many bytes httpd wrote from the start of `buf`.
    pub fn read_body_uninit(self, buf: &mut [std::mem::MaybeUninit<u8>]) -> Option<usize> {
        // SAFETY: httpd only writes into buf (up to its length) through a
        // raw pointer; r is live.
        let n = unsafe { ffi::ap_get_client_block(self.0, buf.as_mut_ptr().cast(), buf.len()) };
        usize::try_from(n).ok()
    }

    pub fn connection_aborted(self) -> bool {
        // SAFETY: r->connection is live for the request.
        unsafe { (*(*self.0).connection).aborted != 0 }
    }
    /// Marks the connection not to be kept alive.
    pub fn close_connection(self) {
        // SAFETY: as above.
        unsafe { (*(*self.0).connection).keepalive = ffi::ap_conn_keepalive_e_AP_CONN_CLOSE };
    }

    /// A new brigade in the request pool.
    pub fn new_brigade(self) -> Brigade {
        // SAFETY: r->pool and the connection's allocator are live.
        unsafe { Brigade::new(self.pool(), (*(*self.0).connection).bucket_alloc) }
    }
    /// Passes `bb` down the output filters.
    pub fn pass(self, bb: &Brigade) -> Result<(), ffi::apr_status_t> {
        // SAFETY: the filter chain and brigade are live.
        let rc = unsafe { ffi::ap_pass_brigade((*self.0).output_filters, bb.as_ptr()) };
        bb.cleanup();
        if rc == 0 {
            Ok(())
        } else {
            Err(rc)
        }
    }

    pub fn log(self, level: Level, msg: &str) {
        // SAFETY: the wrapper exists only for a live request.
        unsafe { log::request(self.0, level, msg) }
    }
}

/// What the request's URI mapped to on disk.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FileKind {
    Regular,
    Directory,
    Missing,
    Other,
}

impl Request {
    /// The listening address the connection arrived on: the host as the
    /// `Listen` directive gave it (if any) and the port.
    pub fn local_listener(self) -> (Option<Vec<u8>>, u16) {
        // SAFETY: the connection and its local address live for the request.
        unsafe {
            let c = (*self.0).connection;
            let addr = (*c).local_addr;
            if addr.is_null() {
                return (None, 0);
            }
            (
                cstr_bytes((*addr).hostname).map(<[u8]>::to_vec),
                (*addr).port,
            )
        }
    }
}

impl Request {
    /// The virtual host's name for this request (`ap_get_server_name`).
    pub fn server_name(self) -> String {
        // SAFETY: r is live; the name is owned by the request or server.
        unsafe { super::cstr_lossy(ffi::ap_get_server_name(self.0)) }.unwrap_or_default()
    }
    /// The port of this request (`ap_get_server_port`).
    pub fn server_port(self) -> u16 {
        // SAFETY: r is live.
        unsafe { ffi::ap_get_server_port(self.0) }
    }
    /// The host the client asked for, without the port (`r->hostname`).
    pub fn hostname(self) -> Option<String> {
        // SAFETY: r->hostname is null or a pooled string.
        unsafe { super::cstr_lossy((*self.0).hostname) }
    }
}

impl Request {
    /// True when the connection is TLS (mod_ssl or another provider).
    pub fn is_ssl(self) -> bool {
        // SAFETY: r->connection is live for the request.
        unsafe { ffi::ap_ssl_conn_is_ssl((*self.0).connection) != 0 }
    }

    /// An SSL variable (`SSL_PROTOCOL`, `HTTPS`, …) as mod_ssl reports it.
    pub fn ssl_var(self, name: &str) -> Option<String> {
        let name = std::ffi::CString::new(name).ok()?;
        // SAFETY: r, its pool, server and connection are live; the result
        // is null or a pooled string.
        unsafe {
            let r = self.0;
            let v =
                ffi::ap_ssl_var_lookup((*r).pool, (*r).server, (*r).connection, r, name.as_ptr());
            super::cstr_lossy(v)
        }
    }
}
