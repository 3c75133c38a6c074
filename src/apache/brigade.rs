//! Bucket brigades for response output.

use crate::ffi;

use super::Pool;

/// A brigade allocated in a request pool.
pub struct Brigade {
    raw: *mut ffi::apr_bucket_brigade,
    pool: Pool,
}

// SAFETY: a brigade belongs to one request and is used by one thread at
// a time: the request's backend sits behind a mutex (wsgi's RequestCtx),
// reached from the thread handling the request or from a thread of the
// application while the handler still runs; APR brigades and httpd's
// filters do not depend on the calling thread, only on not being used
// concurrently. The handler expires the backend before it returns.
unsafe impl Send for Brigade {}

impl Brigade {
    /// # Safety
    /// `pool` and `alloc` must outlive the brigade.
    pub unsafe fn new(pool: Pool, alloc: *mut ffi::apr_bucket_alloc_t) -> Self {
        // SAFETY: per the contract.
        let raw = unsafe { ffi::apr_brigade_create(pool.as_ptr(), alloc) };
        Brigade { raw, pool }
    }

    pub fn as_ptr(&self) -> *mut ffi::apr_bucket_brigade {
        self.raw
    }

    /// Appends `data` without copying: it must stay alive until the
    /// brigade is passed (filters that keep it set it aside, i.e. copy).
    pub fn append_transient(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        // SAFETY: the brigade is live; data outlives the pass (see above).
        unsafe { ffi::rs_brigade_append_transient(self.raw, data.as_ptr().cast(), data.len()) }
    }
    pub fn append_flush(&self) {
        // SAFETY: the brigade is live.
        unsafe { ffi::rs_brigade_append_flush(self.raw) }
    }
    pub fn append_eos(&self) {
        // SAFETY: the brigade is live.
        unsafe { ffi::rs_brigade_append_eos(self.raw) }
    }
    /// An error bucket plus EOS: httpd ends the response without a clean
    /// end (no last chunk) and closes the connection.
    pub fn append_abort(&self) {
        // SAFETY: the brigade and pool are live.
        unsafe { ffi::rs_brigade_append_error(self.raw, ffi::HTTP_BAD_GATEWAY, self.pool.as_ptr()) }
    }
    /// Appends `len` bytes of `file` from `offset` as file buckets.
    ///
    /// # Safety
    /// `file` must be an APR file open in the brigade's pool.
    pub unsafe fn append_file(&self, file: *mut ffi::apr_file_t, offset: u64, len: u64) {
        // SAFETY: per the contract.
        unsafe {
            ffi::rs_brigade_append_file(
                self.raw,
                file,
                offset as ffi::apr_off_t,
                len as ffi::apr_off_t,
                self.pool.as_ptr(),
            )
        }
    }
    pub fn cleanup(&self) {
        // SAFETY: the brigade is live; cleanup empties it.
        unsafe { ffi::apr_brigade_cleanup(self.raw.cast()) };
    }
}

impl Brigade {
    /// Appends `len` bytes of the OS file `fd` from `offset`, sent from a
    /// duplicate descriptor owned by the brigade's pool (the caller may
    /// close `fd` afterwards). `sendfile` lets the core use sendfile(2).
    pub fn append_fd(
        &self,
        fd: i32,
        offset: u64,
        len: u64,
        sendfile: bool,
    ) -> Result<(), ffi::apr_status_t> {
        let mut flags = ffi::APR_FOPEN_READ;
        if sendfile {
            flags |= ffi::APR_FOPEN_SENDFILE_ENABLED;
        }
        let mut os_fd: ffi::apr_os_file_t = fd;
        let mut borrowed: *mut ffi::apr_file_t = std::ptr::null_mut();
        let mut owned: *mut ffi::apr_file_t = std::ptr::null_mut();
        // SAFETY: apr_os_file_put wraps fd without taking ownership;
        // apr_file_dup creates a new descriptor owned by (and closed with)
        // the pool; the pool outlives the brigade's use of the buckets.
        unsafe {
            let rc = ffi::apr_os_file_put(&mut borrowed, &mut os_fd, flags, self.pool.as_ptr());
            if rc != 0 {
                return Err(rc);
            }
            let rc = ffi::apr_file_dup(&mut owned, borrowed, self.pool.as_ptr());
            if rc != 0 {
                return Err(rc);
            }
            self.append_file(owned, offset, len);
        }
        Ok(())
    }
}
