//! mod_wsgi_rs: an Apache httpd 2.4 module that runs Python WSGI
//! applications. The layers, from the bottom up (see ARCHITECTURE.md):
//!
//! - [`ffi`]: generated httpd/APR bindings and the C shim;
//! - [`apache`]: a safe wrapper over request, pool, table, brigade, config
//!   and log; knows nothing of Python;
//! - [`config`]: directive parsing and merged configuration (pure);
//! - [`interp`]: every raw Python C-API call: start-up, thread states,
//!   script loading;
//! - [`wsgi`]: the WSGI adapter (no `unsafe`), speaking to the server
//!   through the [`wsgi::Backend`] trait;
//! - [`embedded`]: embedded mode (translate_name and the handler);
//! - [`daemon`]: daemon mode (`WSGIDaemonProcess`: supervisors, daemon
//!   processes, and the proxy path in Apache children);
//! - [`module`]: the exported module record, directives and hooks.

pub mod apache;
pub mod config;
pub mod daemon;
pub mod embedded;
pub mod ffi;
pub mod interp;
pub mod module;
pub mod store;
pub mod wsgi;
