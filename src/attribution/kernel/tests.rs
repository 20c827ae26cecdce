//! Unit tests of the passes that split rows into spans, on inputs of several spans.

use std::collections::HashMap;

use polars::prelude::*;

use super::exposures::exposure_rows;
use super::group::{check_row_bound, grouped, grouped_by};
use super::intern::{identities, intern, intern_and_look_up, Hashers, Identity};
use super::keys::{Keys, StrCol};
use super::pairs::Pairs;
use super::{NONE, ROW_SPAN, SMALL};

/// Rows enough for several spans of the parallel passes.
const ROWS: usize = 3 * ROW_SPAN + 123;

fn key(i: usize) -> Option<String> {
    // Nulls, repeats near and far apart, and keys first seen in late spans.
    (!i.is_multiple_of(11)).then(|| format!("key_{}", (i * 7919) % (ROW_SPAN + i / 3)))
}

fn frame(column: &str, keys: Vec<Option<String>>) -> DataFrame {
    DataFrame::new_infer_height(vec![Column::new(column.into(), keys)]).unwrap()
}

#[test]
fn interning_across_spans_gives_one_dense_code_per_key() {
    let x = frame("k", (0..ROWS).map(key).collect());
    let t = frame("k", (0..ROWS).map(|i| key(ROWS - i)).collect());
    let picked: Vec<u32> = (0..ROWS as u32).filter(|i| i % 3 != 1).collect();
    let keys = Keys::new(vec![
        (StrCol::new(&x, "k").unwrap(), None),
        (StrCol::new(&t, "k").unwrap(), Some(&picked)),
    ]);
    let expected: Vec<Option<String>> = (0..ROWS)
        .map(key)
        .chain(picked.iter().map(|&i| key(ROWS - i as usize)))
        .collect();
    assert_eq!(keys.len(), expected.len());
    let dict = intern(&keys, true);
    let ids = identities(&keys);
    let mut code_of: HashMap<&str, u32> = HashMap::new();
    for (i, k) in expected.iter().enumerate() {
        assert_eq!(keys.get(i), k.as_deref(), "key {i}");
        match k {
            None => {
                assert_eq!(dict.codes[i], NONE);
                assert_eq!(ids[i], Identity(0, 0));
            }
            Some(k) => {
                let c = *code_of.entry(k).or_insert(dict.codes[i]);
                assert_eq!(dict.codes[i], c, "one key, one code: {k}");
                assert_eq!(dict.keys[c as usize], k.as_str());
            }
        }
    }
    assert_eq!(dict.len, code_of.len());
    let mut codes: Vec<u32> = code_of.values().copied().collect();
    codes.sort_unstable();
    assert_eq!(codes, (0..dict.len as u32).collect::<Vec<_>>(), "dense");
    // Identities agree with keys both ways.
    let mut id_of: HashMap<Identity, &str> = HashMap::new();
    for (i, k) in expected.iter().enumerate() {
        if let Some(k) = k {
            assert_eq!(*id_of.entry(ids[i]).or_insert(k), k.as_str());
        }
    }
    assert_eq!(id_of.len(), code_of.len());
    // Looking keys up: the interned ones get their code, others none.
    let probe_frame = frame("k", (0..ROWS).map(|i| key(i + ROWS / 2)).collect());
    let probe = Keys::new(vec![(StrCol::new(&probe_frame, "k").unwrap(), None)]);
    let (looked, found) = intern_and_look_up(&keys, &probe);
    let mut first_row: HashMap<&str, usize> = HashMap::new();
    for (i, k) in expected.iter().enumerate() {
        if let Some(k) = k {
            first_row.entry(k).or_insert(i);
        }
    }
    let mut hits = 0;
    for (i, &c) in found.iter().enumerate() {
        match key(i + ROWS / 2).and_then(|k| first_row.get(k.as_str()).copied()) {
            None => assert_eq!(c, NONE, "probe {i}"),
            Some(first) => {
                hits += 1;
                assert_eq!(c, looked.codes[first], "probe {i}");
            }
        }
    }
    assert!(hits > 0 && hits < ROWS, "{hits} of {ROWS} probes found");
    // Without names, the same partition of rows.
    let bare = intern(&keys, false);
    assert!(bare.keys.is_empty());
    assert_eq!(bare.len, dict.len);
    let mut map: HashMap<u32, u32> = HashMap::new();
    for (&a, &b) in dict.codes.iter().zip(&bare.codes) {
        assert_eq!(*map.entry(a).or_insert(b), b);
    }
}

#[test]
fn parallel_grouping_is_a_stable_counting_sort() {
    // Several spans whatever the thread count, codes dense and sparse, some none.
    let n = ROWS;
    let codes: Vec<u32> = (0..n)
        .map(|i| {
            if i % 17 == 0 {
                NONE
            } else {
                ((i * 31) % 1000) as u32
            }
        })
        .collect();
    let (offsets, items) = grouped_by(|i| i as u32, &codes, 1001);
    let mut expected: Vec<(u32, u32)> = codes
        .iter()
        .enumerate()
        .filter(|(_, &c)| c != NONE)
        .map(|(i, &c)| (c, i as u32))
        .collect();
    expected.sort(); // by code, then input order
    assert_eq!(items, expected.iter().map(|e| e.1).collect::<Vec<_>>());
    assert_eq!(offsets.len(), 1002);
    for c in 0..1001 {
        let n_c = expected.iter().filter(|e| e.0 == c as u32).count() as u32;
        assert_eq!(offsets[c + 1] - offsets[c], n_c, "code {c}");
    }
    assert_eq!(grouped(&items, &vec![NONE; items.len()], 3).1.len(), 0);
}

