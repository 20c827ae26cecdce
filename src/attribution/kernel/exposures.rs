//! The exposure rows, coded: layer × policy × allocation keys and policy × allocation
//! pairs numbered by first appearance.

use polars::prelude::*;
use rayon::prelude::*;

use super::intern::{explicit, Identity};
use super::pairs::Pairs;
use super::rows::XRow;
use super::{map, Map, NONE, ROW_SPAN, SMALL};
use crate::error::Result;

/// The exposure rows, coded in parallel over spans of rows (`units`, `sessions` and
/// `decisions` are the rows' key codes). Each span numbers its layer × policy ×
/// allocation keys with its own small dictionary; the spans' dictionaries are then
/// merged in row order, so keys are numbered by first appearance, as one serial pass
/// would, and policy × allocation pairs are coded in that same order. Also returns
/// each layer × policy × allocation code's pair.
pub(super) fn exposure_rows<'a>(
    x: &'a DataFrame,
    units: &[u32],
    sessions: &[Identity],
    decisions: &[u32],
    pairs: &mut Pairs<'a>,
) -> Result<(Vec<XRow>, Vec<u32>)> {
    let cols = Columns::new(x)?;
    let keys = RowKeys {
        units,
        sessions,
        decisions,
    };
    let mut xs = vec![XRow::default(); x.height()];
    // Per span: the first row of each span-local code.
    let firsts: Vec<Vec<u32>> = xs
        .par_chunks_mut(ROW_SPAN)
        .enumerate()
        .map(|(k, out)| code_span(&cols, &keys, k * ROW_SPAN, out))
        .collect();
    let (remaps, lpa_pair) = global_codes(&cols, &firsts, pairs);
    xs.par_chunks_mut(ROW_SPAN)
        .zip(&remaps)
        .for_each(|(rows, remap)| {
            for x in rows.iter_mut().filter(|x| x.lpa != NONE) {
                x.lpa = remap[x.lpa as usize];
            }
        });
    Ok((xs, lpa_pair))
}

/// The exposure columns [`exposure_rows`] reads.
struct Columns<'a> {
    layer: &'a StringChunked,
    policy: &'a StringChunked,
    alloc: &'a StringChunked,
    kind: &'a StringChunked,
    ts: &'a Int64Chunked,
    only: &'a BooleanChunked,
}

impl<'a> Columns<'a> {
    fn new(x: &'a DataFrame) -> Result<Self> {
        let str_col = |name: &str| -> Result<&'a StringChunked> { Ok(x.column(name)?.str()?) };
        Ok(Self {
            layer: str_col("layer_id")?,
            policy: str_col("policy_id")?,
            alloc: str_col("allocation_name")?,
            kind: str_col("kind")?,
            ts: x.column("ts")?.i64()?,
            only: x.column("attribution_only")?.bool()?,
        })
    }
}

/// The exposure rows' key codes.
struct RowKeys<'k> {
    units: &'k [u32],
    sessions: &'k [Identity],
    decisions: &'k [u32],
}

/// Codes the rows from `lo` on into `out`, with span-local layer × policy ×
/// allocation codes; returns the first row of each local code.
fn code_span(cols: &Columns<'_>, keys: &RowKeys<'_>, lo: usize, out: &mut [XRow]) -> Vec<u32> {
    let len = out.len();
    let cut = |c: &StringChunked| c.slice(lo as i64, len);
    let (l, p, a, kind) = (
        cut(cols.layer),
        cut(cols.policy),
        cut(cols.alloc),
        cut(cols.kind),
    );
    let (ts, only) = (
        cols.ts.slice(lo as i64, len),
        cols.only.slice(lo as i64, len),
    );
    let mut local = LocalKeys::new();
    let cells = l.iter().zip(p.iter()).zip(a.iter()).zip(kind.iter());
    for (j, ((((l, p), a), kind), (ts, only))) in cells.zip(ts.iter().zip(only.iter())).enumerate()
    {
        let i = lo + j;
        let lpa = match (p, a) {
            (Some(p), Some(a)) => local.code((l.unwrap_or(""), p, a), i as u32),
            _ => NONE,
        };
        out[j] = XRow {
            unit: keys.units[i],
            session: explicit(keys.sessions[i]),
            decision: keys.decisions[i],
            lpa,
            ts: ts.unwrap_or(0),
            eligible: lpa != NONE && kind == Some("exposure") && only != Some(true),
        };
    }
    local.firsts
}

/// One span's layer × policy × allocation dictionary.
struct LocalKeys<'s> {
    keys: Vec<(&'s str, &'s str, &'s str)>,
    index: Map<(&'s str, &'s str, &'s str), u32>,
    /// The first row of each code.
    firsts: Vec<u32>,
}

impl<'s> LocalKeys<'s> {
    fn new() -> Self {
        Self {
            keys: Vec::new(),
            index: map(0),
            firsts: Vec::new(),
        }
    }

    /// The code of `key`, first seen (if new) at `row`.
    fn code(&mut self, key: (&'s str, &'s str, &'s str), row: u32) -> u32 {
        // A span has a few keys: comparing them beats hashing three strings per row.
        let small = (self.keys.len() <= SMALL)
            .then(|| self.keys.iter().position(|&k| k == key))
            .flatten();
        if let Some(c) = small {
            return c as u32;
        }
        let next = self.keys.len() as u32;
        let c = *self.index.entry(key).or_insert(next);
        if c == next {
            self.keys.push(key);
            self.firsts.push(row);
        }
        c
    }
}

/// Span-local codes → global ones, merging the spans' first rows in row order, and
/// the pair of each global code.
fn global_codes<'a>(
    cols: &Columns<'a>,
    firsts: &[Vec<u32>],
    pairs: &mut Pairs<'a>,
) -> (Vec<Vec<u32>>, Vec<u32>) {
    let mut global: Map<(&'a str, u32), u32> = map(64);
    let mut lpa_pair: Vec<u32> = Vec::new();
    let remaps = firsts
        .iter()
        .map(|firsts| {
            firsts
                .iter()
                .map(|&r| {
                    let r = r as usize;
                    let (p, a) = (cols.policy.get(r), cols.alloc.get(r));
                    let pa = pairs.code(
                        p.expect("a coded row has a policy"),
                        a.expect("a coded row has an allocation"),
                    );
                    let next = lpa_pair.len() as u32;
                    let c = *global
                        .entry((cols.layer.get(r).unwrap_or(""), pa))
                        .or_insert(next);
                    if c == next {
                        lpa_pair.push(pa);
                    }
                    c
                })
                .collect()
        })
        .collect();
    (remaps, lpa_pair)
}
