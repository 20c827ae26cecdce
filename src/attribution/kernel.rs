//! The attribution rules of [`super::relational`], computed in one fused pass over
//! integer-coded columns.
//!
//! The relational steps are the specification: each rule is one join or group-by, and
//! the later warehouse SQL follows them. On one machine, though, a dozen polars joins
//! and window steps over string keys took 6 s for 1 M exposures and 1 M track events.
//! This kernel computes the same tables in the same order of steps, with the
//! relational operators written out over dense integer codes:
//!
//! | relational step | here |
//! |---|---|
//! | string keys in joins and group-bys | `u32` codes for units, decisions and event ids (each key hashed once into a 128-bit [`Identity`], interned in parallel); sessions compared by identity within their unit; layer × policy × allocation codes |
//! | `group_by(unit, session, layer, policy, allocation).first()` (dedup) | rows bucketed by unit (a counting sort), then a sort of each unit's few rows |
//! | `join(decision_id)` to the decision's exposures | a CSR index: decision code → its first exposure per policy × allocation |
//! | `join(unit, session)`, `join(unit)` | the unit's bucket, already at hand |
//! | window steps per event × policy (time rules, strongest link, model) | a loop over the event's touches of one policy |
//! | `group_by(unit, policy, allocation)` of credits, left join to exposed units | the unit's reward rows, found by a scan of its bucket |
//! | `sort(policy, allocation, unit_key)` | units ranked by key once; rows bucketed by policy × allocation in rank order |
//!
//! Every pass over rows is parallel (rayon) over fixed spans or chunks whose results
//! are joined in order, so the output does not depend on the thread count. Key
//! columns are read in place from their arrow chunks, never copied into vectors of
//! strings. In cumulative mode only the decisions goal events name get codes (the
//! exposures' ids are looked up among them), since no other decision is ever looked
//! up. `tests/it/attribution_kernel.rs` checks on random logs that both
//! implementations give the same tables; the unit tests below check the passes that
//! split rows into spans on inputs of several spans.

use std::collections::HashMap;

use foldhash::fast::FixedState;
use polars::prelude::*;
use rayon::prelude::*;

use super::params::{AttributionParams, TouchModel};
use crate::config::{AttributionMode, Goal, GoalType};
use crate::error::Result;
use crate::events::EventTables;

type Map<K, V> = HashMap<K, V, FixedState>;

fn map<K, V>(capacity: usize) -> Map<K, V> {
    HashMap::with_capacity_and_hasher(capacity, FixedState::with_seed(0x005e_edba_4d17))
}

/// No code (a null key).
const NONE: u32 = u32::MAX;

/// Dictionaries up to this size are searched by comparison, not hashing.
const SMALL: usize = 16;

/// Units per parallel task.
const UNIT_CHUNK: usize = 4096;

/// Dense `u32` codes of string keys (`NONE` for a null key), their number, and the
/// key of each code when asked for.
struct Dict<'a> {
    codes: Vec<u32>,
    len: usize,
    keys: Vec<&'a str>,
}

/// Partitions of [`intern`]: enough for both cores and for each partition's table to
/// stay in cache.
const PARTITIONS: usize = 64;

/// A key's identity: two independent 64-bit hashes of its bytes, with per-run random
/// seeds. Two distinct keys share one with probability 2⁻¹²⁸ per pair (below 10⁻²⁰
/// for a billion distinct keys), so tables compare 16 bytes and never the strings,
/// whose bytes are scattered in memory: reading them was most of this step's time.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Debug)]
struct Identity(u64, u64);

/// A row's session within its unit: [`NO_SESSION`], an explicit `sessionId` (its
/// identity with the top bit set) or a derived one (`(0, n + 1)`).
type Session = Identity;

/// No session.
const NO_SESSION: Session = Identity(0, 0);

/// The session of an explicit `sessionId` identity.
fn explicit(id: Identity) -> Session {
    if id == Identity(0, 0) {
        NO_SESSION
    } else {
        Identity(id.0 | 1 << 63, id.1)
    }
}

impl std::hash::Hash for Identity {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

/// A hasher that passes a precomputed `u64` through.
#[derive(Default)]
struct Passthrough(u64);

impl std::hash::Hasher for Passthrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only precomputed hashes are written")
    }
    fn write_u64(&mut self, h: u64) {
        self.0 = h;
    }
}

type StrArray = <StringType as PolarsDataType>::Array;

/// A string column's chunks, read by row or by span of rows without copying.
struct StrCol<'a> {
    chunks: Vec<&'a StrArray>,
    /// Row after each chunk.
    ends: Vec<usize>,
}

