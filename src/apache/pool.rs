//! APR pools: string copies whose lifetime is the pool's, and Rust values
//! owned by a pool (dropped by a pool cleanup).

use std::any::Any;
use std::ffi::{c_void, CStr};
use std::os::raw::c_char;
use std::sync::Arc;

use crate::ffi;

/// A borrowed APR pool.
#[derive(Clone, Copy)]
pub struct Pool(*mut ffi::apr_pool_t);

impl Pool {
    /// # Safety
    /// `p` must be a live pool for as long as the wrapper is used.
    pub unsafe fn from_raw(p: *mut ffi::apr_pool_t) -> Self {
        Pool(p)
    }

    pub fn as_ptr(self) -> *mut ffi::apr_pool_t {
        self.0
    }

    /// Copies `s` into the pool as a NUL-terminated string (NULs in `s`
    /// end the C string early).
    pub fn strdup(self, s: &[u8]) -> *const c_char {
        // SAFETY: the pool is live; apr_pstrmemdup copies len bytes and
        // appends a NUL.
        unsafe { ffi::apr_pstrmemdup(self.0, s.as_ptr().cast(), s.len()) }
    }

    /// Moves `value` into the pool: it is dropped when the pool is cleared
    /// or destroyed. Returns a pointer valid for the pool's lifetime.
    pub fn own<T>(self, value: T) -> *mut T {
        let raw = Box::into_raw(Box::new(value));
        // SAFETY: raw stays valid until the cleanup runs drop_box::<T> once.
        unsafe {
            ffi::apr_pool_cleanup_register(
                self.0,
                raw.cast(),
                Some(drop_box::<T>),
                Some(ffi::apr_pool_cleanup_null),
            )
        };
        raw
    }

    /// Attaches `value` to the pool under `key` (APR pool userdata); it is
    /// dropped when the pool is cleared. Per-generation state that is not
    /// configuration hangs here, on the configuration pool, rather than
    /// in a static.
    pub fn set_shared<T: Send + Sync + 'static>(self, key: &'static CStr, value: Arc<T>) {
        let holder: *mut Arc<dyn Any + Send + Sync> = self.own(value);
        // SAFETY: the pool is live; key is 'static (setn does not copy
        // it); holder is pool-owned, so it outlives the userdata entry,
        // which is dropped with the same pool.
        unsafe { ffi::apr_pool_userdata_setn(holder.cast(), key.as_ptr(), None, self.0) };
    }

    /// The value attached under `key` by [`Pool::set_shared`], if it has
    /// type `T`.
    pub fn shared<T: Send + Sync + 'static>(self, key: &'static CStr) -> Option<Arc<T>> {
        let mut data: *mut c_void = std::ptr::null_mut();
        // SAFETY: the pool is live; data is a valid out-parameter.
        unsafe { ffi::apr_pool_userdata_get(&mut data, key.as_ptr(), self.0) };
        // SAFETY: only set_shared stores under our keys, always a
        // pool-owned Arc<dyn Any + Send + Sync>; null when unset.
        let holder = unsafe { data.cast::<Arc<dyn Any + Send + Sync>>().as_ref() }?;
        holder.clone().downcast::<T>().ok()
    }

    /// Runs `f` when the pool is cleared or destroyed.
    pub fn on_cleanup(self, f: Box<dyn FnOnce()>) {
        let holder: *mut Option<Box<dyn FnOnce()>> = self.own(Some(f));
        // SAFETY: holder is owned by the pool and outlives this cleanup,
        // which is registered after it and so runs before it (LIFO).
        unsafe {
            ffi::apr_pool_cleanup_register(
                self.0,
                holder.cast(),
                Some(run_closure),
                Some(ffi::apr_pool_cleanup_null),
            )
        };
    }
}

unsafe extern "C" fn drop_box<T>(data: *mut c_void) -> ffi::apr_status_t {
    super::guard("pool cleanup", 0, || {
        // SAFETY: data came from Box::into_raw in Pool::own and this
        // cleanup runs exactly once.
        drop(unsafe { Box::from_raw(data.cast::<T>()) });
        0
    })
}

unsafe extern "C" fn run_closure(data: *mut c_void) -> ffi::apr_status_t {
    super::guard("pool cleanup", 0, || {
        // SAFETY: data is the live Option<Box<dyn FnOnce()>> from on_cleanup.
        let slot = unsafe { &mut *data.cast::<Option<Box<dyn FnOnce()>>>() };
        if let Some(f) = slot.take() {
            f();
        }
        0
    })
}
