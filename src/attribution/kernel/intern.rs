//! Key interning: each key hashed once into a 128-bit [`Identity`], and dense `u32`
//! codes given in parallel by partition of identities.

use std::collections::HashMap;

use foldhash::fast::FixedState;
use rayon::prelude::*;

use super::keys::Keys;
use super::order::str_ranks;
use super::{NONE, ROW_SPAN};

/// Dense `u32` codes of string keys (`NONE` for a null key), their number, and the
/// key of each code when asked for.
pub(super) struct Dict<'a> {
    pub(super) codes: Vec<u32>,
    pub(super) len: usize,
    pub(super) keys: Vec<&'a str>,
}

/// Partitions of [`intern`]: enough for both cores and for each partition's table to
/// stay in cache.
const PARTITIONS: usize = 64;

/// A key's identity: two 64-bit foldhash hashes of its bytes with fixed, distinct seeds
/// ([`Hashers`]), the same in every run. Two distinct keys share one with
/// probability about 2⁻¹²⁸ per pair (below 10⁻²⁰ for a billion distinct keys), so
/// tables compare 16 bytes and never the strings, whose bytes are scattered in
/// memory: reading them was most of this step's time. (foldhash is not built to resist
/// keys crafted to collide; event keys are not chosen against it, and with fixed seeds
/// a collision, should one occur, reproduces instead of coming and going.)
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Debug)]
pub(super) struct Identity(pub(super) u64, pub(super) u64);

/// A row's session within its unit: [`NO_SESSION`], an explicit `sessionId` (its
/// identity with the top bit set) or a derived one (`(0, n + 1)`).
pub(super) type Session = Identity;

/// No session.
pub(super) const NO_SESSION: Session = Identity(0, 0);

/// The session of an explicit `sessionId` identity.
pub(super) fn explicit(id: Identity) -> Session {
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

/// The seeds of the two hashes of [`Identity`]: fixed (digits of π, nothing chosen),
/// so a key has the same identity in every run and every process. With per-process
/// random seeds, which keys could collide, and the codes, changed from run to run.
const SEEDS: (u64, u64) = (0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344);

/// The two seeded hashes of [`Identity`]. foldhash's fixed state uses its fixed
/// global seed as well, so nothing here depends on the process.
pub(super) struct Hashers(FixedState, FixedState);

impl Hashers {
    pub(super) fn new() -> Self {
        Self(
            FixedState::with_seed(SEEDS.0),
            FixedState::with_seed(SEEDS.1),
        )
    }

    pub(super) fn identity(&self, key: Option<&str>) -> Identity {
        use std::hash::BuildHasher;
        key.map_or(Identity(0, 0), |s| {
            Identity(self.0.hash_one(s), self.1.hash_one(s))
        })
    }
}

/// The [`Identity`] of each key (`(0, 0)` for null), in parallel.
pub(super) fn identities(keys: &Keys<'_, '_>) -> Vec<Identity> {
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
pub(super) fn intern<'a>(keys: &Keys<'a, '_>, with_names: bool) -> Dict<'a> {
    intern_tables(keys, with_names).0
}

/// The partitions' tables of [`intern`]: identity → code within the partition.
type Table = HashMap<Identity, u32, std::hash::BuildHasherDefault<Passthrough>>;

/// [`intern`] of `keys`, then the code of each of `probe` among them (`NONE` for a
/// key not in `keys`): for keys only some of which can matter, such as the decisions
/// goal events name among all the exposures'.
pub(super) fn intern_and_look_up<'a>(
    keys: &Keys<'a, '_>,
    probe: &Keys<'a, '_>,
) -> (Dict<'a>, Vec<u32>) {
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
    pub(super) fn ranks(&self) -> Vec<u32> {
        str_ranks(&self.keys)
    }
}
