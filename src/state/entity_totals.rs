//! Per-entity statistics in `state.json` (`policies.<id>.entities`), kept compact so
//! tens of thousands of entities stay a small file: one line per entity.
//!
//! ```json
//! "entities": {
//!   "entityKeys": ["productId"],
//!   "allocations": ["default", "hero_first"],
//!   "global": "1200 61.0 61.0|1180 88.0 88.0",
//!   "entities": { "prod-1": "40 2.0 2.0|38 5.0 5.0" }
//! }
//! ```
//!
//! A row is each arm's `exposures rewardSum rewardSumSq`, arms separated by `|`, in
//! allocation order (dynamic allocations: by index). Floats are written in shortest
//! round-trip form, so reading a row back gives the same numbers. `allocations` names
//! the allocations the indices refer to (empty for dynamic allocations, where
//! `countKey` is set and `counts` holds each entity's latest allocation count): when
//! the bundle's allocations change, the statistics are not reused.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::reward::ArmStats;

/// Statistics per arm, written as one compact string.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ArmRow(pub Vec<ArmStats>);

impl ArmRow {
    /// The row's text.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(self.0.len() * 16);
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                s.push('|');
            }
            write!(s, "{} {:?} {:?}", a.n, a.sum, a.sum_sq).expect("writing to a String");
        }
        s
    }

    /// Parses a row's text.
    ///
    /// # Errors
    ///
    /// A message naming the bad arm when an arm is not three numbers (a count and two
    /// finite floats).
    pub fn from_text(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Ok(Self(Vec::new()));
        }
        text.split('|')
            .enumerate()
            .map(|(i, arm)| {
                let bad =
                    || format!("arm {i} \"{arm}\" is not \"exposures rewardSum rewardSumSq\"");
                let mut parts = arm.split(' ');
                let n = parts
                    .next()
                    .and_then(|p| p.parse::<u64>().ok())
                    .ok_or_else(bad)?;
                let mut float = || {
                    parts
                        .next()
                        .and_then(|p| p.parse::<f64>().ok())
                        .filter(|x| x.is_finite())
                };
                let (Some(sum), Some(sum_sq)) = (float(), float()) else {
                    return Err(bad());
                };
                if parts.next().is_some() {
                    return Err(bad());
                }
                Ok(ArmStats { n, sum, sum_sq })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether every sum is finite (JSON and the row format need it).
    #[must_use]
    pub fn is_finite(&self) -> bool {
        self.0
            .iter()
            .all(|a| a.sum.is_finite() && a.sum_sq.is_finite())
    }
}

impl Serialize for ArmRow {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for ArmRow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::from_text(&text).map_err(serde::de::Error::custom)
    }
}

/// What the engine knows about a per-entity policy's entities.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntityTotals {
    /// The bundle's `entityKeys` the entity ids were built from.
    pub entity_keys: Vec<String>,
    /// `dynamicAllocations.countKey`, for dynamic policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_key: Option<String>,
    /// Allocation names the arm indices refer to (empty for dynamic allocations).
    pub allocations: Vec<String>,
    /// Pooled statistics (every entity, and rows without an entity id).
    pub global: ArmRow,
    /// Dynamic policies: each entity's latest allocation count.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, u32>,
    /// Per entity id.
    pub entities: BTreeMap<String, ArmRow>,
}

impl EntityTotals {
    /// The key of the first non-finite statistic, relative to the totals.
    #[must_use]
    pub fn first_non_finite(&self) -> Option<String> {
        if !self.global.is_finite() {
            return Some("global".into());
        }
        self.entities
            .iter()
            .find(|(_, r)| !r.is_finite())
            .map(|(id, _)| format!("entities.{id}"))
    }

    /// Whether statistics recorded under these totals can be added to for a policy
    /// with these keys, count key and allocations.
    #[must_use]
    pub fn compatible(
        &self,
        keys: &[String],
        count_key: Option<&str>,
        allocations: &[String],
    ) -> bool {
        self.entity_keys == keys
            && self.count_key.as_deref() == count_key
            && self.allocations == allocations
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_row_is_one_short_line() {
        let row = ArmRow(vec![
            ArmStats {
                n: 40,
                sum: 2.0,
                sum_sq: 2.0,
            },
            ArmStats {
                n: 3,
                sum: 0.1,
                sum_sq: 1e-7,
            },
        ]);
        assert_eq!(row.to_text(), "40 2.0 2.0|3 0.1 1e-7");
        assert_eq!(ArmRow::from_text(&row.to_text()).unwrap(), row);
    }

    #[test]
    fn a_malformed_row_names_the_arm() {
        assert_eq!(
            ArmRow::from_text("1 1.0 1.0|x 2 2").unwrap_err(),
            "arm 1 \"x 2 2\" is not \"exposures rewardSum rewardSumSq\""
        );
        assert!(ArmRow::from_text("1 NaN 1.0").is_err());
        assert!(ArmRow::from_text("1 1.0").is_err());
        assert!(ArmRow::from_text("1 1.0 1.0 4").is_err());
    }

    proptest! {
        #[test]
        fn rows_round_trip_exactly(
            arms in prop::collection::vec((0u64..1_000_000, -1e12f64..1e12, 0f64..1e24), 0..8)
        ) {
            let row = ArmRow(arms.into_iter().map(|(n, sum, sum_sq)| ArmStats { n, sum, sum_sq }).collect());
            prop_assert_eq!(ArmRow::from_text(&row.to_text()).unwrap(), row);
        }
    }
}
