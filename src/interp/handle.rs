//! Rust values handed to Python as capsules ("handles"): the request
//! objects of the adapter keep their Rust state in one, so the same code
//! works in every interpreter without PyO3 class objects (which are
//! process-wide and must not be shared between interpreters).

use std::ffi::CStr;

use pyo3::prelude::*;
use pyo3::types::PyCapsule;

/// A Rust type that can travel in a capsule; `NAME` tags the capsule so a
/// handle of one type is never read as another.
pub trait HandleType: Send + 'static {
    const NAME: &'static CStr;
}

/// Wraps `value` in a new capsule owned by Python (dropped with it).
pub fn new<T: HandleType>(py: Python<'_>, value: T) -> PyResult<Bound<'_, PyCapsule>> {
    PyCapsule::new_with_value(py, value, T::NAME)
}

/// The value inside a capsule made by [`new`] for the same type.
pub fn get<'a, T: HandleType>(capsule: &'a Bound<'_, PyAny>) -> PyResult<&'a T> {
    let capsule = capsule.cast::<PyCapsule>()?;
    let ptr = capsule.pointer_checked(Some(T::NAME))?;
    // SAFETY: the name check proves the capsule was made by `new::<T>`,
    // which stores a `T`; the capsule (borrowed for 'a) keeps it alive, and
    // handles are never mutated through the pointer (interior mutability
    // only, behind locks).
    Ok(unsafe { ptr.cast::<T>().as_ref() })
}
