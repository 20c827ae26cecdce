//! String key columns read in place from their arrow chunks, by row or by span.

use polars::prelude::*;
use rayon::prelude::*;

use super::ROW_SPAN;
use crate::error::Result;

type StrArray = <StringType as PolarsDataType>::Array;

/// A string column's chunks, read by row or by span of rows without copying.
pub(super) struct StrCol<'a> {
    pub(super) chunks: Vec<&'a StrArray>,
    /// Row after each chunk.
    pub(super) ends: Vec<usize>,
}

impl<'a> StrCol<'a> {
    pub(super) fn new(df: &'a DataFrame, name: &str) -> Result<Self> {
        let chunks: Vec<&'a StrArray> = df.column(name)?.str()?.downcast_iter().collect();
        let mut end = 0;
        let ends = chunks
            .iter()
            .map(|c| {
                end += c.len();
                end
            })
            .collect();
        Ok(Self { chunks, ends })
    }

    pub(super) fn get(&self, row: usize) -> Option<&'a str> {
        let k = self.ends.partition_point(|&e| e <= row);
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        let chunk: &'a StrArray = self.chunks[k];
        chunk.get(row - start)
    }

    /// `f(row, value)` for rows `lo..hi`, chunk by chunk.
    fn for_rows(&self, lo: usize, hi: usize, mut f: impl FnMut(usize, Option<&'a str>)) {
        let mut start = 0;
        for (&chunk, &end) in self.chunks.iter().zip(&self.ends) {
            let (a, b) = (lo.max(start), hi.min(end));
            for row in a..b {
                f(row, chunk.get(row - start));
            }
            start = end;
        }
    }
}

/// One run's key list: string columns one after the other, each over all its rows or
/// over the rows listed.
pub(super) struct Keys<'a, 'r> {
    pub(super) parts: Vec<(StrCol<'a>, Option<&'r [u32]>)>,
    /// Key after each part.
    pub(super) ends: Vec<usize>,
}

impl<'a, 'r> Keys<'a, 'r> {
    pub(super) fn new(parts: Vec<(StrCol<'a>, Option<&'r [u32]>)>) -> Self {
        let mut end = 0;
        let ends = parts
            .iter()
            .map(|(c, rows)| {
                end += rows.map_or(c.ends.last().copied().unwrap_or(0), <[u32]>::len);
                end
            })
            .collect();
        Self { parts, ends }
    }

    pub(super) fn len(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }

    pub(super) fn get(&self, i: usize) -> Option<&'a str> {
        let k = self.ends.partition_point(|&e| e <= i);
        let local = i - if k == 0 { 0 } else { self.ends[k - 1] };
        let (col, rows) = &self.parts[k];
        col.get(rows.map_or(local, |r| r[local] as usize))
    }

    /// `f(i, key)` for every key of span `k` of [`ROW_SPAN`] keys, in order.
    pub(super) fn for_span(&self, k: usize, mut f: impl FnMut(usize, Option<&'a str>)) {
        let (lo, hi) = (k * ROW_SPAN, ((k + 1) * ROW_SPAN).min(self.len()));
        let mut start = 0;
        for ((col, rows), &end) in self.parts.iter().zip(&self.ends) {
            let (a, b) = (lo.max(start), hi.min(end));
            if a < b {
                match rows {
                    None => col.for_rows(a - start, b - start, |r, key| f(start + r, key)),
                    Some(rows) => {
                        for i in a..b {
                            f(i, col.get(rows[i - start] as usize));
                        }
                    }
                }
            }
            start = end;
        }
    }

    pub(super) fn spans(&self) -> usize {
        self.len().div_ceil(ROW_SPAN)
    }

    /// `f(key)` of every key, in order, computed in parallel over spans.
    pub(super) fn map<T: Clone + Send + Sync>(
        &self,
        fill: T,
        f: impl Fn(Option<&'a str>) -> T + Sync,
    ) -> Vec<T> {
        let mut out = vec![fill; self.len()];
        out.par_chunks_mut(ROW_SPAN)
            .enumerate()
            .for_each(|(k, out)| self.for_span(k, |i, key| out[i % ROW_SPAN] = f(key)));
        out
    }

    /// The `Some` of `f(i, key)` over every key, in order, computed in parallel over
    /// spans.
    pub(super) fn filter_map<T: Send>(
        &self,
        f: impl Fn(usize, Option<&'a str>) -> Option<T> + Sync,
    ) -> Vec<T> {
        (0..self.spans())
            .into_par_iter()
            .map(|k| {
                let mut part = Vec::new();
                self.for_span(k, |i, key| part.extend(f(i, key)));
                part
            })
            .collect::<Vec<Vec<T>>>()
            .into_iter()
            .flatten()
            .collect()
    }
}

pub(super) fn strs<'a>(df: &'a DataFrame, name: &str) -> Result<Vec<Option<&'a str>>> {
    Ok(df.column(name)?.str()?.iter().collect())
}

pub(super) fn ints(df: &DataFrame, name: &str) -> Result<Vec<Option<i64>>> {
    Ok(df.column(name)?.i64()?.iter().collect())
}