impl<'a> StrCol<'a> {
    fn new(df: &'a DataFrame, name: &str) -> Result<Self> {
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

    fn get(&self, row: usize) -> Option<&'a str> {
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
struct Keys<'a, 'r> {
    parts: Vec<(StrCol<'a>, Option<&'r [u32]>)>,
    /// Key after each part.
    ends: Vec<usize>,
}

impl<'a, 'r> Keys<'a, 'r> {
    fn new(parts: Vec<(StrCol<'a>, Option<&'r [u32]>)>) -> Self {
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

    fn len(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }

    fn get(&self, i: usize) -> Option<&'a str> {
        let k = self.ends.partition_point(|&e| e <= i);
        let local = i - if k == 0 { 0 } else { self.ends[k - 1] };
        let (col, rows) = &self.parts[k];
        col.get(rows.map_or(local, |r| r[local] as usize))
    }

    /// `f(i, key)` for every key of span `k` of [`ROW_SPAN`] keys, in order.
    fn for_span(&self, k: usize, mut f: impl FnMut(usize, Option<&'a str>)) {
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

    fn spans(&self) -> usize {
        self.len().div_ceil(ROW_SPAN)
    }

    /// `f(key)` of every key, in order, computed in parallel over spans.
    fn map<T: Clone + Send + Sync>(
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
    fn filter_map<T: Send>(
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

/// The two seeded hashes of one run, for [`Identity`].
struct Hashers(foldhash::fast::RandomState, foldhash::fast::RandomState);

impl Hashers {
    fn new() -> Self {
        Self(Default::default(), Default::default())
    }

    fn identity(&self, key: Option<&str>) -> Identity {
        use std::hash::BuildHasher;
        key.map_or(Identity(0, 0), |s| {
            Identity(self.0.hash_one(s), self.1.hash_one(s))
        })
    }
}

/// The [`Identity`] of each key (`(0, 0)` for null), in parallel.
fn identities(keys: &Keys<'_, '_>) -> Vec<Identity> {
    let hash = Hashers::new();
    keys.map(Identity(0, 0), |key| hash.identity(key))
}

/// Interns `keys` in parallel, in three passes. Spans of rows hash their keys once
/// and bucket `(identity, row)` by partition (hash bits the tables do not use: 32 to
/// 37); each partition is interned by one task, reading the spans' buckets in row
/// order (contiguous memory; reading identities in place was a cache miss each);
/// spans then write their rows' codes. Codes are dense, partition by partition;
/// nothing downstream depends on their numbering (outputs are ordered by the keys
/// themselves, through [`Dict::ranks`]).
fn intern<'a>(keys: &Keys<'a, '_>, with_names: bool) -> Dict<'a> {
    intern_tables(keys, with_names).0
}

/// The partitions' tables of [`intern`]: identity → code within the partition.
type Table = HashMap<Identity, u32, std::hash::BuildHasherDefault<Passthrough>>;

/// [`intern`] of `keys`, then the code of each of `probe` among them (`NONE` for a
/// key not in `keys`): for keys only some of which can matter, such as the decisions
/// goal events name among all the exposures'.
fn intern_and_look_up<'a>(keys: &Keys<'a, '_>, probe: &Keys<'a, '_>) -> (Dict<'a>, Vec<u32>) {
    let (dict, tables, base, hash) = intern_tables(keys, false);
    let codes = probe.map(NONE, |key| {
        let id = hash.identity(key);
        let p = partition(id);
        key.and(tables[p].get(&id)).map_or(NONE, |&c| base[p] + c)
    });
    (dict, codes)
}

/// The partition of an identity: hash bits the tables do not use (32 to 37).
fn partition(id: Identity) -> usize {
    ((id.0 >> 32) as usize) % PARTITIONS
}

/// [`intern`], also giving its tables, each partition's first code and the hashers.
fn intern_tables<'a>(
    keys: &Keys<'a, '_>,
    with_names: bool,
) -> (Dict<'a>, Vec<Table>, Vec<u32>, Hashers) {
    let hash = Hashers::new();
    // Per span and partition: `(identity, row)`.
    let buckets: Vec<Vec<Vec<(Identity, u32)>>> = (0..keys.spans())
        .into_par_iter()
        .map(|k| {
            let mut buckets = vec![Vec::new(); PARTITIONS];
            keys.for_span(k, |i, key| {
                if key.is_some() {
                    let id = hash.identity(key);
                    buckets[partition(id)].push((id, i as u32));
                }
            });
            buckets
        })
        .collect();
    // Per partition: the local code of each of its rows (spans in order), its
    // table, and the key of each local code.
    let local: Vec<(Vec<u32>, Table, Vec<&'a str>)> = (0..PARTITIONS)
        .into_par_iter()
        .map(|p| {
            let len = buckets.iter().map(|b| b[p].len()).sum::<usize>();
            let mut table = Table::with_capacity_and_hasher(len / 2, Default::default());
            let mut names = Vec::new();
            let mut codes = Vec::with_capacity(len);
            for ids in buckets.iter().map(|b| &b[p]) {
                for &(id, r) in ids {
                    let next = table.len() as u32;
                    codes.push(*table.entry(id).or_insert_with(|| {
                        if with_names {
                            names.push(keys.get(r as usize).expect("null keys have no partition"));
                        }
                        next
                    }));
                }
            }
            (codes, table, names)
        })
        .collect();
    let mut base = Vec::with_capacity(PARTITIONS);
    let mut len = 0;
    for l in &local {
        base.push(len);
        len += l.1.len() as u32;
    }
    let names = local.iter().flat_map(|l| l.2.iter().copied()).collect();
    // Where span `k`'s rows start in each partition's codes.
    let mut starts = vec![[0u32; PARTITIONS]; buckets.len()];
    for k in 1..buckets.len() {
        for p in 0..PARTITIONS {
            starts[k][p] = starts[k - 1][p] + buckets[k - 1][p].len() as u32;
        }
    }
    let mut codes = vec![NONE; keys.len()];
    codes
        .par_chunks_mut(ROW_SPAN)
        .enumerate()
        .for_each(|(k, out)| {
            for p in 0..PARTITIONS {
                let local_codes = &local[p].0[starts[k][p] as usize..];
                for (&(_, r), &c) in buckets[k][p].iter().zip(local_codes) {
                    out[r as usize % ROW_SPAN] = base[p] + c;
                }
            }
        });
    let dict = Dict {
        codes,
        len: len as usize,
        keys: names,
    };
    (dict, local.into_iter().map(|l| l.1).collect(), base, hash)
}

impl Dict<'_> {
    /// Rank of each code in the keys' byte order.
    fn ranks(&self) -> Vec<u32> {
        str_ranks(&self.keys)
    }
}

/// A key's first 16 bytes as one big-endian integer (zero-padded): comparing these
/// agrees with byte order wherever they differ.
fn prefix(s: &str) -> u128 {
    let (b, mut buf) = (s.as_bytes(), [0u8; 16]);
    let k = b.len().min(16);
    buf[..k].copy_from_slice(&b[..k]);
    u128::from_be_bytes(buf)
}

/// Sorts `(group, prefix of key, id)` by group, then key bytes: by prefix, then runs
/// of equal prefixes by all their bytes (`key(id)`). Most ids differ in their first
/// 16 bytes, so few strings are ever read twice.
fn sort_by_bytes<'a>(items: &mut [(u32, u128, u32)], key: impl Fn(u32) -> &'a str) {
    items.par_sort_unstable();
    let mut i = 0;
    while i < items.len() {
        let head = (items[i].0, items[i].1);
        let j = i + items[i..].iter().take_while(|o| (o.0, o.1) == head).count();
        if j - i > 1 {
            items[i..j].sort_unstable_by(|a, b| key(a.2).cmp(key(b.2)));
        }
        i = j;
    }
}

/// Rank of each of `keys` (distinct) in byte order.
fn str_ranks(keys: &[&str]) -> Vec<u32> {
    let mut order: Vec<(u32, u128, u32)> = keys
        .par_iter()
        .with_min_len(1 << 14)
        .enumerate()
        .map(|(i, k)| (0, prefix(k), i as u32))
        .collect();
    sort_by_bytes(&mut order, |i| keys[i as usize]);
    let mut rank = vec![0u32; order.len()];
    for (r, &(_, _, c)) in order.iter().enumerate() {
        rank[c as usize] = r as u32;
    }
    rank
}

/// Rank of each key in byte order.
fn ranks_of<K: Ord + Sync>(keys: &[K]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..keys.len() as u32).collect();
    order.par_sort_unstable_by(|&a, &b| keys[a as usize].cmp(&keys[b as usize]));
    let mut rank = vec![0u32; order.len()];
    for (r, &c) in order.iter().enumerate() {
        rank[c as usize] = r as u32;
    }
    rank
}

fn strs<'a>(df: &'a DataFrame, name: &str) -> Result<Vec<Option<&'a str>>> {
    Ok(df.column(name)?.str()?.iter().collect())
}

fn ints(df: &DataFrame, name: &str) -> Result<Vec<Option<i64>>> {
    Ok(df.column(name)?.i64()?.iter().collect())
}

/// Policy × allocation pairs (`pa`), the policies (`pcode`), and the pairs' and
/// policies' ranks in name order, for the output's sort.
struct Pairs<'a> {
    pairs: Map<(&'a str, &'a str), u32>,
    keys: Vec<(&'a str, &'a str)>,
    policy_codes: Map<&'a str, u32>,
    policies: Vec<&'a str>,
    policy_of: Vec<u32>,
}

impl<'a> Pairs<'a> {
    fn new() -> Self {
        Self {
            pairs: map(16),
            keys: Vec::new(),
            policy_codes: map(4),
            policies: Vec::new(),
            policy_of: Vec::new(),
        }
    }

    fn code(&mut self, policy: &'a str, allocation: &'a str) -> u32 {
        // A bundle has a few pairs: comparing them beats hashing two strings per row.
        if self.keys.len() <= SMALL {
            if let Some(c) = self
                .keys
                .iter()
                .position(|&(p, a)| a == allocation && p == policy)
            {
                return c as u32;
            }
        } else if let Some(&c) = self.pairs.get(&(policy, allocation)) {
            return c;
        }
        let c = self.keys.len() as u32;
        self.pairs.insert((policy, allocation), c);
        self.keys.push((policy, allocation));
        let next = self.policies.len() as u32;
        let p = *self.policy_codes.entry(policy).or_insert(next);
        if p == next {
            self.policies.push(policy);
        }
        self.policy_of.push(p);
        c
    }

