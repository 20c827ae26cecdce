//! The library's typed errors as Python exceptions, each carrying its fields as
//! attributes, and the one way long work runs: without the GIL, a panic caught and
//! turned into an exception rather than unwinding into the interpreter.

use std::panic::{catch_unwind, AssertUnwindSafe};

use bandit_engine::Error;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::BoundObject;

create_exception!(
    _native,
    BanditEngineError,
    PyException,
    "Base of every error bandit-engine raises."
);
create_exception!(
    _native,
    ConfigError,
    BanditEngineError,
    "A config that does not parse or validate: file, line, column, key, reason (errors: all of them)."
);
create_exception!(
    _native,
    EventError,
    BanditEngineError,
    "A malformed input record or file (events, or a table given to fit): file, line, field, reason."
);
create_exception!(
    _native,
    PublishRefused,
    BanditEngineError,
    "Publishing refused: a guard failed and nothing was written: file, key, reason."
);
create_exception!(
    _native,
    Locked,
    BanditEngineError,
    "Another publisher holds the output directory's lock: path, reason."
);
create_exception!(
    _native,
    ParameterError,
    BanditEngineError,
    "A parameter outside its domain: name, expected, found."
);

/// Registers the exception classes on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("BanditEngineError", py.get_type::<BanditEngineError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("EventError", py.get_type::<EventError>())?;
    m.add("PublishRefused", py.get_type::<PublishRefused>())?;
    m.add("Locked", py.get_type::<Locked>())?;
    m.add("ParameterError", py.get_type::<ParameterError>())?;
    Ok(())
}

fn with_fields(err: PyErr, fields: &[(&str, Py<PyAny>)]) -> PyErr {
    Python::attach(|py| {
        let value = err.value(py);
        for (name, v) in fields {
            // Setting an attribute on a fresh exception instance cannot fail.
            let _ = value.setattr(*name, v.bind(py));
        }
    });
    err
}

fn obj<T>(py: Python<'_>, v: T) -> Py<PyAny>
where
    T: for<'py> IntoPyObject<'py>,
{
    v.into_pyobject(py)
        .map(|b| b.into_any().unbind())
        .unwrap_or_else(|_| py.None())
}

/// The Python exception for a library error.
pub fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    Python::attach(|py| match e {
        Error::InvalidConfig {
            file,
            line,
            column,
            key,
            reason,
        } => with_fields(
            ConfigError::new_err(msg),
            &[
                ("file", obj(py, file)),
                ("line", obj(py, line)),
                ("column", obj(py, column)),
                ("key", obj(py, key)),
                ("reason", obj(py, reason)),
                ("errors", py.None()),
            ],
        ),
        Error::InvalidConfigs { errors } => config_errors(py, msg, errors),
        Error::InvalidRecord {
            file,
            line,
            field,
            reason,
        } => with_fields(
            EventError::new_err(msg),
            &[
                ("file", obj(py, file)),
                ("line", obj(py, line)),
                ("field", obj(py, field)),
                ("reason", obj(py, reason)),
            ],
        ),
        Error::InvalidEventFile { file, reason } | Error::InvalidTable { file, reason } => {
            with_fields(
                EventError::new_err(msg),
                &[
                    ("file", obj(py, file)),
                    ("line", py.None()),
                    ("field", py.None()),
                    ("reason", obj(py, reason)),
                ],
            )
        }
        Error::Refused { file, key, reason } => with_fields(
            PublishRefused::new_err(msg),
            &[
                ("file", obj(py, file)),
                ("key", obj(py, key)),
                ("reason", obj(py, reason)),
            ],
        ),
        Error::Locked { path, reason } => with_fields(
            Locked::new_err(msg),
            &[
                ("path", obj(py, path.display().to_string())),
                ("reason", obj(py, reason)),
            ],
        ),
        Error::Parameter(p) => parameter(py, msg, &p),
        other => match parameter_inside(&other) {
            Some(p) => parameter(py, msg, p),
            None => BanditEngineError::new_err(msg),
        },
    })
}

/// Several config problems: the first one's place on the exception, all of them in
/// `errors`.
fn config_errors(py: Python<'_>, msg: String, errors: Vec<Error>) -> PyErr {
    let all: Vec<Py<PyAny>> = errors
        .into_iter()
        .map(|e| to_py(e).into_value(py).into_any())
        .collect();
    let first = all.first().map(|e| e.bind(py).clone());
    let field = |name: &str| {
        first
            .as_ref()
            .and_then(|f| f.getattr(name).ok())
            .map_or_else(|| py.None(), Bound::unbind)
    };
    with_fields(
        ConfigError::new_err(msg),
        &[
            ("file", field("file")),
            ("line", field("line")),
            ("column", field("column")),
            ("key", field("key")),
            ("reason", field("reason")),
            ("errors", obj(py, all)),
        ],
    )
}

fn parameter(py: Python<'_>, msg: String, p: &bandit_engine::ParameterError) -> PyErr {
    with_fields(
        ParameterError::new_err(msg),
        &[
            ("name", obj(py, p.name)),
            ("expected", obj(py, p.expected)),
            ("found", obj(py, p.found.clone())),
        ],
    )
}

/// A stage error that wraps a parameter refusal (found through the source chain).
fn parameter_inside(e: &Error) -> Option<&bandit_engine::ParameterError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(p) = s.downcast_ref::<bandit_engine::ParameterError>() {
            return Some(p);
        }
        source = s.source();
    }
    None
}

/// A `ParameterError` raised by the bindings themselves (a keyword of the wrong domain).
pub fn bad_parameter(name: &'static str, expected: &'static str, found: impl ToString) -> PyErr {
    to_py(Error::Parameter(bandit_engine::ParameterError::new(
        name, expected, found,
    )))
}

/// Runs `f` without the GIL (other Python threads go on), catching a panic: a bug
/// surfaces as `BanditEngineError("internal error: ...")`, never as an unwind.
pub fn run<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> bandit_engine::Result<T> + Send,
) -> PyResult<T> {
    let out = py.detach(|| catch_unwind(AssertUnwindSafe(f)));
    match out {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(to_py(e)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            Err(BanditEngineError::new_err(format!(
                "internal error (please report): {what}"
            )))
        }
    }
}

/// A `ValueError` for a malformed argument the library never sees.
pub fn value_error(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}
