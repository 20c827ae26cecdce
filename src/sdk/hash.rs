//! The platform's two hash contracts.
//!
//! * `sha256-v2`, current SDKs (core 0.10 and later): the bucket of a unit in a layer
//!   is the first 64 bits (big-endian) of SHA-256 over
//!   `traffical:assignment:v2|u:<utf8 len>:<unitKey>|l:<utf8 len>:<layerId>`, modulo
//!   `bucketCount`; weighted selection hashes its seed string the same way and maps the
//!   64 bits modulo 2^53 to [0, 1).
//! * `fnv1a-v1`, the spec repository's fixtures: FNV-1a 32-bit over the UTF-8 bytes of
//!   `unitKey + ":" + layerId`, modulo `bucketCount`; weighted selection draws
//!   `(FNV-1a(seed) mod 10000) / 10000`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Which hash contract to resolve with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HashContract {
    /// The current SDKs' SHA-256 assignment hash (the default).
    #[default]
    #[serde(rename = "sha256-v2")]
    Sha256V2,
    /// The spec repository's FNV-1a 32-bit hash.
    #[serde(rename = "fnv1a-v1")]
    Fnv1aV1,
}

/// FNV-1a, 32 bits.
#[must_use]
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// First 64 bits, big-endian, of SHA-256 of `input`.
#[must_use]
pub fn sha256_u64(input: &[u8]) -> u64 {
    let digest = Sha256::digest(input);
    u64::from_be_bytes(
        digest[..8]
            .try_into()
            .expect("a SHA-256 digest has 32 bytes"),
    )
}

/// Appends the decimal digits of `n` to a hasher without allocating.
fn update_decimal(h: &mut Sha256, n: usize) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    h.update(&buf[i..]);
}

fn fnv1a32_parts(parts: &[&[u8]]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for part in parts {
        for &b in *part {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

impl HashContract {
    /// The contract's name on the command line and in fixtures.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256V2 => "sha256-v2",
            Self::Fnv1aV1 => "fnv1a-v1",
        }
    }

    /// The unit's bucket in a layer. Allocation-free.
    ///
    /// # Panics
    ///
    /// If `bucket_count` is 0 (a compiled [`super::Resolver`] refuses such bundles).
    #[must_use]
    pub fn bucket(self, unit_key: &str, layer_id: &str, bucket_count: u32) -> u32 {
        match self {
            Self::Sha256V2 => {
                let mut h = Sha256::new();
                h.update(b"traffical:assignment:v2|u:");
                update_decimal(&mut h, unit_key.len());
                h.update(b":");
                h.update(unit_key.as_bytes());
                h.update(b"|l:");
                update_decimal(&mut h, layer_id.len());
                h.update(b":");
                h.update(layer_id.as_bytes());
                let digest = h.finalize();
                let first = u64::from_be_bytes(
                    digest[..8]
                        .try_into()
                        .expect("a SHA-256 digest has 32 bytes"),
                );
                (first % u64::from(bucket_count)) as u32
            }
            Self::Fnv1aV1 => {
                fnv1a32_parts(&[unit_key.as_bytes(), b":", layer_id.as_bytes()]) % bucket_count
            }
        }
    }

    /// The uniform draw in [0, 1) that weighted selection uses for `seed`.
    #[must_use]
    pub fn uniform(self, seed: &str) -> f64 {
        self.uniform_parts(&[seed.as_bytes()])
    }

    /// [`Self::uniform`] of the concatenation of `parts`, without building it.
    #[must_use]
    pub fn uniform_parts(self, parts: &[&[u8]]) -> f64 {
        match self {
            Self::Sha256V2 => {
                let mut h = Sha256::new();
                for p in parts {
                    h.update(p);
                }
                let digest = h.finalize();
                let first = u64::from_be_bytes(
                    digest[..8]
                        .try_into()
                        .expect("a SHA-256 digest has 32 bytes"),
                );
                (first % (1u64 << 53)) as f64 / 9_007_199_254_740_992.0
            }
            Self::Fnv1aV1 => f64::from(fnv1a32_parts(parts) % 10_000) / 10_000.0,
        }
    }

    /// Weighted selection as the SDKs do it: the first index whose cumulative weight
    /// exceeds the draw, else the last (also when a weight is NaN).
    #[must_use]
    pub fn select(self, weights: &[f64], seed: &str) -> usize {
        if weights.len() <= 1 {
            return 0;
        }
        select_with(weights, self.uniform(seed))
    }
}

/// The selection rule for a given draw `r`: the first index whose running sum of
/// weights (added left to right, as the SDK does) exceeds `r`, else the last.
#[must_use]
pub fn select_with(weights: &[f64], r: f64) -> usize {
    let mut cumulative = 0.0;
    for (i, w) in weights.iter().enumerate() {
        cumulative += w;
        if r < cumulative {
            return i;
        }
    }
    weights.len().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_spec_fixtures() {
        // traffical-sdk-spec/test-vectors/fixtures/expected_basic.json
        assert_eq!(fnv1a32(b"user-abc:layer_ui"), 2_740_347_551);
        assert_eq!(
            HashContract::Fnv1aV1.bucket("user-abc", "layer_ui", 1000),
            551
        );
        assert_eq!(
            HashContract::Fnv1aV1.bucket("user-abc", "layer_pricing", 1000),
            913
        );
        assert_eq!(
            HashContract::Fnv1aV1.bucket("user-xyz", "layer_ui", 1000),
            214
        );
        assert_eq!(
            HashContract::Fnv1aV1.bucket("user-xyz", "layer_pricing", 1000),
            42
        );
    }

    #[test]
    fn the_bucket_hash_is_that_of_the_formatted_input_for_short_and_long_keys() {
        for (unit, layer) in [
            ("u", "l"),
            ("user-abc", "layer_ui"),
            (&*"ü".repeat(90), "layer_long_unit"),
            ("short", &*"x".repeat(300)),
        ] {
            let text = format!(
                "traffical:assignment:v2|u:{}:{unit}|l:{}:{layer}",
                unit.len(),
                layer.len()
            );
            assert_eq!(
                u64::from(HashContract::Sha256V2.bucket(unit, layer, 1_000_003)),
                sha256_u64(text.as_bytes()) % 1_000_003,
                "{unit} / {layer}"
            );
        }
    }

    #[test]
    fn sha256_v2_matches_an_independent_computation() {
        // Golden values from Python's hashlib:
        // int.from_bytes(sha256(input.encode()).digest()[:8], "big") % n, with the
        // lengths counted in UTF-8 bytes.
        assert_eq!(
            HashContract::Sha256V2.bucket("user-abc", "layer_ui", 1000),
            177
        );
        assert_eq!(
            HashContract::Sha256V2.bucket("üser-ß", "layer_ü", 10_000),
            1506
        );
        assert_eq!(
            HashContract::Sha256V2.uniform("ctx:user-high-engage:policy_contextual"),
            0.756_445_110_371_307_1
        );
    }
}