    /// Rank of each pair in (policy, allocation) order.
    fn ranks(&self) -> Vec<u32> {
        ranks_of(&self.keys)
    }
}

/// An exposure-table row, coded.
#[derive(Clone, Copy, Default)]
struct XRow {
    unit: u32,
    /// Explicit session, [`NO_SESSION`] without `sessionId`.
    session: Session,
    decision: u32,
    /// Layer × policy × allocation code, `NONE` without policy or allocation.
    lpa: u32,
    ts: i64,
    /// Exposure (not decision) row with a policy and an allocation, not
    /// attribution-only: what dedup, decision lookups and reward units read.
    eligible: bool,
}

/// An exposure row as the per-unit pass reads it, copied into unit order with what
/// dedup needs, so that the pass never looks rows up in the table. Ordered by time,
/// then row.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct UnitRow {
    ts: i64,
    row: u32,
    /// Layer × policy × allocation of an eligible row, else `NONE`.
    lpa: u32,
    session: Session,
}

/// A goal event (a track row named by the goal, once per `id`), coded.
#[derive(Clone, Copy, Default)]
struct Goal0 {
    track: u32,
    unit: u32,
    /// Explicit session, [`NO_SESSION`] without `sessionId`.
    session: Session,
    decision: u32,
    ts: i64,
    /// `value`, null as 0.
    value: f64,
    has_array: bool,
}

/// One candidate exposure of a goal event.
#[derive(Clone, Copy, Default)]
struct Touch {
    pa: u32,
    policy: u32,
    /// The exposure row whose `unit_key` the credit carries.
    row: u32,
    unit: u32,
    at: i64,
    linked: bool,
}

/// One credited (event, allocation).
#[derive(Clone, Copy)]
pub(super) struct Credit {
    track: u32,
    unit: u32,
    /// Exposure row of the credit's unit key (`NONE`: the event's own unit key).
    row: u32,
    pa: u32,
    at: i64,
    weight: f64,
}

/// What happened to an (event, policy) with touches.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Outcome {
    Credited,
    OutsideWindow,
    BeforeExposure,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Self::Credited => "credited",
            Self::OutsideWindow => "outside_window",
            Self::BeforeExposure => "before_exposure",
        }
    }
}

/// One reward unit: the first eligible exposure row of a unit × allocation
/// (cumulative) or of a decision × allocation (decision mode), and its credited sums.
#[derive(Clone, Copy, Default)]
struct RewardUnit {
    row: u32,
    pa: u32,
    at: i64,
    goal_events: f64,
    goal_value: f64,
}

/// Everything one attribution run computed, as codes and row numbers into the input
/// tables; [`Attributed::rewards`] and [`Attributed::credits`] turn it into frames.
pub(super) struct Attributed<'a> {
    tables: &'a EventTables,
    mode: AttributionMode,
    pairs: Pairs<'a>,
    /// Reward units, in output order.
    rewards: Vec<RewardUnit>,
    // The rest is read only by [`Attributed::credits`], so it stays as the parallel
    // tasks left it: parts to concatenate in order.
    credits: Vec<Vec<Credit>>,
    /// (track, policy code, outcome).
    outcomes: Vec<Vec<(u32, u32, Outcome)>>,
    /// The goal events, in track order.
    goals: Vec<Goal0>,
    /// Eligible exposure rows kept by the mode's dedup.
    kept: Vec<Vec<u32>>,
}

/// The event's time rules: `(in time, older than the window)`.
fn time_rules(p: &AttributionParams, at: i64, event: i64) -> (bool, bool) {
    let not_before = at <= event.saturating_add(p.clock_skew_ms);
    match p.window_ms {
        Some(w) => {
            let old = event > at.saturating_add(w);
            (not_before && !old, old)
        }
        None => (not_before, false),
    }
}

/// Weights of one event's in-time, strongest-link touches of one policy (`at` of
/// each), summing to 1; exact ties in time share.
fn weights(model: TouchModel, event: i64, at: &[i64], out: &mut Vec<f64>) {
    out.clear();
    let n = at.len() as f64;
    let ends = |t: i64| at.iter().filter(|&&x| x == t).count() as f64;
    let (lo, hi) = at
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)));
    match model {
        TouchModel::FirstTouch | TouchModel::LastTouch => {
            let end = if model == TouchModel::FirstTouch {
                lo
            } else {
                hi
            };
            let k = ends(end);
            out.extend(at.iter().map(|&t| if t == end { 1.0 / k } else { 0.0 }));
        }
        TouchModel::Linear => out.extend(at.iter().map(|_| 1.0 / n)),
        TouchModel::TimeDecay { half_life_ms } => {
            out.extend(at.iter().map(|&t| {
                let age = if event > t { (event - t) as f64 } else { 0.0 };
                0.5f64.powf(age / half_life_ms)
            }));
            let sum: f64 = out.iter().sum();
            for w in out.iter_mut() {
                *w /= sum;
            }
        }
        TouchModel::PositionBased { first: f, last: l } => {
            let (n_first, n_last) = (ends(lo), ends(hi));
            let n_mid = n - n_first - n_last;
            let (f2, l2) = if f + l > 0.0 {
                (f / (f + l), l / (f + l))
            } else {
                (0.5, 0.5)
            };
            out.extend(at.iter().map(|&t| {
                let (is_first, is_last) = (t == lo, t == hi);
                if is_first && is_last {
                    1.0 / n
                } else if is_first && n_mid == 0.0 {
                    f2 / n_first
                } else if is_last && n_mid == 0.0 {
                    l2 / n_last
                } else if is_first {
                    f / n_first
                } else if is_last {
                    l / n_last
                } else {
                    (1.0 - f - l) / n_mid
                }
            }));
        }
    }
}

/// Per-task output buffers.
#[derive(Default)]
struct Out {
    rewards: Vec<RewardUnit>,
    credits: Vec<Credit>,
    outcomes: Vec<(u32, u32, Outcome)>,
    kept: Vec<u32>,
    /// Scratch.
    touches: Vec<Touch>,
    at: Vec<i64>,
    w: Vec<f64>,
}

