//! `mod_wsgi_rs-express`: serve a WSGI application with Apache and
//! mod_wsgi_rs in one command, in the spirit of `mod_wsgi-express`.
//!
//! The command writes a complete `httpd.conf` into a server root and then
//! either runs Apache in the foreground (`start-server`), leaves an
//! `apachectl` wrapper behind (`setup-server`), or prints the `LoadModule`
//! line for a system Apache (`module-config`). It is std only and does not
//! link the module: Apache loads the module, this binary only configures it.
//!
//! Layout: `args` parses the command line, `checks` explains problems in one
//! line before Apache is involved, `conf` renders the generated files,
//! `run` carries out the subcommands, `help` holds the `--help` texts and
//! `monitor` is the reload watcher.

mod args;
mod checks;
mod conf;
mod help;
mod monitor;
mod run;
#[cfg(test)]
mod tests;

use std::process::ExitCode;

/// The program name every message starts with.
pub const PROG: &str = "mod_wsgi_rs-express";

/// Why a subcommand stopped. Each maps to one line on stderr and an exit
/// code: 2 for a command line we cannot use, 1 for everything else.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// A bad command line; the string is the subcommand whose `--help`
    /// the message points to (empty for the top level).
    Usage(String, &'static str),
    /// The command line is fine but the request cannot be carried out.
    Failed(String),
}

impl Failure {
    fn report(&self) -> ExitCode {
        match self {
            Failure::Usage(msg, cmd) => {
                let sub = if cmd.is_empty() {
                    String::new()
                } else {
                    format!(" {cmd}")
                };
                eprintln!("{PROG}: error: {msg}");
                eprintln!("Try '{PROG}{sub} --help'.");
                ExitCode::from(2)
            }
            Failure::Failed(msg) => {
                eprintln!("{PROG}: {msg}");
                ExitCode::from(1)
            }
        }
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match run::main(&argv) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
