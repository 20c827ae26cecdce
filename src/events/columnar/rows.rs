//! The rows of one event type in a window of the columnar path: a mask over the
//! window, their lines in the file, and the columns cut from the file's arrays for
//! them (strings as filtered views, or left out when the load's projection does not
//! keep them).

use polars::prelude::*;

use super::{Check, BAD};
use crate::error::Result;
use crate::events::cells::{Cells, Columns};
use crate::events::projection::{Projection, Table};
/// Column `i`'s strings in the rows of `mask`, empty strings as null; all null when
/// the file has no such column (or the rows have no text in it).
pub(super) fn text(
    cols: &Columns<Cells>,
    i: usize,
    name: &str,
    mask: &BooleanChunked,
    n: usize,
) -> Result<Column> {
    let Some(Cells::Str(arr)) = cols.cells(i) else {
        return Ok(StringChunked::full_null(name.into(), n).into_column());
    };
    let mut ca = StringChunked::with_chunk(name.into(), arr.clone());
    if arr.views().iter().any(|v| v.length == 0) {
        let filled: Vec<bool> = arr.views().iter().map(|v| v.length != 0).collect();
        let keep = &ca.is_not_null() & &BooleanChunked::from_slice(PlSmallStr::EMPTY, &filled);
        let keep = keep.rechunk();
        let bits = keep.downcast_as_array().values().clone();
        ca = StringChunked::with_chunk(name.into(), arr.clone().with_validity(Some(bits)));
    }
    Ok(ca.filter(mask)?.into_column())
}

/// The values of the rows of `mask`.
pub(super) fn pick<T: Clone>(values: &[T], mask: &[bool]) -> Vec<T> {
    values
        .iter()
        .zip(mask)
        .filter(|(_, &m)| m)
        .map(|(v, _)| v.clone())
        .collect()
}

/// A kept JSON field of the rows of `mask`, all null when the file has no column.
pub(super) fn json_column(
    name: &str,
    values: Option<&Vec<Option<String>>>,
    mask: &[bool],
    n: usize,
) -> Column {
    match values {
        Some(v) => Series::new(name.into(), pick(v, mask)).into_column(),
        None => StringChunked::full_null(name.into(), n).into_column(),
    }
}

/// The rows of a window of type `kinds` (a set of `1 << type`): as a mask, and their
/// lines in the file; and which columns of their table the load keeps.
pub(super) struct Rows<'a> {
    pub(super) mask: Vec<bool>,
    chunk: BooleanChunked,
    pub(super) lines: Vec<u64>,
    keep: &'a Projection,
    table: Table,
}

impl<'a> Rows<'a> {
    pub(super) fn of(c: &Check, kinds: u8, first: u64, keep: &'a Projection, table: Table) -> Self {
        let mask: Vec<bool> = c
            .kind
            .iter()
            .map(|&k| k != BAD && kinds & 1 << k != 0)
            .collect();
        let lines = (0..mask.len())
            .filter(|&r| mask[r])
            .map(|r| first + r as u64 + 1)
            .collect();
        let chunk = BooleanChunked::from_slice(PlSmallStr::EMPTY, &mask);
        Self {
            mask,
            chunk,
            lines,
            keep,
            table,
        }
    }

    /// Column `i`'s strings in these rows, named `name`; `None` when the load does
    /// not keep the column (its cells were validated all the same).
    pub(super) fn text(
        &self,
        cols: &Columns<Cells>,
        i: usize,
        name: &str,
    ) -> Result<Option<Column>> {
        if !self.keep.keeps(self.table, name) {
            return Ok(None);
        }
        text(cols, i, name, &self.chunk, self.lines.len()).map(Some)
    }

    pub(super) fn pick<T: Clone>(&self, values: &[T]) -> Vec<T> {
        pick(values, &self.mask)
    }
}