impl Out {
    /// Applies the time rules, the strongest link and the model to `self.touches`
    /// (one goal event's), and pushes its outcomes and credits.
    fn settle(&mut self, g: &Goal0, p: &AttributionParams) {
        let touches = &mut self.touches;
        if let [t] = touches[..] {
            // One touch: its time rules decide; the model gives it everything.
            let (ok, old) = time_rules(p, t.at, g.ts);
            let outcome = match (ok, old) {
                (true, _) => Outcome::Credited,
                (false, true) => Outcome::OutsideWindow,
                (false, false) => Outcome::BeforeExposure,
            };
            self.outcomes.push((g.track, t.policy, outcome));
            if ok {
                self.credits.push(Credit {
                    track: g.track,
                    unit: t.unit,
                    row: t.row,
                    pa: t.pa,
                    at: t.at,
                    weight: 1.0,
                });
            }
            return;
        }
        touches.sort_unstable_by_key(|t| (t.policy, t.pa, t.at, t.row));
        let mut i = 0;
        while i < touches.len() {
            let policy = touches[i].policy;
            let end = i + touches[i..]
                .iter()
                .take_while(|t| t.policy == policy)
                .count();
            let group = &touches[i..end];
            i = end;
            let (mut any_in, mut any_old, mut linked) = (false, false, false);
            for t in group {
                let (ok, old) = time_rules(p, t.at, g.ts);
                any_in |= ok;
                any_old |= old;
                linked |= ok && t.linked;
            }
            let outcome = if any_in {
                Outcome::Credited
            } else if any_old {
                Outcome::OutsideWindow
            } else {
                Outcome::BeforeExposure
            };
            self.outcomes.push((g.track, policy, outcome));
            if !any_in {
                continue;
            }
            let keep = |t: &Touch| time_rules(p, t.at, g.ts).0 && t.linked == linked;
            self.at.clear();
            self.at
                .extend(group.iter().filter(|t| keep(t)).map(|t| t.at));
            weights(p.model, g.ts, &self.at, &mut self.w);
            let mut w = self.w.iter();
            let mut last: Option<usize> = None;
            for t in group.iter().filter(|t| keep(t)) {
                let weight = *w.next().expect("one weight per kept touch");
                match last {
                    Some(k) if self.credits[k].pa == t.pa => {
                        let c = &mut self.credits[k];
                        c.at = c.at.max(t.at);
                        c.weight += weight;
                    }
                    _ => {
                        self.credits.push(Credit {
                            track: g.track,
                            unit: t.unit,
                            row: t.row,
                            pa: t.pa,
                            at: t.at,
                            weight,
                        });
                        last = Some(self.credits.len() - 1);
                    }
                }
            }
        }
    }
}

/// `items` grouped by their code (a counting sort; `NONE` left out), as CSR
/// offsets and the items in code order, each group in input order. The items are
/// split into one span per thread, counted and placed in parallel: a span's items of
/// a code go after the earlier spans' items of that code, so the result does not
/// depend on the split.
fn grouped<T: Copy + Send + Sync>(
    items: &[T],
    codes: &[u32],
    n_codes: usize,
) -> (Vec<u32>, Vec<T>) {
    grouped_by(|i| items[i], codes, n_codes)
}

/// [`grouped`] of `item(i)` for each `i` of `codes`, made only for the rows placed
/// (no copy of the whole input first: a few large buffers fewer per run).
fn grouped_by<T: Send>(
    item: impl Fn(usize) -> T + Sync,
    codes: &[u32],
    n_codes: usize,
) -> (Vec<u32>, Vec<T>) {
    // One span per thread, but each span counts into an array of `n_codes`: spans are
    // capped so those arrays hold at most about four counts per item.
    let spans = rayon::current_num_threads().min((4 * codes.len() / n_codes.max(1)).max(1));
    let span = codes.len().div_ceil(spans).max(1 << 14);
    let mut next: Vec<Vec<u32>> = codes
        .par_chunks(span)
        .map(|codes| {
            let mut counts = vec![0u32; n_codes];
            for &c in codes.iter().filter(|&&c| c != NONE) {
                counts[c as usize] += 1;
            }
            counts
        })
        .collect();
    // Offsets per code, and where each span starts writing within its code.
    let mut offsets = Vec::with_capacity(n_codes + 1);
    let mut at = 0u32;
    for c in 0..n_codes {
        offsets.push(at);
        for span in &mut next {
            let n = span[c];
            span[c] = at;
            at += n;
        }
    }
    offsets.push(at);
    let total = at as usize;
    let mut out: Vec<T> = Vec::with_capacity(total);
    let slots = Slots(out.as_mut_ptr());
    codes
        .par_chunks(span)
        .enumerate()
        .zip(next)
        .for_each(|((k, codes), mut next)| {
            for (j, &c) in codes.iter().enumerate() {
                if c != NONE {
                    let at = &mut next[c as usize];
                    // SAFETY: `*at` is below `total` (the capacity), and the spans'
                    // ranges of each code are disjoint, so every slot is written by
                    // exactly one task, exactly once.
                    unsafe { slots.write(*at as usize, item(k * span + j)) };
                    *at += 1;
                }
            }
        });
    // SAFETY: the counts cover every slot below `total`, each written above.
    unsafe { out.set_len(total) };
    (offsets, out)
}

/// The output of [`grouped`], written by several tasks at disjoint slots.
struct Slots<T>(*mut T);

impl<T> Slots<T> {
    /// # Safety
    ///
    /// `at` is within the allocation, and no other task writes or reads it.
    unsafe fn write(&self, at: usize, item: T) {
        unsafe { self.0.add(at).write(item) }
    }
}

// SAFETY: tasks write disjoint slots (see `grouped`), and `T` is sent between threads.
unsafe impl<T: Send> Sync for Slots<T> {}

/// Rows per task of the row-coding passes.
const ROW_SPAN: usize = 1 << 16;

/// The exposure rows, coded in parallel over spans of rows (`units`, `sessions` and
/// `decisions` are the rows' key codes). Each span numbers its layer × policy ×
/// allocation keys with its own small dictionary; the spans' dictionaries are then
/// merged in row order, so keys are numbered by first appearance, as one serial pass
/// would, and policy × allocation pairs are coded in that same order. Also returns
/// each layer × policy × allocation code's pair.
fn exposure_rows<'a>(
    x: &'a DataFrame,
    units: &[u32],
    sessions: &[Identity],
    decisions: &[u32],
    pairs: &mut Pairs<'a>,
) -> Result<(Vec<XRow>, Vec<u32>)> {
    let n = x.height();
    let str_col = |name: &str| -> Result<&'a StringChunked> { Ok(x.column(name)?.str()?) };
    let (layer, policy, alloc) = (
        str_col("layer_id")?,
        str_col("policy_id")?,
        str_col("allocation_name")?,
    );
    let kind = str_col("kind")?;
    let ts = x.column("ts")?.i64()?;
    let only = x.column("attribution_only")?.bool()?;
    let mut xs = vec![XRow::default(); n];
    // Per span: the first row of each span-local code.
    let firsts: Vec<Vec<u32>> = xs
        .par_chunks_mut(ROW_SPAN)
        .enumerate()
        .map(|(k, out)| {
            let (lo, len) = (k * ROW_SPAN, out.len());
            let cut = |c: &StringChunked| c.slice(lo as i64, len);
            let (l, p, a, kind) = (cut(layer), cut(policy), cut(alloc), cut(kind));
            let (ts, only) = (ts.slice(lo as i64, len), only.slice(lo as i64, len));
            let mut keys: Vec<(&str, &str, &str)> = Vec::new();
            let mut index: Map<(&str, &str, &str), u32> = map(0);
            let mut firsts = Vec::new();
            let cells = l.iter().zip(p.iter()).zip(a.iter()).zip(kind.iter());
            for (j, ((((l, p), a), kind), (ts, only))) in
                cells.zip(ts.iter().zip(only.iter())).enumerate()
            {
                let i = lo + j;
                let lpa = match (p, a) {
                    (Some(p), Some(a)) => {
                        let key = (l.unwrap_or(""), p, a);
                        let small = (keys.len() <= SMALL)
                            .then(|| keys.iter().position(|&k| k == key))
                            .flatten();
                        match small {
                            Some(c) => c as u32,
                            None => {
                                let next = keys.len() as u32;
                                let c = *index.entry(key).or_insert(next);
                                if c == next {
                                    keys.push(key);
                                    firsts.push(i as u32);
                                }
                                c
                            }
                        }
                    }
                    _ => NONE,
                };
                out[j] = XRow {
                    unit: units[i],
                    session: explicit(sessions[i]),
                    decision: decisions[i],
                    lpa,
                    ts: ts.unwrap_or(0),
                    eligible: lpa != NONE && kind == Some("exposure") && only != Some(true),
                };
            }
            firsts
        })
        .collect();
    // Span-local codes → global ones, in row order.
    let mut global: Map<(&'a str, u32), u32> = map(64);
    let mut lpa_pair: Vec<u32> = Vec::new();
    let remaps: Vec<Vec<u32>> = firsts
        .iter()
        .map(|firsts| {
            firsts
                .iter()
                .map(|&r| {
                    let r = r as usize;
                    let (p, a) = (policy.get(r), alloc.get(r));
                    let pa = pairs.code(
                        p.expect("a coded row has a policy"),
                        a.expect("a coded row has an allocation"),
                    );
                    let next = lpa_pair.len() as u32;
                    let c = *global
                        .entry((layer.get(r).unwrap_or(""), pa))
                        .or_insert(next);
                    if c == next {
                        lpa_pair.push(pa);
                    }
                    c
                })
                .collect()
        })
        .collect();
    xs.par_chunks_mut(ROW_SPAN)
        .zip(&remaps)
        .for_each(|(rows, remap)| {
            for x in rows.iter_mut().filter(|x| x.lpa != NONE) {
                x.lpa = remap[x.lpa as usize];
            }
        });
    Ok((xs, lpa_pair))
}

/// The coded input of one run.
struct Coded<'a> {
    units: Dict<'a>,
    pairs: Pairs<'a>,
    /// Layer × policy × allocation → pair.
    lpa_pair: Vec<u32>,
    xs: Vec<XRow>,
    goals: Vec<Goal0>,
    /// For the array rule: `(track, pair, weight)` of every array entry of a goal
    /// event.
    arrays: Vec<(u32, u32, f64)>,
    /// Per decision code, its first eligible exposure row per pair (CSR).
    dx_offsets: Vec<u32>,
    dx: Vec<Touch>,
    /// `value` per track row, null as 0.
    values: Vec<f64>,
}

