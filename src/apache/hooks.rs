//! The module record and hook registration, with the `extern "C"`
//! trampolines generated here: the module layer implements safe traits
//! (a hook's body, its name and its fallback) and never writes `unsafe`.
//! Every trampoline runs its body through the one panic guard.

use std::ffi::{c_void, CStr};
use std::os::raw::{c_char, c_int};

use super::conf::{self, DirConf, ServerConf};
use super::server::Server;
use super::{guard, log, Pool, Request};
use crate::ffi;

/// How a configuration of this type merges with the enclosing one.
pub trait Merge {
    fn merge(base: &Self, add: &Self) -> Self;
}

/// The module's `register_hooks`.
pub trait Register {
    /// The module record (`&raw const` of the exported static).
    fn record() -> *const ffi::module;
    fn register(pool: Pool);
}

/// The module record httpd loads (`LoadModule NAME …` finds it by its
/// symbol), with config constructors and merges for `S` and `D`.
pub const fn module_record<S, D, R>(
    name: &'static CStr,
    commands: *const ffi::command_rec,
) -> ffi::module
where
    S: ServerConf + Default + Merge,
    D: DirConf + Default + Merge,
    R: Register,
{
    ffi::module {
        version: ffi::MODULE_MAGIC_NUMBER_MAJOR as c_int,
        minor_version: ffi::MODULE_MAGIC_NUMBER_MINOR as c_int,
        module_index: -1,
        name: name.as_ptr(),
        dynamic_load_handle: std::ptr::null_mut(),
        next: std::ptr::null_mut(),
        magic: ffi::MODULE_MAGIC_COOKIE as std::os::raw::c_ulong,
        rewrite_args: None,
        create_dir_config: Some(create_dir::<D>),
        merge_dir_config: Some(merge::<D>),
        create_server_config: Some(create_server::<S>),
        merge_server_config: Some(merge::<S>),
        cmds: commands,
        register_hooks: Some(register::<R>),
        flags: 0,
    }
}

/// Declares the exported module record: its symbol, its name, the
/// server and directory configuration types, the command table and the
/// type whose [`Register`] registers the hooks. It also implements
/// [`ServerConf`] and [`DirConf`] for the two types, whose contract this
/// record is what fulfils.
#[macro_export]
macro_rules! module_record {
    ($symbol:ident, $name:literal, $server:ty, $dir:ty, $table:path, $hooks:ty) => {
        /// The module record. httpd writes into it while loading (index,
        /// next), hence `static mut`; Rust reads it only through
        /// `&raw const` pointers.
        #[unsafe(no_mangle)]
        #[used]
        pub static mut $symbol: $crate::ffi::module =
            $crate::apache::hooks::module_record::<$server, $dir, $hooks>($name, $table.as_ptr());

        // SAFETY: the record above is the only one for these slots, and
        // its create_server_config and merge_server_config
        // (module_record::<$server, …>) put a pool-owned $server into
        // every server slot of the module.
        unsafe impl $crate::apache::ServerConf for $server {}
        // SAFETY: likewise its create_dir_config and merge_dir_config put
        // a pool-owned $dir into every per-directory slot.
        unsafe impl $crate::apache::DirConf for $dir {}
    };
}

/// # Safety
/// Called by httpd only, with a live configuration pool.
unsafe extern "C" fn create_dir<D: DirConf + Default>(
    p: *mut ffi::apr_pool_t,
    _dir: *mut c_char,
) -> *mut c_void {
    guard("create_dir_config", std::ptr::null_mut(), || {
        // SAFETY: p is the live config pool httpd passed.
        unsafe { Pool::from_raw(p) }.own(D::default()).cast()
    })
}

/// # Safety
/// Called by httpd only, with a live configuration pool.
unsafe extern "C" fn create_server<S: ServerConf + Default>(
    p: *mut ffi::apr_pool_t,
    _s: *mut ffi::server_rec,
) -> *mut c_void {
    guard("create_server_config", std::ptr::null_mut(), || {
        // SAFETY: p is the live config pool httpd passed.
        unsafe { Pool::from_raw(p) }.own(S::default()).cast()
    })
}

/// # Safety
/// Called by httpd only, with a live pool and two configurations this
/// module's constructors or merges made (so both are `T`).
unsafe extern "C" fn merge<T: Merge>(
    p: *mut ffi::apr_pool_t,
    base: *mut c_void,
    add: *mut c_void,
) -> *mut c_void {
    guard("merge_config", std::ptr::null_mut(), || {
        // SAFETY: base and add were made by create_*/merge for this slot,
        // so both are pool-owned T.
        let merged = unsafe { T::merge(&*base.cast::<T>(), &*add.cast::<T>()) };
        // SAFETY: p is the live pool httpd passed.
        unsafe { Pool::from_raw(p) }.own(merged).cast()
    })
}

/// # Safety
/// Called by httpd only, after it assigned the module index.
unsafe extern "C" fn register<R: Register>(p: *mut ffi::apr_pool_t) {
    guard("register_hooks", (), || {
        conf::set_module(R::record());
        log::set_module_index(conf::module_index());
        // SAFETY: p is the live configuration pool httpd passed.
        R::register(unsafe { Pool::from_raw(p) })
    })
}

