//! Events: the platform's exposure, decision and track events, their validation,
//! readers (ndjson, csv, parquet) into polars tables, and the quarantine.

mod cells;
mod columnar;
mod fast;
pub mod flat;
mod flat_columns;
pub mod future;
#[doc(hidden)]
pub mod fuzzing;
pub mod model;
mod ndjson;
mod parquet;
mod part;
pub mod projection;
pub mod quarantine;
pub mod read;
mod stream;
pub mod table;
pub mod write;

pub use model::{
    AttributionEntry, AttributionModel, Event, EventType, Layer, RecordError, Warning, Warnings,
};
pub use projection::Projection;
pub use quarantine::{write_quarantine, Rejected};
pub use read::{
    load_events, load_events_batched, load_events_projected, load_events_with_progress, FileReport,
    Format, LoadOptions, LoadReport, Loaded, BLOCK_BYTES, MAX_LINE_BYTES,
};
pub use stream::{convert_events, convert_events_within};
pub use table::{EventTables, LazyEventTables, TableBuilder};
pub use write::{write_events, write_ndjson};