fn code<'a>(tables: &'a EventTables, goal_event: &str, mode: AttributionMode) -> Result<Coded<'a>> {
    let x = &tables.exposures;
    let t = &tables.tracks;
    let n = x.height();
    // Rows and codes are `u32`, with `u32::MAX` reserved for "none".
    let rows = n + t.height() + tables.attributions.height();
    if rows >= NONE as usize {
        return Err(crate::Error::InvalidParameter {
            name: "events",
            reason: format!(
                "{rows} rows in one attribution run; the limit is {}: split the input by day or by unit",
                NONE - 1
            ),
        });
    }
    // Goal events, once per `id` (the first row in table order).
    let events = Keys::new(vec![(StrCol::new(t, "event")?, None)]);
    let goal_rows: Vec<u32> = events.filter_map(|i, e| (e == Some(goal_event)).then_some(i as u32));
    let every = goal_rows.len() == t.height();
    let goal_keys = |name: &str| -> Result<(StrCol<'a>, Option<&[u32]>)> {
        Ok((StrCol::new(t, name)?, (!every).then_some(&goal_rows[..])))
    };
    // A key of the exposures, then of the goal events.
    let both = |name: &str| -> Result<Keys<'a, '_>> {
        Ok(Keys::new(vec![
            (StrCol::new(x, name)?, None),
            goal_keys(name)?,
        ]))
    };
    let ids = intern(&Keys::new(vec![goal_keys("event_id")?]), false);
    let mut first = vec![true; ids.len];
    let kept_goals: Vec<usize> = (0..goal_rows.len())
        .filter(|&k| match ids.codes[k] {
            NONE => true,
            c => std::mem::replace(&mut first[c as usize], false),
        })
        .collect();

    // Decision mode joins on the decision only: no unit or session keys.
    let cumulative = mode == AttributionMode::Cumulative;
    let (units, sessions) = if cumulative {
        (
            intern(&both("unit_key")?, true),
            identities(&both("session_id")?),
        )
    } else {
        let none = n + goal_rows.len();
        (
            Dict {
                codes: vec![NONE; none],
                len: 0,
                keys: Vec::new(),
            },
            vec![NO_SESSION; none],
        )
    };
    // In cumulative mode decisions are only looked up for goal events: the
    // exposures' decisions no goal event names need no code.
    let decisions = if cumulative {
        let named = Keys::new(vec![goal_keys("decision_id")?]);
        let exposed = Keys::new(vec![(StrCol::new(x, "decision_id")?, None)]);
        let (mut dict, exposed) = intern_and_look_up(&named, &exposed);
        dict.codes = [exposed, dict.codes].concat();
        dict
    } else {
        intern(&both("decision_id")?, false)
    };
    let mut known = vec![false; decisions.len];
    for &d in &decisions.codes[..n] {
        if d != NONE {
            known[d as usize] = true;
        }
    }

    let mut pairs = Pairs::new();
    let (xs, lpa_pair) = exposure_rows(x, &units.codes, &sessions, &decisions.codes, &mut pairs)?;

    let track_row: Vec<Option<u32>> = t.column("track_row")?.u32()?.iter().collect();
    let a = &tables.attributions;
    let a_row: Vec<Option<u32>> = a.column("track_row")?.u32()?.iter().collect();
    let max_row = track_row
        .iter()
        .flatten()
        .max()
        .map_or(0, |&m| m as usize + 1);
    // `track_row` → the goal event it is (first row with it), for the array rule.
    let mut goal_of = vec![NONE; max_row];
    for &k in &kept_goals {
        if let Some(r) = track_row[goal_rows[k] as usize] {
            if goal_of[r as usize] == NONE {
                goal_of[r as usize] = goal_rows[k];
            }
        }
    }
    let mut has_array = vec![false; t.height()];
    if mode == AttributionMode::Cumulative {
        for r in a_row.iter().flatten() {
            if let Some(&g) = goal_of.get(*r as usize) {
                if g != NONE {
                    has_array[g as usize] = true;
                }
            }
        }
    }
    let event_ts = ints(t, "event_ts")?;
    let values = track_values(t);
    let mut goals: Vec<Goal0> = kept_goals
        .par_iter()
        .with_min_len(1 << 14)
        .map(|&k| {
            let i = goal_rows[k] as usize;
            let d = decisions.codes[n + k];
            Goal0 {
                track: i as u32,
                unit: units.codes[n + k],
                session: explicit(sessions[n + k]),
                decision: if d != NONE && known[d as usize] {
                    d
                } else {
                    NONE
                },
                ts: event_ts[i].unwrap_or(0),
                value: values[i],
                has_array: has_array[i],
            }
        })
        .collect();
    goals.par_sort_by_key(|g| track_row[g.track as usize]);

    let mut arrays = Vec::new();
    if mode == AttributionMode::Cumulative && a.height() > 0 {
        let a_policy = strs(a, "policy_id")?;
        let a_alloc = strs(a, "allocation_name")?;
        let a_weight: Vec<Option<f64>> = a
            .column("weight")?
            .cast(&DataType::Float64)?
            .f64()?
            .iter()
            .collect();
        for j in 0..a.height() {
            let (Some(r), Some(p), Some(al)) = (a_row[j], a_policy[j], a_alloc[j]) else {
                continue;
            };
            let track = goal_of.get(r as usize).copied().unwrap_or(NONE);
            if track != NONE {
                arrays.push((track, pairs.code(p, al), a_weight[j].unwrap_or(1.0)));
            }
        }
    }

    // The decisions' first eligible exposure per pair: touches grouped by decision
    // (most decisions have one row), then the first per pair in (time, row) order.
    // Only eligible rows are placed, and they have a pair.
    let touch = |r: usize| {
        let x = &xs[r];
        let pa = lpa_pair[x.lpa as usize];
        Touch {
            pa,
            policy: pairs.policy_of[pa as usize],
            row: r as u32,
            unit: x.unit,
            at: x.ts,
            linked: true,
        }
    };
    let eligible_decision: Vec<u32> = xs
        .par_iter()
        .with_min_len(1 << 14)
        .map(|x| if x.eligible { x.decision } else { NONE })
        .collect();
    let (offsets, by_decision) = grouped_by(touch, &eligible_decision, decisions.len);
    // In parallel over ranges of decisions, each giving its part of `dx` and the
    // part's ends per decision; the parts are then joined.
    let parts: Vec<(Vec<Touch>, Vec<u32>)> = (0..decisions.len.div_ceil(ROW_SPAN))
        .into_par_iter()
        .map(|k| {
            let (mut dx, mut ends, mut scratch) = (Vec::new(), Vec::new(), Vec::new());
            for d in k * ROW_SPAN..((k + 1) * ROW_SPAN).min(decisions.len) {
                let group = &by_decision[offsets[d] as usize..offsets[d + 1] as usize];
                if group.len() == 1 {
                    dx.push(group[0]);
                } else if !group.is_empty() {
                    scratch.clear();
                    scratch.extend_from_slice(group);
                    scratch.sort_unstable_by_key(|t: &Touch| (t.pa, t.at, t.row));
                    let mut last = NONE;
                    for t in &scratch {
                        if t.pa != last {
                            dx.push(*t);
                            last = t.pa;
                        }
                    }
                }
                ends.push(dx.len() as u32);
            }
            (dx, ends)
        })
        .collect();
    let mut dx_offsets = Vec::with_capacity(offsets.len());
    let mut dx = Vec::with_capacity(by_decision.len());
    dx_offsets.push(0u32);
    for (part, ends) in parts {
        let base = dx.len() as u32;
        dx_offsets.extend(ends.iter().map(|e| base + e));
        dx.extend(part);
    }
    Ok(Coded {
        units,
        pairs,
        lpa_pair,
        xs,
        goals,
        arrays,
        dx_offsets,
        dx,
        values,
    })
}

