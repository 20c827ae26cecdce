//! The library's progress reports forwarded to a Python object with `start(stage,
//! total)`, `advance(n)` and `finish()` (the package wraps tqdm in one). The work runs
//! without the GIL; each report takes it briefly, from whichever thread reports.

use bandit_engine::progress::{NoProgress, Progress};
use pyo3::prelude::*;

/// Forwards to a Python sink; a sink that raises is ignored (a progress bar must not
/// fail a retrain).
pub struct PyProgress {
    sink: Py<PyAny>,
}

impl Progress for PyProgress {
    fn start(&self, stage: &str, total: u64) {
        Python::attach(|py| {
            let _ = self.sink.call_method1(py, "start", (stage, total));
        });
    }

    fn advance(&self, n: u64) {
        Python::attach(|py| {
            let _ = self.sink.call_method1(py, "advance", (n,));
        });
    }

    fn finish(&self) {
        Python::attach(|py| {
            let _ = self.sink.call_method0(py, "finish");
        });
    }
}

/// The progress a call reports to: the sink given, or nothing.
pub enum Reporter {
    /// No sink.
    Silent(NoProgress),
    /// A Python sink.
    Python(PyProgress),
}

impl Reporter {
    /// From the `progress` argument (None: silent).
    pub fn new(sink: Option<Py<PyAny>>) -> Self {
        match sink {
            Some(sink) => Self::Python(PyProgress { sink }),
            None => Self::Silent(NoProgress),
        }
    }

    /// As the library's trait object.
    pub fn get(&self) -> &dyn Progress {
        match self {
            Self::Silent(p) => p,
            Self::Python(p) => p,
        }
    }
}
