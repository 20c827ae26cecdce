//! The columnar reader's tables merged with the rows its row path took, in file order.

use polars::prelude::*;

use super::{track_rows, EventTables};
use crate::error::Result;

/// The order of `a` and `b` (each ascending, disjoint) merged, as indices into `a`
/// then `b` stacked.
fn merged(a: &[u64], b: &[u64]) -> Vec<IdxSize> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len() + b.len());
    while i < a.len() || j < b.len() {
        if j == b.len() || (i < a.len() && a[i] < b[j]) {
            out.push(i as IdxSize);
            i += 1;
        } else {
            out.push((a.len() + j) as IdxSize);
            j += 1;
        }
    }
    out
}

impl EventTables {
    /// These tables and `other`'s merged by source row: `x` and `t` give each
    /// exposure and track row's line in the file (ascending in each, disjoint between
    /// the two); track rows are renumbered. These tables must have no attribution
    /// entries (the columnar reader's never do).
    ///
    /// # Errors
    ///
    /// [`Error::Polars`] only if polars refuses to stack or gather columns of equal
    /// length, which would be a bug.
    pub(in crate::events) fn merge(
        self,
        x: &[u64],
        t: &[u64],
        other: EventTables,
        other_x: &[u64],
        other_t: &[u64],
    ) -> Result<EventTables> {
        let gather = |a: &DataFrame, b: &DataFrame, order: Vec<IdxSize>| -> Result<DataFrame> {
            Ok(a.vstack(b)?
                .take(&IdxCa::from_vec(PlSmallStr::EMPTY, order))?)
        };
        let exposures = gather(&self.exposures, &other.exposures, merged(x, other_x))?;
        let order = merged(t, other_t);
        // Where each stacked track row ends up.
        let mut at = vec![0u32; order.len()];
        for (k, &j) in order.iter().enumerate() {
            at[j as usize] = k as u32;
        }
        let mut tracks = gather(&self.tracks, &other.tracks, order)?;
        let n = track_rows(tracks.height())?;
        tracks.with_column(
            Series::new("track_row".into(), (0..n).collect::<Vec<u32>>()).into_column(),
        )?;
        let mut attributions = other.attributions;
        if attributions.height() > 0 {
            let rows = attributions
                .column("track_row")?
                .u32()?
                .apply_values(|r| at[t.len() + r as usize]);
            attributions.with_column(rows.into_column())?;
        }
        Ok(EventTables {
            exposures,
            tracks,
            attributions,
        })
    }
}