/// Attribution of one goal event name under `params`.
pub(super) fn attribute<'a>(
    tables: &'a EventTables,
    goal_event: &str,
    params: &AttributionParams,
) -> Result<Attributed<'a>> {
    let c = code(tables, goal_event, params.mode)?;
    match params.mode {
        AttributionMode::Decision => decision(tables, c, params),
        AttributionMode::Cumulative => Ok(cumulative(tables, c, params)),
    }
}

fn decision<'a>(
    tables: &'a EventTables,
    c: Coded<'a>,
    params: &AttributionParams,
) -> Result<Attributed<'a>> {
    let Coded {
        pairs,
        goals,
        values,
        dx_offsets,
        dx,
        xs,
        ..
    } = c;
    // Reward units: every (decision, pair), sorted by policy, allocation, decision id.
    // The ids are read in row order (the rows of `dx` are scattered in the table).
    let pa_rank = pairs.ranks();
    let mut unit_at = vec![NONE; xs.len()];
    for (k, t) in dx.iter().enumerate() {
        unit_at[t.row as usize] = k as u32;
    }
    let ids = Keys::new(vec![(StrCol::new(&tables.exposures, "decision_id")?, None)]);
    let mut keyed: Vec<(u32, u128, u32)> = ids.filter_map(|r, id| {
        let k = unit_at[r];
        (k != NONE).then(|| {
            let id = id.expect("an exposure with a decision has an id");
            (pa_rank[dx[k as usize].pa as usize], prefix(id), k)
        })
    });
    sort_by_bytes(&mut keyed, |k| {
        ids.get(dx[k as usize].row as usize)
            .expect("an exposure with a decision has an id")
    });
    let order: Vec<u32> = keyed.into_iter().map(|(_, _, k)| k).collect();
    let mut slot = vec![0u32; dx.len()];
    for (s, &k) in order.iter().enumerate() {
        slot[k as usize] = s as u32;
    }
    let mut rewards: Vec<RewardUnit> = order
        .iter()
        .map(|&k| {
            let t = dx[k as usize];
            RewardUnit {
                row: t.row,
                pa: t.pa,
                at: t.at,
                goal_events: 0.0,
                goal_value: 0.0,
            }
        })
        .collect();
    let outs: Vec<Out> = goals
        .par_chunks(UNIT_CHUNK)
        .map(|chunk| {
            let mut out = Out::default();
            for g in chunk {
                if g.decision == NONE {
                    continue;
                }
                let d = g.decision as usize;
                out.touches.clear();
                out.touches
                    .extend_from_slice(&dx[dx_offsets[d] as usize..dx_offsets[d + 1] as usize]);
                if !out.touches.is_empty() {
                    out.settle(g, params);
                }
            }
            out
        })
        .collect();
    let (credits, outcomes): (Vec<_>, Vec<_>) =
        outs.into_iter().map(|o| (o.credits, o.outcomes)).unzip();
    // A credit's exposure row is its decision's first exposure of the pair: the
    // reward unit's row.
    for cr in credits.iter().flatten() {
        let r = &mut rewards[slot[unit_at[cr.row as usize] as usize] as usize];
        r.goal_events += cr.weight;
        r.goal_value += cr.weight * values[cr.track as usize];
    }
    let kept = vec![order.iter().map(|&k| dx[k as usize].row).collect()];
    Ok(Attributed {
        tables,
        mode: AttributionMode::Decision,
        pairs,
        rewards,
        credits,
        outcomes,
        goals,
        kept,
    })
}

/// `value` per track row, null as 0.
fn track_values(tracks: &DataFrame) -> Vec<f64> {
    tracks
        .column("value")
        .ok()
        .and_then(|c| c.cast(&DataType::Float64).ok())
        .map(|c| {
            c.f64()
                .expect("cast to f64")
                .iter()
                .map(|v| v.unwrap_or(0.0))
                .collect()
        })
        .unwrap_or_else(|| vec![0.0; tracks.height()])
}

