//! C extension modules and sub-interpreters: a module built with
//! single-phase initialisation is shared between interpreters in ways it
//! was never written for (and the simplified GIL API deadlocks there), so
//! the bootstrap of a named sub-interpreter asks here about every
//! extension it loads and logs one warning for each such module.

use pyo3::prelude::*;
use pyo3::{ffi, wrap_pyfunction};

/// True when `module` (made by the extension loader) does not support
/// sub-interpreters: it uses single-phase initialisation (its definition
/// has no `m_slots`, or it has no definition at all, see
/// `compat::SINGLE_PHASE_COPY_HAS_NO_DEF`), or it says so
/// (`Py_mod_multiple_interpreters` = not supported, 3.12+; numpy 2.4).
#[pyfunction]
fn _native_single_phase(module: &Bound<'_, PyAny>) -> bool {
    // SAFETY: the GIL is held; PyModule_GetDef accepts any module object
    // and returns null (setting no error for modules) when there is none;
    // a definition's slot array ends with a zero slot id.
    unsafe {
        if ffi::PyModule_Check(module.as_ptr()) == 0 {
            return false;
        }
        let def = ffi::PyModule_GetDef(module.as_ptr());
        if def.is_null() {
            ffi::PyErr_Clear();
            return super::compat::SINGLE_PHASE_COPY_HAS_NO_DEF;
        }
        let mut slot = (*def).m_slots;
        if slot.is_null() {
            return true;
        }
        while (*slot).slot != 0 {
            if super::compat::refuses_subinterpreters(&*slot) {
                return true;
            }
            slot = slot.add(1);
        }
        false
    }
}

/// Adds `_native_single_phase` to the bootstrap module.
pub fn install(module: &Bound<'_, pyo3::types::PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(_native_single_phase, module)?)
}
