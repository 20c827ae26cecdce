//! Python bindings of bandit-engine (the `bandit_engine._native` extension module):
//! frames in and out through the Arrow PyCapsule interface, the library's typed errors
//! as exceptions, long work without the GIL. The Python package `bandit_engine` wraps it.

mod arrow;
mod engine;
mod errors;
mod model;
mod ope;
mod progress;
mod records;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    m.add_class::<arrow::ArrowFrame>()?;
    m.add_class::<model::Model>()?;
    m.add_class::<engine::Resolver>()?;
    m.add_class::<engine::Outcome>()?;
    m.add_function(wrap_pyfunction!(model::fit, m)?)?;
    m.add_function(wrap_pyfunction!(engine::metrics, m)?)?;
    m.add_function(wrap_pyfunction!(engine::retrain, m)?)?;
    m.add_function(wrap_pyfunction!(ope::evaluate, m)?)?;
    Ok(())
}