fn cumulative<'a>(
    tables: &'a EventTables,
    c: Coded<'a>,
    params: &AttributionParams,
) -> Attributed<'a> {
    let Coded {
        units,
        pairs,
        lpa_pair,
        values,
        xs,
        goals,
        arrays,
        dx_offsets,
        dx,
        ..
    } = c;
    let n_units = units.len;
    let unit_rank = units.ranks();
    let mut by_rank = vec![0u32; n_units];
    for (u, &r) in unit_rank.iter().enumerate() {
        by_rank[r as usize] = u as u32;
    }
    let rank_of = |u: u32| {
        if u == NONE {
            NONE
        } else {
            unit_rank[u as usize]
        }
    };
    // Buckets by unit rank, so units are visited in key order.
    // Rows and goal events copied into unit-rank order (a counting sort), so that
    // each unit's work reads contiguous memory.
    let x_rank: Vec<u32> = xs.par_iter().map(|r| rank_of(r.unit)).collect();
    let unit_row = |r: usize| {
        let x = &xs[r];
        UnitRow {
            ts: x.ts,
            row: r as u32,
            lpa: if x.eligible { x.lpa } else { NONE },
            session: x.session,
        }
    };
    let (x_off, x_sorted) = grouped_by(unit_row, &x_rank, n_units);
    let g_rank: Vec<u32> = goals.par_iter().map(|g| rank_of(g.unit)).collect();
    let (g_off, g_sorted) = grouped(&goals, &g_rank, n_units);
    let gap = params.session_gap_ms;
    let chunks: Vec<(Out, Vec<Credit>)> = (0..n_units.div_ceil(UNIT_CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let mut out = Out::default();
            // Credits to another unit's reward rows (a decision exposed under another
            // unit key), summed after all units are done.
            let mut foreign: Vec<Credit> = Vec::new();
            // Scratch per unit: rows in time order (time, row, session), dedup keys.
            let mut rows: Vec<UnitRow> = Vec::new();
            let mut dedup: Vec<(Session, u32, i64, u32)> = Vec::new();
            let mut kept: Vec<(Session, Touch)> = Vec::new();
            let start = chunk * UNIT_CHUNK;
            for rank in start..(start + UNIT_CHUNK).min(n_units) {
                let u = by_rank[rank];
                rows.clear();
                rows.extend_from_slice(&x_sorted[x_off[rank] as usize..x_off[rank + 1] as usize]);
                if rows.len() > 1 {
                    rows.sort_unstable();
                }
                // Derived sessions: a row without `sessionId` more than `gap` after
                // the unit's previous such row starts a new one.
                let mut derived = 0u64;
                let mut last: Option<i64> = None;
                for row in rows.iter_mut() {
                    if row.session == NO_SESSION {
                        if last.is_none_or(|l| row.ts - l > gap) {
                            derived += 1;
                        }
                        last = Some(row.ts);
                        row.session = Identity(0, derived);
                    }
                }
                // Dedup: first per (session, layer × policy × allocation).
                dedup.clear();
                dedup.extend(
                    rows.iter()
                        .filter(|x| x.lpa != NONE)
                        .map(|x| (x.session, x.lpa, x.ts, x.row)),
                );
                if dedup.len() > 1 {
                    dedup.sort_unstable();
                }
                kept.clear();
                for (k, d) in dedup.iter().enumerate() {
                    if k > 0 && dedup[k - 1].0 == d.0 && dedup[k - 1].1 == d.1 {
                        continue;
                    }
                    let pa = lpa_pair[d.1 as usize];
                    kept.push((
                        d.0,
                        Touch {
                            pa,
                            policy: pairs.policy_of[pa as usize],
                            row: d.3,
                            unit: u,
                            at: d.2,
                            linked: false,
                        },
                    ));
                    out.kept.push(d.3);
                }
                // Reward units: the first kept row per pair.
                let first = out.rewards.len();
                for (_, t) in &kept {
                    match out.rewards[first..].iter_mut().find(|r| r.pa == t.pa) {
                        Some(r) if (r.at, r.row) <= (t.at, t.row) => {}
                        Some(r) => {
                            r.at = t.at;
                            r.row = t.row;
                        }
                        None => out.rewards.push(RewardUnit {
                            row: t.row,
                            pa: t.pa,
                            at: t.at,
                            goal_events: 0.0,
                            goal_value: 0.0,
                        }),
                    }
                }
                // The unit's goal events.
                for g in &g_sorted[g_off[rank] as usize..g_off[rank + 1] as usize] {
                    if g.has_array {
                        continue;
                    }
                    out.touches.clear();
                    if g.decision == NONE {
                        out.touches.extend(kept.iter().map(|(_, t)| *t));
                    } else {
                        let d = g.decision as usize;
                        out.touches.extend_from_slice(
                            &dx[dx_offsets[d] as usize..dx_offsets[d + 1] as usize],
                        );
                        // Its session: explicit, or the unit's latest row within the gap.
                        let s = if g.session != NO_SESSION {
                            Some(g.session)
                        } else {
                            let k = rows.partition_point(|x| x.ts <= g.ts);
                            k.checked_sub(1)
                                .filter(|&k| g.ts - rows[k].ts <= gap)
                                .map(|k| rows[k].session)
                        };
                        if let Some(s) = s {
                            out.touches
                                .extend(kept.iter().filter(|(ks, _)| *ks == s).map(|(_, t)| *t));
                        }
                    }
                    if out.touches.is_empty() {
                        continue;
                    }
                    let credited = out.credits.len();
                    out.settle(g, params);
                    // Its credits into the unit's reward rows.
                    for cr in &out.credits[credited..] {
                        if cr.unit != u {
                            foreign.push(*cr);
                        } else if let Some(r) =
                            out.rewards[first..].iter_mut().find(|r| r.pa == cr.pa)
                        {
                            r.goal_events += cr.weight;
                            r.goal_value += cr.weight * g.value;
                        }
                    }
                }
            }
            (out, foreign)
        })
        .collect();
    let mut rewards = Vec::with_capacity(chunks.iter().map(|c| c.0.rewards.len()).sum());
    let (mut credits, mut outcomes, mut kept, mut foreign) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (o, f) in chunks {
        rewards.extend(o.rewards);
        credits.push(o.credits);
        outcomes.push(o.outcomes);
        kept.push(o.kept);
        foreign.extend(f);
    }
    // The SDK's arrays, as sent: one credit per (event, pair), weights summed.
    let mut array_credits: Vec<Credit> = Vec::new();
    let mut array_outcomes: Vec<(u32, u32, Outcome)> = Vec::new();
    if !arrays.is_empty() {
        let ts_of: Map<u32, (i64, u32)> = goals
            .iter()
            .filter(|g| g.has_array)
            .map(|g| (g.track, (g.ts, g.unit)))
            .collect::<HashMap<_, _, _>>();
        let mut sorted = arrays;
        sorted.sort_by_key(|&(t, pa, _)| (t, pa));
        for (t, pa, w) in sorted {
            match array_credits.last_mut() {
                Some(c) if c.track == t && c.pa == pa => c.weight += w,
                _ => {
                    let (at, unit) = ts_of[&t];
                    array_credits.push(Credit {
                        track: t,
                        unit,
                        row: NONE,
                        pa,
                        at,
                        weight: w,
                    });
                }
            }
            let policy = pairs.policy_of[pa as usize];
            if !array_outcomes
                .iter()
                .rev()
                .take_while(|o| o.0 == t)
                .any(|o| o.1 == policy)
            {
                array_outcomes.push((t, policy, Outcome::Credited));
            }
        }
    }
    // Credits of arrays and of other units' decisions, into the reward rows of their
    // unit: rows are in unit-rank order, each unit's contiguous.
    if !(foreign.is_empty() && array_credits.is_empty()) {
        let mut unit_start = vec![0u32; n_units + 1];
        for r in &rewards {
            unit_start[unit_rank[xs[r.row as usize].unit as usize] as usize + 1] += 1;
        }
        for k in 0..n_units {
            unit_start[k + 1] += unit_start[k];
        }
        for cr in foreign.iter().chain(&array_credits) {
            if cr.unit == NONE {
                continue;
            }
            let rank = unit_rank[cr.unit as usize] as usize;
            let span = unit_start[rank] as usize..unit_start[rank + 1] as usize;
            if let Some(r) = rewards[span].iter_mut().find(|r| r.pa == cr.pa) {
                r.goal_events += cr.weight;
                r.goal_value += cr.weight * values[cr.track as usize];
            }
        }
    }
    // Output order: policy, allocation, then unit key (rows are in unit-key order).
    let pa_rank = pairs.ranks();
    let ranks: Vec<u32> = rewards.iter().map(|r| pa_rank[r.pa as usize]).collect();
    let (_, rewards) = grouped(&rewards, &ranks, pa_rank.len());
    credits.push(array_credits);
    outcomes.push(array_outcomes);
    Attributed {
        tables,
        mode: AttributionMode::Cumulative,
        pairs,
        rewards,
        credits,
        outcomes,
        goals,
        kept,
    }
}

