//! A parallel, stable counting sort: items grouped by a dense code, as CSR offsets.

use rayon::prelude::*;

use super::NONE;

/// `items` grouped by their code (a counting sort; `NONE` left out), as CSR
/// offsets and the items in code order, each group in input order. The items are
/// split into one span per thread, counted and placed in parallel: a span's items of
/// a code go after the earlier spans' items of that code, so the result does not
/// depend on the split.
pub(super) fn grouped<T: Copy + Send + Sync>(
    items: &[T],
    codes: &[u32],
    n_codes: usize,
) -> (Vec<u32>, Vec<T>) {
    grouped_by(|i| items[i], codes, n_codes)
}

/// [`grouped`] of `item(i)` for each `i` of `codes`, made only for the rows placed
/// (no copy of the whole input first: a few large buffers fewer per run).
pub(super) fn grouped_by<T: Send>(
    item: impl Fn(usize) -> T + Sync,
    codes: &[u32],
    n_codes: usize,
) -> (Vec<u32>, Vec<T>) {
    check_row_bound(codes.len());
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
                    // SAFETY: row bound: `codes.len()` < 2³² - 1 (asserted by
                    // `check_row_bound`), so no `u32` count or offset above wrapped,
                    // and `*at` starts at this span's first slot of code `c` and is
                    // bumped once per item of `c` in the span, which the counting pass
                    // counted: it stays below the next span's (or code's) first slot,
                    // at most `total` (the capacity). The spans' ranges of each code
                    // are disjoint, so every slot is written by exactly one task,
                    // exactly once.
                    unsafe { slots.write(*at as usize, item(k * span + j)) };
                    *at += 1;
                }
            }
        });
    // SAFETY: the counts cover every slot below `total`, each written above.
    unsafe { out.set_len(total) };
    (offsets, out)
}

/// Refuses 2³² - 1 items or more: [`grouped_by`] counts and places them with `u32`
/// counts and offsets, which must not wrap for its unchecked writes to stay within
/// the output. The kernel refuses such inputs with an error first (`code.rs`); this
/// holds the bound where the writes rely on it.
pub(super) fn check_row_bound(items: usize) {
    assert!(
        items < NONE as usize,
        "the counting sort takes fewer than 2^32 - 1 items (its counts are u32), got {items}"
    );
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
