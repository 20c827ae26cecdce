//! Who counts as treated in an analysis: units **exposed** to an allocation (the
//! platform's denominator, the default) or units **assigned** one by a decision event
//! whether or not an exposure followed (the intent-to-treat view).
//!
//! Intent to treat is one relational step before attribution: decision rows of the
//! exposures table (`kind = "decision"`, one per layer the SDK resolved) are relabelled
//! as exposures, so every rule downstream (session dedup, decision lookup, unit-key
//! rule) sees a unit as treated from its first decision on. A decision followed by its
//! exposure collapses into one row in dedup (same unit, session, layer, policy,
//! allocation), with the decision's earlier time. Attribution-only layers stay out, as
//! they do for exposures.

use polars::prelude::*;

use crate::error::Result;
use crate::events::EventTables;

/// Who counts as treated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Population {
    /// Units with an exposure (the platform's denominator).
    #[default]
    Exposed,
    /// Units with a decision, exposed or not (intent to treat).
    Assigned,
}

impl Population {
    /// The option name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exposed => "exposed",
            Self::Assigned => "assigned",
        }
    }
}

/// The tables as `population` sees them: unchanged for [`Population::Exposed`];
/// for [`Population::Assigned`], decision rows counted as exposures.
///
/// # Errors
///
/// [`crate::Error::Polars`] if the exposures table lacks its `kind` column.
pub fn for_population(tables: &EventTables, population: Population) -> Result<EventTables> {
    match population {
        Population::Exposed => Ok(tables.clone()),
        Population::Assigned => {
            let exposures = tables
                .exposures
                .clone()
                .lazy()
                .with_column(
                    when(col("kind").eq(lit("decision")))
                        .then(lit("exposure"))
                        .otherwise(col("kind"))
                        .alias("kind"),
                )
                .collect()?;
            Ok(EventTables {
                exposures,
                ..tables.clone()
            })
        }
    }
}