/// A NULL-terminated list of module names that orders a hook
/// (`aszPre`/`aszSucc`).
pub struct Order(&'static [*const c_char]);
// SAFETY: the pointers are 'static string literals, only read.
unsafe impl Sync for Order {}

impl Order {
    /// Modules by name, e.g. `Order::new(&[c"mod_alias.c"])`.
    pub const fn new(names: &'static [*const c_char]) -> Order {
        assert!(
            !names.is_empty() && names[names.len() - 1].is_null(),
            "end the list with null"
        );
        Order(names)
    }
    fn ptr(order: Option<&'static Order>) -> *const *const c_char {
        order.map_or(std::ptr::null(), |o| o.0.as_ptr())
    }
}

/// A hook that runs for a request (`translate_name`, `access_checker`,
/// `handler`).
pub trait RequestHook {
    /// Named in the panic guard's log line.
    const NAME: &'static str;
    /// What httpd gets when the body panics.
    const FALLBACK: c_int;
    fn run(r: Request) -> c_int;
}

/// # Safety
/// Called by httpd only, with a live request.
unsafe extern "C" fn request_hook<H: RequestHook>(r: *mut ffi::request_rec) -> c_int {
    // SAFETY: httpd passes a live request for the hook's duration.
    let r = unsafe { Request::from_raw(r) };
    guard(H::NAME, H::FALLBACK, || H::run(r))
}

/// Which request hook to register.
pub enum RequestPhase {
    TranslateName,
    AccessChecker,
    Handler,
}

/// Registers a request hook, ordered after `pre` and before `succ`.
pub fn hook_request<H: RequestHook>(
    phase: RequestPhase,
    pre: Option<&'static Order>,
    succ: Option<&'static Order>,
) {
    let f = Some(request_hook::<H> as unsafe extern "C" fn(*mut ffi::request_rec) -> c_int);
    let (pre, succ, middle) = (
        Order::ptr(pre),
        Order::ptr(succ),
        ffi::APR_HOOK_MIDDLE as c_int,
    );
    // SAFETY: hook registration during register_hooks, with a 'static
    // function and 'static ordering lists.
    unsafe {
        match phase {
            RequestPhase::TranslateName => ffi::ap_hook_translate_name(f, pre, succ, middle),
            RequestPhase::AccessChecker => ffi::ap_hook_access_checker(f, pre, succ, middle),
            RequestPhase::Handler => ffi::ap_hook_handler(f, pre, succ, middle),
        }
    }
}

/// `post_config`: the configuration pool and the main server.
pub trait PostConfig {
    fn run(pconf: Pool, main: Server) -> c_int;
}

/// `child_init` (the child's pool) or `test_config` (`apache2 -t`, the
/// configuration pool), with the main server.
pub trait ServerHook {
    /// Named in the panic guard's log line.
    const NAME: &'static str;
    fn run(pool: Pool, main: Server);
}

/// Which server hook to register.
pub enum ServerPhase {
    ChildInit,
    TestConfig,
}

/// # Safety
/// Called by httpd only, with live pools and the main server.
unsafe extern "C" fn post_config<H: PostConfig>(
    pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
    s: *mut ffi::server_rec,
) -> c_int {
    guard("post_config", ffi::OK as c_int, || {
        // SAFETY: httpd passes the live configuration pool and main server.
        let (pool, main) = unsafe { (Pool::from_raw(pconf), Server::from_raw(s)) };
        H::run(pool, main)
    })
}

/// # Safety
/// Called by httpd only, with a live pool and the main server.
unsafe extern "C" fn server_hook<H: ServerHook>(p: *mut ffi::apr_pool_t, s: *mut ffi::server_rec) {
    guard(H::NAME, (), || {
        // SAFETY: httpd passes a live pool and the main server.
        let (pool, main) = unsafe { (Pool::from_raw(p), Server::from_raw(s)) };
        H::run(pool, main)
    })
}

/// Registers the `post_config` hook.
pub fn hook_post_config<H: PostConfig>() {
    let (none, middle) = (std::ptr::null(), ffi::APR_HOOK_MIDDLE as c_int);
    // SAFETY: registration during register_hooks with a 'static function.
    unsafe { ffi::ap_hook_post_config(Some(post_config::<H>), none, none, middle) }
}

/// Registers a `child_init` or `test_config` hook.
pub fn hook_server<H: ServerHook>(phase: ServerPhase) {
    let f =
        Some(server_hook::<H> as unsafe extern "C" fn(*mut ffi::apr_pool_t, *mut ffi::server_rec));
    let (none, middle) = (std::ptr::null(), ffi::APR_HOOK_MIDDLE as c_int);
    // SAFETY: registration during register_hooks with a 'static function.
    unsafe {
        match phase {
            ServerPhase::ChildInit => ffi::ap_hook_child_init(f, none, none, middle),
            ServerPhase::TestConfig => ffi::ap_hook_test_config(f, none, none, middle),
        }
    }
}

/// Ends the process with status 1, as httpd does for a configuration it
/// rejects (`apache2 -t` prints the reason first).
pub fn fail_configuration() -> ! {
    std::process::exit(1)
}
