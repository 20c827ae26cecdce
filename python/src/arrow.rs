//! Frames in and out through the Arrow PyCapsule interface, with polars' own arrow crate
//! (polars-arrow's C data and C stream interfaces): no second arrow implementation.
//!
//! In: any object with `__arrow_c_stream__` (a pyarrow table, a polars frame, a pandas
//! frame from 2.2 on) or `__arrow_c_array__` (a record batch). Each column's buffers are
//! taken over as they are (no copy) where polars keeps the type; strings become polars'
//! string views (one pass). Out: [`ArrowFrame`], which exports a `DataFrame` as a stream
//! the caller's library (`pyarrow.table`, `polars.from_arrow`) imports.

use std::ffi::CStr;

use bandit_engine::polars::prelude::*;
use polars_arrow::array::{Array, StructArray};
use polars_arrow::datatypes::{ArrowDataType, Field};
use polars_arrow::ffi::{self, ArrowArray, ArrowArrayStream, ArrowArrayStreamReader, ArrowSchema};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyTuple};

const STREAM: &CStr = c"arrow_array_stream";
const SCHEMA: &CStr = c"arrow_schema";
const ARRAY: &CStr = c"arrow_array";

fn polars_err(e: PolarsError) -> PyErr {
    PyValueError::new_err(format!("arrow import: {e}"))
}

/// The polars frame behind a Python frame (see the module doc).
pub fn import_frame(obj: &Bound<'_, PyAny>) -> PyResult<DataFrame> {
    if obj.hasattr("__arrow_c_stream__")? {
        let capsule = obj.call_method0("__arrow_c_stream__")?;
        let capsule = capsule.cast::<PyCapsule>()?;
        let ptr = capsule.pointer_checked(Some(STREAM))?;
        // The capsule keeps ownership of its struct until released: move the stream out
        // and leave a released one behind (the protocol's "move" semantics).
        let stream = unsafe {
            std::ptr::replace(
                ptr.as_ptr().cast::<ArrowArrayStream>(),
                ArrowArrayStream::empty(),
            )
        };
        let mut reader =
            unsafe { ArrowArrayStreamReader::try_new(Box::new(stream)) }.map_err(polars_err)?;
        let field = reader.field().clone();
        let mut batches = Vec::new();
        while let Some(batch) = unsafe { reader.next() } {
            batches.push(batch.map_err(polars_err)?);
        }
        return frame_from_batches(&field, batches);
    }
    if obj.hasattr("__arrow_c_array__")? {
        let pair = obj.call_method0("__arrow_c_array__")?;
        let pair = pair.cast::<PyTuple>()?;
        let schema_capsule = pair.get_item(0)?;
        let schema_capsule = schema_capsule.cast::<PyCapsule>()?;
        let array_capsule = pair.get_item(1)?;
        let array_capsule = array_capsule.cast::<PyCapsule>()?;
        let schema = schema_capsule.pointer_checked(Some(SCHEMA))?;
        let field = unsafe { ffi::import_field_from_c(&*schema.as_ptr().cast::<ArrowSchema>()) }
            .map_err(polars_err)?;
        let array = array_capsule.pointer_checked(Some(ARRAY))?;
        let array =
            unsafe { std::ptr::replace(array.as_ptr().cast::<ArrowArray>(), ArrowArray::empty()) };
        let array = unsafe { ffi::import_array_from_c(array, field.dtype().clone()) }
            .map_err(polars_err)?;
        return frame_from_batches(&field, vec![array]);
    }
    Err(PyTypeError::new_err(format!(
        "expected a frame exporting the Arrow PyCapsule interface (pyarrow, polars, pandas >= 2.2), got {}",
        obj.get_type().name()?
    )))
}

/// Columns of struct batches (a stream's record batches) as one frame, chunk per batch.
fn frame_from_batches(field: &Field, batches: Vec<Box<dyn Array>>) -> PyResult<DataFrame> {
    let ArrowDataType::Struct(fields) = field.dtype() else {
        return Err(PyTypeError::new_err(format!(
            "expected a table (a stream of struct arrays), got arrow type {:?}",
            field.dtype()
        )));
    };
    let mut chunks: Vec<Vec<Box<dyn Array>>> = vec![Vec::new(); fields.len()];
    let mut height = 0;
    for batch in batches {
        let batch = batch
            .as_any()
            .downcast_ref::<StructArray>()
            .ok_or_else(|| PyTypeError::new_err("a stream batch is not a struct array"))?;
        height += batch.len();
        if batch.null_count() > 0 {
            // Record batches have no null rows; a struct column would.
            return Err(PyTypeError::new_err("a stream batch has null rows"));
        }
        for (c, values) in batch.values().iter().enumerate() {
            chunks[c].push(values.clone());
        }
    }
    let columns = fields
        .iter()
        .zip(chunks)
        .map(|(f, arrays)| {
            let series = if arrays.is_empty() {
                Series::new_empty(f.name.clone(), &DataType::from_arrow_field(f))
            } else {
                Series::from_arrow_chunks(f.name.clone(), arrays).map_err(polars_err)?
            };
            Ok(Column::from(series))
        })
        .collect::<PyResult<Vec<_>>>()?;
    DataFrame::new(height, columns).map_err(polars_err)
}

/// A result frame on its way to Python: exports itself through `__arrow_c_stream__`.
#[pyclass(module = "bandit_engine._native", frozen)]
pub struct ArrowFrame {
    frame: DataFrame,
}

impl ArrowFrame {
    /// Wraps `frame`.
    pub fn new(frame: DataFrame) -> Self {
        Self { frame }
    }
}

#[pymethods]
impl ArrowFrame {
    /// Exports the frame as an Arrow C stream (large strings, for the widest reach).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema; // the schema we have is the one we give
        let compat = CompatLevel::oldest();
        let fields: Vec<Field> = self
            .frame
            .columns()
            .iter()
            .map(|c| c.dtype().to_arrow_field(c.name().clone(), compat))
            .collect();
        let dtype = ArrowDataType::Struct(fields);
        let mut frame = self.frame.clone();
        frame.rechunk_mut_par();
        let batches: Vec<PolarsResult<Box<dyn Array>>> = frame
            .iter_chunks(compat, false)
            .map(|batch| {
                let len = batch.len();
                let arrays = batch.into_arrays();
                Ok(StructArray::new(dtype.clone(), len, arrays, None).boxed())
            })
            .collect();
        let field = Field::new("".into(), dtype, false);
        let stream = ffi::export_iterator(Box::new(batches.into_iter()), field);
        PyCapsule::new_with_value(py, stream, STREAM)
    }

    /// Rows.
    fn __len__(&self) -> usize {
        self.frame.height()
    }

    /// Column names, in order.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.frame
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}