/// Rows `idx` of `column` of `df`. The column is made one chunk first: for strings
/// that concatenates the chunks' views and shares their bytes, and the gather then
/// copies 16-byte views. (Gathering across the chunks a parquet reader leaves copied
/// every string through a growing buffer: ten times slower.)
fn gather(df: &DataFrame, column: &str, idx: &[u32]) -> Result<Column> {
    let idx = IdxCa::from_vec("".into(), idx.iter().map(|&i| i as IdxSize).collect());
    Ok(df.column(column)?.rechunk().take(&idx)?)
}

impl Attributed<'_> {
    /// `policy_id` and `allocation_name` of pair codes `pas`: the few names gathered
    /// as views, their bytes stored once.
    fn pair_columns(&self, pas: impl Iterator<Item = u32>) -> Result<[Column; 2]> {
        let k = &self.pairs.keys;
        let idx = IdxCa::from_vec("".into(), pas.map(|p| p as IdxSize).collect());
        let names = |name: &str, all: Vec<&str>| -> Result<Column> {
            Ok(Column::new(name.into(), all).take(&idx)?)
        };
        Ok([
            names("policy_id", k.iter().map(|p| p.0).collect())?,
            names("allocation_name", k.iter().map(|p| p.1).collect())?,
        ])
    }

    /// The reward table of `goal` (see [`super::relational`] for its columns). Its
    /// columns are built in parallel: gathers of views from the exposures, and
    /// numbers moved into columns without a copy.
    pub(super) fn rewards(&self, goal: &Goal) -> Result<DataFrame> {
        let x = &self.tables.exposures;
        let rows: Vec<u32> = self.rewards.iter().map(|r| r.row).collect();
        let numbers = |name: &str, f: fn(&RewardUnit) -> f64| {
            let v: Vec<f64> = self.rewards.par_iter().map(f).collect();
            Float64Chunked::from_vec(name.into(), v).into_column()
        };
        let reward: fn(&RewardUnit) -> f64 = match goal.goal_type {
            GoalType::ConversionRate => |r| if r.goal_events > 0.0 { 1.0 } else { 0.0 },
            GoalType::Count => |r| r.goal_events,
            GoalType::Sum | GoalType::Mean => |r| r.goal_value,
        };
        let ((pairs, keys), (probability, numbers)) = rayon::join(
            || {
                rayon::join(
                    || self.pair_columns(self.rewards.iter().map(|r| r.pa)),
                    || -> Result<[Column; 2]> {
                        let (u, d) = rayon::join(
                            || gather(x, "unit_key", &rows),
                            || gather(x, "decision_id", &rows),
                        );
                        Ok([u?, d?])
                    },
                )
            },
            || {
                rayon::join(
                    || -> Result<Column> {
                        Ok(gather(x, "probability", &rows)?.cast(&DataType::Float64)?)
                    },
                    || {
                        let at: Vec<i64> = self.rewards.par_iter().map(|r| r.at).collect();
                        [
                            Int64Chunked::from_vec("exposed_at".into(), at).into_column(),
                            numbers("goal_events", |r| r.goal_events),
                            numbers("goal_value", |r| r.goal_value),
                            numbers("reward", reward),
                        ]
                    },
                )
            },
        );
        let ([policy, allocation], [unit_key, decision_id]) = (pairs?, keys?);
        let [exposed_at, events, value, reward] = numbers;
        Ok(DataFrame::new(
            rows.len(),
            vec![
                policy,
                allocation,
                unit_key,
                decision_id,
                exposed_at,
                probability?,
                events,
                value,
                reward,
            ],
        )?)
    }

    /// The credit, outcome, goal and exposure tables of [`super::Credits`].
    pub(super) fn credits(&self) -> Result<super::Credits> {
        let x = &self.tables.exposures;
        let t = &self.tables.tracks;
        let c = &self.credits.concat();
        let tracks: Vec<u32> = c.iter().map(|c| c.track).collect();
        // The unit key of the credited exposure, or the event's own (SDK arrays).
        let (x_units, t_units) = (strs(x, "unit_key")?, strs(t, "unit_key")?);
        let unit_key: Vec<Option<&str>> = c
            .iter()
            .map(|c| {
                if c.row == NONE {
                    t_units[c.track as usize]
                } else {
                    x_units[c.row as usize]
                }
            })
            .collect();
        let [policy, allocation] = self.pair_columns(c.iter().map(|c| c.pa))?;
        let mut credit_cols = vec![
            gather(t, "track_row", &tracks)?,
            Column::new("unit_key".into(), unit_key),
            policy,
            allocation,
            Column::new(
                "exposed_at".into(),
                c.iter().map(|c| c.at).collect::<Vec<_>>(),
            ),
            Column::new(
                "weight".into(),
                c.iter().map(|c| c.weight).collect::<Vec<_>>(),
            ),
        ];
        if self.mode == AttributionMode::Decision {
            credit_cols.push(gather(t, "decision_id", &tracks)?);
        }
        let o = &self.outcomes.concat();
        let o_tracks: Vec<u32> = o.iter().map(|o| o.0).collect();
        let policies = &self.pairs.policies;
        let outcomes = DataFrame::new(
            o.len(),
            vec![
                gather(t, "track_row", &o_tracks)?,
                Column::new(
                    "policy_id".into(),
                    o.iter().map(|o| policies[o.1 as usize]).collect::<Vec<_>>(),
                ),
                Column::new(
                    "outcome".into(),
                    o.iter().map(|o| o.2.name()).collect::<Vec<_>>(),
                ),
            ],
        )?;
        let g_tracks: Vec<u32> = self.goals.iter().map(|g| g.track).collect();
        let goals = DataFrame::new(
            self.goals.len(),
            vec![
                gather(t, "track_row", &g_tracks)?,
                gather(t, "decision_id", &g_tracks)?,
                Column::new(
                    "known_decision".into(),
                    self.goals
                        .iter()
                        .map(|g| g.decision != NONE)
                        .collect::<Vec<_>>(),
                ),
                Column::new(
                    "has_array".into(),
                    self.goals.iter().map(|g| g.has_array).collect::<Vec<_>>(),
                ),
            ],
        )?;
        let kept = &self.kept.concat();
        let exposures = DataFrame::new(
            kept.len(),
            vec![
                gather(x, "unit_key", kept)?,
                gather(x, "policy_id", kept)?,
                gather(x, "allocation_name", kept)?,
                gather(x, "layer_id", kept)?,
                gather(x, "ts", kept)?.with_name("exposed_at".into()),
                gather(x, "decision_id", kept)?,
                gather(x, "probability", kept)?,
            ],
        )?;
        Ok(super::Credits {
            credits: DataFrame::new(c.len(), credit_cols)?.lazy(),
            outcomes: outcomes.lazy(),
            goals: goals.lazy(),
            exposures: exposures.lazy(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
