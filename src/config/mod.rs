//! Directive values and merged configuration. Pure Rust: nothing here
//! touches httpd or Python, so it is unit-tested by `tests/pure.rs`.

#![forbid(unsafe_code)]

pub mod alias;
pub mod daemon;
pub mod dir;
pub mod groups;
pub mod interp_options;
pub mod proxy;
pub mod python_home;
pub mod scripts;
pub mod server;
pub mod shared;
pub mod words;

pub use alias::{alias_match_len, AliasOptions};
pub use dir::{DirConfig, HeadMode};
pub use server::{Alias, ImportScript, Pattern, PythonConfig, ServerConfig};
