//! Sort orders: ranks of keys in byte order, for the output's sort by name.

use rayon::prelude::*;

/// A key's first 16 bytes as one big-endian integer (zero-padded): comparing these
/// agrees with byte order wherever they differ.
pub(super) fn prefix(s: &str) -> u128 {
    let (b, mut buf) = (s.as_bytes(), [0u8; 16]);
    let k = b.len().min(16);
    buf[..k].copy_from_slice(&b[..k]);
    u128::from_be_bytes(buf)
}

/// Sorts `(group, prefix of key, id)` by group, then key bytes: by prefix, then runs
/// of equal prefixes by all their bytes (`key(id)`). Most ids differ in their first
/// 16 bytes, so few strings are ever read twice.
pub(super) fn sort_by_bytes<'a>(items: &mut [(u32, u128, u32)], key: impl Fn(u32) -> &'a str) {
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
pub(super) fn str_ranks(keys: &[&str]) -> Vec<u32> {
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
pub(super) fn ranks_of<K: Ord + Sync>(keys: &[K]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..keys.len() as u32).collect();
    order.par_sort_unstable_by(|&a, &b| keys[a as usize].cmp(&keys[b as usize]));
    let mut rank = vec![0u32; order.len()];
    for (r, &c) in order.iter().enumerate() {
        rank[c as usize] = r as u32;
    }
    rank
}
