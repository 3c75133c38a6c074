//! What a process that runs Python starts it with, for Apache children
//! and daemon processes alike: one place that turns the server-wide
//! configuration and the MPM's facts into `interp::Settings`, and the
//! shared-state plan (`WSGISharedCache`) each process copies into `store`.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::apache::server::{self, Server};
use crate::apache::Pool;
use crate::config::PythonConfig;
use crate::interp;
use crate::store::{self, Plan};

/// The pool userdata key of a generation's shared-state plan.
const PLAN_KEY: &std::ffi::CStr = c"mod_wsgi_rs:shared-state";

/// The shared-state plan of a configuration pool, created empty on first
/// use: kept on the pool so it lives and dies with the generation.
pub fn shared_plan(pconf: Pool) -> Arc<Mutex<Plan>> {
    if let Some(plan) = pconf.shared::<Mutex<Plan>>(PLAN_KEY) {
        return plan;
    }
    let plan = Arc::new(Mutex::new(Plan::default()));
    pconf.set_shared(PLAN_KEY, plan.clone());
    plan
}

/// In a child or daemon process: makes the plan available to the
/// `mod_wsgi_rs` module of this process.
pub fn configure_shared_state(s: Server) {
    if s.as_ptr().is_null() {
        return;
    }
    store::configure(shared_plan(s.process_pool()).lock().clone());
}

/// The Python settings of a process from the server-wide configuration
/// and the MPM's facts; daemon processes override their group's options.
pub fn python_settings(py_conf: &PythonConfig) -> interp::Settings {
    interp::Settings {
        python_home: py_conf.home.clone(),
        python_path: py_conf.path.clone(),
        optimize: py_conf.optimize,
        dont_write_bytecode: py_conf.dont_write_bytecode,
        warnings: py_conf.warnings.clone(),
        hash_seed: py_conf.hash_seed,
        python_eggs: py_conf.python_eggs.clone(),
        restrict_stdin: py_conf.restrict_stdin,
        restrict_stdout: py_conf.restrict_stdout,
        restrict_signal: py_conf.restrict_signal.unwrap_or(true),
        destroy_interpreter: py_conf.destroy_interpreter.unwrap_or(true),
        threads_per_process: server::mpm_threads_per_child(),
        maximum_processes: server::mpm_max_daemons(),
        apache_version: server::apache_version(),
        server_description: server::description(),
        mpm_name: server::mpm_name(),
        build_date: server::build_date(),
        process_group: String::new(),
        server_metrics: py_conf.server_metrics,
        interpreter: py_conf.interpreter.clone(),
    }
}
