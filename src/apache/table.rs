//! APR tables (headers_in, headers_out, subprocess_env, notes).

use std::ffi::CStr;

use super::Pool;
use crate::ffi;

/// A borrowed APR table.
#[derive(Clone, Copy)]
pub struct Table(*mut ffi::apr_table_t);

impl Table {
    /// # Safety
    /// `t` must be a live table for as long as the wrapper is used.
    pub unsafe fn from_raw(t: *mut ffi::apr_table_t) -> Self {
        Table(t)
    }

    /// The value of `key` (case-insensitive), borrowed from the table.
    pub fn get(&self, key: &CStr) -> Option<&[u8]> {
        // SAFETY: the table is live; the returned string lives as long as
        // the table entry, which the borrow of self approximates.
        unsafe { super::cstr_bytes(ffi::apr_table_get(self.0, key.as_ptr())) }
    }

    /// Sets `key` to `value`; both are copied by APR.
    pub fn set(&self, pool: Pool, key: &[u8], value: &[u8]) {
        // SAFETY: both strings are copied into the pool, then set without a
        // second copy; the table is live.
        unsafe { ffi::apr_table_setn(self.0, pool.strdup(key), pool.strdup(value)) }
    }

    /// Adds another `key` entry (repeated headers are kept).
    pub fn add(&self, pool: Pool, key: &[u8], value: &[u8]) {
        // SAFETY: as in set.
        unsafe { ffi::apr_table_addn(self.0, pool.strdup(key), pool.strdup(value)) }
    }

    pub fn unset(&self, key: &CStr) {
        // SAFETY: the table is live.
        unsafe { ffi::apr_table_unset(self.0, key.as_ptr()) }
    }
}

impl Table {
    /// The entries as borrowed byte strings. Table strings live in the
    /// pool of the request or connection that owns the table, so callers
    /// keep the result no longer than the request.
    pub fn entries<'a>(&self) -> Vec<(&'a [u8], &'a [u8])> {
        // SAFETY: apr_table_t is an apr_array_header_t of apr_table_entry_t
        // (apr_table_elts); the table is live; the strings are pool-owned.
        unsafe {
            let arr = self.0.cast::<ffi::apr_array_header_t>();
            let n = (*arr).nelts.max(0) as usize;
            // Exactly sized: a vector of 1 KiB or more makes glibc
            // consolidate its fast bins on every request.
            let mut out = Vec::with_capacity(n);
            let elts = (*arr).elts.cast::<ffi::apr_table_entry_t>();
            for i in 0..n {
                let e = &*elts.add(i);
                if let Some(key) = super::cstr_bytes(e.key) {
                    out.push((key, super::cstr_bytes(e.val).unwrap_or(b"")));
                }
            }
            out
        }
    }
}