#[test]
fn exposure_rows_number_keys_by_first_appearance_across_spans() {
    let n = ROWS;
    // A new layer × policy × allocation first seen in each span, rows without a
    // policy or allocation, and decision and attribution-only rows.
    let combo = |i: usize| -> (Option<String>, Option<String>, Option<String>) {
        let span = i / ROW_SPAN;
        match i % 7 {
            0 => (Some("l".into()), None, Some("a".into())),
            1 => (None, Some("p".into()), Some(format!("a{span}"))),
            2 => (Some(format!("l{}", i % 2)), Some("p".into()), None),
            k => (
                Some(format!("l{}", k % 2)),
                Some(format!("p{}", k % 3)),
                Some(format!("a{}", span.min(k))),
            ),
        }
    };
    let rows: Vec<_> = (0..n).map(combo).collect();
    let col = |name: &str, f: &dyn Fn(usize) -> Option<String>| {
        Column::new(name.into(), (0..n).map(f).collect::<Vec<_>>())
    };
    let x = DataFrame::new_infer_height(vec![
        col("layer_id", &|i| rows[i].0.clone()),
        col("policy_id", &|i| rows[i].1.clone()),
        col("allocation_name", &|i| rows[i].2.clone()),
        col("kind", &|i| {
            Some(if i % 5 == 0 { "decision" } else { "exposure" }.into())
        }),
        Column::new("ts".into(), (0..n as i64).collect::<Vec<_>>()),
        Column::new(
            "attribution_only".into(),
            (0..n).map(|i| i % 13 == 0).collect::<Vec<_>>(),
        ),
    ])
    .unwrap();
    let codes = vec![NONE; n];
    let sessions = vec![Identity(0, 0); n];
    let mut pairs = Pairs::new();
    let (xs, lpa_pair) = exposure_rows(&x, &codes, &sessions, &codes, &mut pairs).unwrap();
    // One serial pass, numbering keys by first appearance.
    let mut lpas: Vec<(String, u32)> = Vec::new();
    let mut pair_keys: Vec<(String, String)> = Vec::new();
    for (i, (l, p, a)) in rows.iter().enumerate() {
        let (Some(p), Some(a)) = (p, a) else {
            assert_eq!(xs[i].lpa, NONE, "row {i}");
            assert!(!xs[i].eligible);
            continue;
        };
        let pa = pair_keys.iter().position(|k| (&k.0, &k.1) == (p, a));
        let pa = pa.unwrap_or_else(|| {
            pair_keys.push((p.clone(), a.clone()));
            pair_keys.len() - 1
        }) as u32;
        let key = (l.clone().unwrap_or_default(), pa);
        let c = lpas.iter().position(|k| *k == key).unwrap_or_else(|| {
            lpas.push(key);
            lpas.len() - 1
        });
        assert_eq!(xs[i].lpa, c as u32, "row {i}");
        assert_eq!(xs[i].ts, i as i64);
        assert_eq!(xs[i].eligible, i % 5 != 0 && i % 13 != 0, "row {i}");
    }
    assert!(lpas.len() > SMALL, "the test reaches the hashed dictionary");
    assert_eq!(lpa_pair, lpas.iter().map(|k| k.1).collect::<Vec<_>>());
    let coded: Vec<(String, String)> = pairs
        .keys
        .iter()
        .map(|&(p, a)| (p.to_owned(), a.to_owned()))
        .collect();
    assert_eq!(coded, pair_keys);
}

#[test]
fn key_identities_and_codes_are_the_same_from_run_to_run() {
    // Two runs in one process (with per-run random seeds, these differed).
    let (a, b) = (Hashers::new(), Hashers::new());
    for k in ["u1", "", "a key longer than the sixteen bytes of one block"] {
        assert_eq!(a.identity(Some(k)), b.identity(Some(k)), "{k:?}");
    }
    // Across processes: pinned (foldhash 0.2, fixed seeds). A foldhash upgrade may
    // change it; no output depends on it (outputs are ordered by the keys), so then
    // pin the new value.
    assert_eq!(
        a.identity(Some("u1")),
        Identity(17_285_480_132_346_140_982, 10_276_350_287_022_367_862)
    );
    let x = frame("k", (0..ROWS).map(key).collect());
    let keys = Keys::new(vec![(StrCol::new(&x, "k").unwrap(), None)]);
    assert_eq!(intern(&keys, false).codes, intern(&keys, false).codes);
}

#[test]
#[should_panic(expected = "the counting sort takes fewer than 2^32 - 1 items")]
fn the_counting_sort_refuses_as_many_items_as_u32_codes() {
    // The largest input it takes, then one more: its u32 offsets would wrap.
    check_row_bound(NONE as usize - 1);
    check_row_bound(NONE as usize);
}
