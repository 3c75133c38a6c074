//! Build script: finds Apache's headers through apxs, generates the FFI
//! bindings with bindgen, compiles the C shim, and sets the link flags.
//!
//! httpd and APR are *not* linked: their symbols resolve when httpd loads
//! the module. `-z nodelete` keeps the module mapped across httpd's
//! unload/reload cycles at start-up and on every restart.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=csrc/wrapper.h");
    println!("cargo:rerun-if-changed=csrc/shim.c");
    println!("cargo:rerun-if-changed=csrc/shim.h");
    println!("cargo:rerun-if-env-changed=APXS");

    let apxs = find_apxs();
    let include_dir = apxs_query(&apxs, "INCLUDEDIR");
    let apr_include_dir = apxs_query(&apxs, "APR_INCLUDEDIR");
    let apr_config = apxs_query(&apxs, "APR_CONFIG");
    let cppflags = run(&apr_config, &["--cppflags"]).unwrap_or_default();

    let mut clang_args = vec![format!("-I{include_dir}"), format!("-I{apr_include_dir}")];
    clang_args.extend(cppflags.split_whitespace().map(str::to_owned));
    clang_args.push("-Icsrc".to_owned());

    generate_bindings(&clang_args);
    compile_shim(&clang_args);

    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    // `Py_3_12`, `Py_3_13`… for the Python pyo3 builds against; used only
    // in src/interp/compat.rs.
    pyo3_build_config::use_pyo3_cfgs();
}

/// `APXS` from the environment, else `apxs` or `apxs2` on PATH.
fn find_apxs() -> String {
    if let Ok(path) = env::var("APXS") {
        return path;
    }
    for candidate in ["apxs", "apxs2"] {
        if run(candidate, &["-q", "INCLUDEDIR"]).is_some() {
            return candidate.to_owned();
        }
    }
    panic!(
        "\n\nmod_wsgi_rs: apxs was not found on PATH (set APXS=/path/to/apxs).\n\
         On Debian/Ubuntu install it with: apt-get install apache2-dev\n\n"
    );
}

fn apxs_query(apxs: &str, var: &str) -> String {
    run(apxs, &["-q", var]).unwrap_or_else(|| {
        panic!("\n\nmod_wsgi_rs: `{apxs} -q {var}` failed; is apache2-dev installed?\n\n")
    })
}

fn run(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn generate_bindings(clang_args: &[String]) {
    let bindings = bindgen::Builder::default()
        .header("csrc/wrapper.h")
        .clang_args(clang_args)
        .allowlist_function("(ap|apr|apu|rs)_.*")
        .allowlist_type("(ap|apr|apu)_.*|request_rec|server_rec|conn_rec|module|command_rec|cmd_parms|process_rec|core_dir_config|authn_provider|authz_provider")
        .allowlist_var("(AP|APR|APLOG|HTTP|MODULE|OR|REQUEST|AUTHN|AUTHZ|OPT|M)_.*|OK|DECLINED|DONE|SUSPENDED|ACCESS_CONF|RSRC_CONF|EXEC_ON_READ|NONFATAL_.*|GLOBAL_ONLY|NOT_IN_.*|PROXY_CONF|REMOTE_.*|RS_.*|SERVER_(DEAD|STARTING|READY|BUSY_[A-Z]+|CLOSING|GRACEFUL|IDLE_KILL)")
        .default_macro_constant_type(bindgen::MacroTypeVariation::Signed)
        .generate_cstr(true)
        .layout_tests(false)
        .derive_default(false)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .unwrap_or_else(|e| {
            panic!(
                "\n\nmod_wsgi_rs: bindgen failed: {e}\n\
                 bindgen needs libclang; on Debian/Ubuntu: apt-get install libclang-dev\n\n"
            )
        });
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("bindings.rs");
    bindings.write_to_file(out).expect("write bindings.rs");
}

fn compile_shim(clang_args: &[String]) {
    let mut build = cc::Build::new();
    build
        .file("csrc/shim.c")
        .warnings(true)
        .extra_warnings(true);
    for arg in clang_args {
        if let Some(dir) = arg.strip_prefix("-I") {
            build.include(dir);
        } else if let Some(def) = arg.strip_prefix("-D") {
            match def.split_once('=') {
                Some((k, v)) => build.define(k, Some(v)),
                None => build.define(def, None),
            };
        }
    }
    build.compile("mod_wsgi_rs_shim");
}
