//! Raw bindings: httpd and APR as bindgen generates them from
//! `csrc/wrapper.h`, plus the C shim (`csrc/shim.c`) for the macros
//! bindgen cannot express. Nothing here is safe to call directly from the
//! upper layers; `crate::apache` wraps what they need.

#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    unreachable_pub,
    improper_ctypes,
    clippy::all,
    clippy::undocumented_unsafe_blocks
)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
