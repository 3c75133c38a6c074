//! What a process that runs Python starts it with: one place that turns
//! the server-wide configuration and the MPM's facts into
//! `interp::Settings`, for Apache children and daemon processes alike.

use crate::apache::server;
use crate::config::PythonConfig;
use crate::interp;

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
