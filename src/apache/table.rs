//! APR tables (headers_in, headers_out, subprocess_env, notes).

use std::ffi::CStr;
use std::marker::PhantomData;

use super::Pool;
use crate::ffi;

/// A borrowed APR table of a request (`'r`: the borrow of the request
/// wrapper it came from, which bounds every string read from it).
#[derive(Clone, Copy)]
pub struct Table<'r>(*mut ffi::apr_table_t, PhantomData<&'r ()>);

impl<'r> Table<'r> {
    /// # Safety
    /// `t` must be a live table whose strings live for `'r`.
    pub unsafe fn from_raw(t: *mut ffi::apr_table_t) -> Self {
        Table(t, PhantomData)
    }

    /// The value of `key` (case-insensitive), borrowed from the table.
    pub fn get(&self, key: &CStr) -> Option<&'r [u8]> {
        // SAFETY: the table is live; its strings live in the request's (or
        // connection's) pool, for 'r (constructor contract).
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

impl<'r> Table<'r> {
    /// The entries as borrowed byte strings, living as long as the
    /// request borrow the table came from.
    pub fn entries(&self) -> Vec<(&'r [u8], &'r [u8])> {
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
