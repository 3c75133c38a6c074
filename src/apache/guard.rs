//! The one panic guard. Every `extern "C"` function httpd calls runs its
//! body through [`guard`], so a Rust panic is logged and turned into a
//! fallback value (500, DECLINED, an error string) instead of unwinding
//! into C, which would abort the Apache process.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::log::{self, Level};

/// Runs `body`; if it panics, logs `[WSGI-RS-E001]` naming `entry` and
/// returns `fallback`.
pub fn guard<T>(entry: &str, fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(payload) => {
            let msg = format!(
                "[WSGI-RS-E001] internal error in {entry}: {}; please report this bug",
                panic_message(&*payload)
            );
            log::server(super::server::Server::none(), Level::Error, &msg);
            fallback
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}
