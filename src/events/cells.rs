//! Typed views of a flat file's columns, and the row path.
//!
//! Each column is cast once to one of six shapes (`Int64`, `Float64`, `Boolean`,
//! `String`, a timestamp as milliseconds, all-null) and left in place ([`Values`]); a
//! window of rows is read from one arrow array per column ([`Cells`]). The row path
//! reads one row's cells: a row in the shape [`super::write_events`] gives becomes a
//! [`FastEvent`] straight from the typed cells, and the same rules as the ndjson fast
//! path ([`super::fast::accept`]) decide; any other row takes the slow path, the row
//! assembled as the JSON object of the flat format ([`flat::row_to_json`]) and
//! [`super::model::Event::from_json`], which decides and names the field. The slow path
//! also gives a refused row's quarantine record. The columnar path
//! (`super::columnar`) runs the same rules a column at a time and sends here only
//! the rows it declines.

use std::borrow::Cow;

use polars::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{Number, Value};

use super::fast::{FastEvent, FastLayer};
use super::flat::{self, Cell, Target, FLAT_COLUMNS};
use crate::error::{Error, Result};
use crate::time::format_rfc3339;

/// `i`, checked at compile time to be the index of the flat column `name`.
const fn named(i: usize, name: &str) -> usize {
    let (a, b) = (FLAT_COLUMNS[i].0.as_bytes(), name.as_bytes());
    assert!(a.len() == b.len(), "flat column index out of date");
    let mut k = 0;
    while k < a.len() {
        assert!(a[k] == b[k], "flat column index out of date");
        k += 1;
    }
    i
}

pub(super) const TYPE: usize = named(0, "type");
pub(super) const ID: usize = named(1, "id");
pub(super) const ORG_ID: usize = named(2, "orgId");
pub(super) const PROJECT_ID: usize = named(3, "projectId");
pub(super) const ENV: usize = named(4, "env");
pub(super) const UNIT_KEY: usize = named(5, "unitKey");
pub(super) const USER_ID: usize = named(6, "userId");
pub(super) const ANONYMOUS_ID: usize = named(7, "anonymousId");
pub(super) const SESSION_ID: usize = named(8, "sessionId");
pub(super) const REQUEST_ID: usize = named(9, "requestId");
pub(super) const TIMESTAMP: usize = named(10, "timestamp");
pub(super) const SDK_NAME: usize = named(11, "sdkName");
pub(super) const SDK_VERSION: usize = named(12, "sdkVersion");
pub(super) const CONFIG_VERSION: usize = named(13, "configVersion");
pub(super) const DECISION_ID: usize = named(14, "decisionId");
pub(super) const CONTEXT: usize = named(15, "context");
pub(super) const ASSIGNMENTS: usize = named(16, "assignments");
pub(super) const REQUESTED_PARAMETERS: usize = named(17, "requestedParameters");
pub(super) const LATENCY_MS: usize = named(18, "latencyMs");
pub(super) const LAYER_ID: usize = named(19, "layerId");
pub(super) const BUCKET: usize = named(20, "bucket");
pub(super) const POLICY_ID: usize = named(21, "policyId");
pub(super) const POLICY_KEY: usize = named(22, "policyKey");
pub(super) const ALLOCATION_ID: usize = named(23, "allocationId");
pub(super) const ALLOCATION_NAME: usize = named(24, "allocationName");
pub(super) const ALLOCATION_KEY: usize = named(25, "allocationKey");
pub(super) const LAYER_UNIT_KEY: usize = named(26, "layerUnitKey");
pub(super) const LAYER_UNIT_KEY_VALUE: usize = named(27, "layerUnitKeyValue");
pub(super) const PROBABILITY: usize = named(28, "probability");
pub(super) const MODEL_VERSION: usize = named(29, "modelVersion");
pub(super) const ATTRIBUTION_ONLY: usize = named(30, "attributionOnly");
pub(super) const EVENT: usize = named(31, "event");
pub(super) const VALUE: usize = named(32, "value");
pub(super) const VALUES: usize = named(33, "values");
pub(super) const PROPERTIES: usize = named(34, "properties");
pub(super) const ATTRIBUTION: usize = named(35, "attribution");
pub(super) const EVENT_TIMESTAMP: usize = named(36, "eventTimestamp");

/// One column's values, cast to the shape its cells are read in. Rows are read from a
/// window of them ([`Values::window`]).
pub(super) enum Values {
    Int(Int64Chunked),
    /// A temporal column, as milliseconds since the Unix epoch (UTC).
    Time(Int64Chunked),
    Float(Float64Chunked),
    Bool(BooleanChunked),
    Str(StringChunked),
    Null,
}

impl Values {
    /// The column as the flat format reads it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEventFile`] naming the column, for a type other than integers,
    /// floats, booleans, strings or null.
    fn new(file: &str, s: &Series, i: usize) -> Result<Self> {
        let name = FLAT_COLUMNS[i].0;
        let bad = |reason: String| Error::InvalidEventFile {
            file: file.to_owned(),
            reason: format!("column \"{name}\": {reason}"),
        };
        let dtype = s.dtype();
        Ok(if dtype.is_integer() {
            let s = s.cast(&DataType::Int64).map_err(|e| bad(e.to_string()))?;
            Self::Int(s.i64().map_err(|e| bad(e.to_string()))?.clone())
        } else if dtype.is_float() {
            let s = s.cast(&DataType::Float64).map_err(|e| bad(e.to_string()))?;
            Self::Float(s.f64().map_err(|e| bad(e.to_string()))?.clone())
        } else if dtype == &DataType::Boolean {
            Self::Bool(s.bool().map_err(|e| bad(e.to_string()))?.clone())
        } else if dtype == &DataType::String {
            Self::Str(s.str().map_err(|e| bad(e.to_string()))?.clone())
        } else if dtype == &DataType::Null {
            Self::Null
        } else if let DataType::Datetime(unit, _) = dtype {
            Self::Time(millis(s, *unit).map_err(|e| bad(e.to_string()))?)
        } else {
            return Err(bad(format!(
                "unsupported parquet type {dtype}: use strings, integers, floats, booleans or timestamps (nested values as JSON text)"
            )));
        })
    }

    /// Rows `start..start + len` as one arrow array: a window of the file's arrays,
    /// copied only where it spans two of the file's chunks (row groups). Rechunking
    /// whole columns instead would copy every string of the file, serially.
    fn window(&self, start: usize, len: usize) -> Cells {
        fn one<T: PolarsDataType>(ca: &ChunkedArray<T>, start: i64, len: usize) -> T::Array {
            ca.slice(start, len).rechunk().downcast_as_array().clone()
        }
        let start = i64::try_from(start).expect("parquet row numbers fit in i64");
        match self {
            Self::Int(ca) => Cells::Int(one(ca, start, len)),
            Self::Time(ca) => Cells::Time(one(ca, start, len)),
            Self::Float(ca) => Cells::Float(one(ca, start, len)),
            Self::Bool(ca) => Cells::Bool(one(ca, start, len)),
            Self::Str(ca) => Cells::Str(one(ca, start, len)),
            Self::Null => Cells::Null,
        }
    }
}

/// The instants of a timestamp column (any unit; any time zone, since a zoned
/// timestamp is stored as UTC) in milliseconds, rounded down as the text reader
/// drops digits after the milliseconds.
fn millis(s: &Series, unit: TimeUnit) -> PolarsResult<Int64Chunked> {
    let per_ms = match unit {
        TimeUnit::Milliseconds => 1,
        TimeUnit::Microseconds => 1_000,
        TimeUnit::Nanoseconds => 1_000_000,
    };
    let raw = s.to_physical_repr();
    Ok(raw.i64()?.apply_values(|x| x.div_euclid(per_ms)))
}

/// The arrow array of a window of one column: a cell is one lookup.
pub(super) enum Cells {
    Int(<Int64Type as PolarsDataType>::Array),
    Time(<Int64Type as PolarsDataType>::Array),
    Float(<Float64Type as PolarsDataType>::Array),
    Bool(<BooleanType as PolarsDataType>::Array),
    Str(<StringType as PolarsDataType>::Array),
    Null,
}

impl Cells {
    pub(super) fn get(&self, row: usize) -> Raw<'_> {
        match self {
            Self::Int(a) => a.get(row).map_or(Raw::Absent, Raw::Int),
            Self::Time(a) => a.get(row).map_or(Raw::Absent, Raw::Time),
            Self::Float(a) => a.get(row).map_or(Raw::Absent, Raw::Float),
            Self::Bool(a) => a.get(row).map_or(Raw::Absent, Raw::Bool),
            Self::Str(a) => match a.get(row) {
                None | Some("") => Raw::Absent,
                Some(s) => Raw::Str(s),
            },
            Self::Null => Raw::Absent,
        }
    }
}

/// One cell as stored. An empty string is an absent field, as a null is.
#[derive(Clone, Copy)]
pub(super) enum Raw<'a> {
    Absent,
    Int(i64),
    /// A timestamp cell, in milliseconds.
    Time(i64),
    Float(f64),
    Bool(bool),
    Str(&'a str),
}

/// The typed readings of a cell for the fast path: `Some(None)` for an absent field,
/// `Some(Some(x))` for a value in the canonical shape, `None` (decline) for anything
/// else, which the slow path then decides.
impl<'a> Raw<'a> {
    pub(super) fn text(self) -> Option<Option<String>> {
        self.borrowed().map(|s| s.map(str::to_owned))
    }

    /// A timestamp field: text, or a typed timestamp as the text it stands for.
    pub(super) fn stamp(self) -> Option<Option<Cow<'a, str>>> {
        match self {
            Self::Time(ms) => Some(Some(Cow::Owned(format_rfc3339(ms)))),
            _ => self.borrowed().map(|s| s.map(Cow::Borrowed)),
        }
    }

    pub(super) fn borrowed(self) -> Option<Option<&'a str>> {
        match self {
            Self::Absent => Some(None),
            Self::Str(s) => Some(Some(s)),
            _ => None,
        }
    }

    pub(super) fn int(self) -> Option<Option<i64>> {
        match self {
            Self::Absent => Some(None),
            Self::Int(x) => Some(Some(x)),
            _ => None,
        }
    }

    /// A number field. An integer reads as the slow path's `as_f64` does; a
    /// non-finite float is text there (not a JSON number), so it declines.
    pub(super) fn float(self) -> Option<Option<f64>> {
        match self {
            Self::Absent => Some(None),
            #[allow(clippy::cast_precision_loss)] // serde_json's Number::as_f64 does the same.
            Self::Int(x) => Some(Some(x as f64)),
            Self::Float(x) if x.is_finite() => Some(Some(x)),
            _ => None,
        }
    }

    pub(super) fn boolean(self) -> Option<Option<bool>> {
        match self {
            Self::Absent => Some(None),
            Self::Bool(b) => Some(Some(b)),
            _ => None,
        }
    }

    /// A JSON-text field, parsed into its typed field (`null` text is absent, as in
    /// the slow path).
    pub(super) fn json<T: DeserializeOwned>(self) -> Option<Option<T>> {
        match self {
            Self::Absent => Some(None),
            Self::Str(s) => serde_json::from_str(s).ok(),
            _ => None,
        }
    }

    /// A JSON-text field the event's type ignores: the flat format still parses it,
    /// and a row whose JSON text does not parse is refused.
    pub(super) fn json_parses(self) -> Option<()> {
        match self {
            Self::Absent => Some(()),
            Self::Str(s) => serde_json::from_str::<Value>(s).ok().map(drop),
            _ => None,
        }
    }
}

/// Typed views of a parquet file's columns: of a batch of rows ([`Values`]), or of a
/// window of it that rows are read from ([`Cells`]).
pub(super) struct Columns<C> {
    /// `(flat column index, values)`, in file order.
    pub(super) cols: Vec<(usize, C)>,
    /// Position in `cols` of each flat column the file has.
    pub(super) at: [Option<usize>; FLAT_COLUMNS.len()],
    /// Positions in `cols` of the layer columns.
    pub(super) layer: Vec<usize>,
}

impl Columns<Values> {
    /// The columns of a frame read from `file`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEventFile`] for an unknown column name (with the closest known
    /// one), else as [`Values::new`] for the first unsupported column in file order.
    pub(super) fn of(file: &str, df: &DataFrame) -> Result<Self> {
        let names: Vec<&str> = df.get_column_names().iter().map(|s| s.as_str()).collect();
        let indices = flat::header_indices(file, names.iter().copied())?;
        let mut cols = Vec::with_capacity(indices.len());
        let mut at = [None; FLAT_COLUMNS.len()];
        let mut layer = Vec::new();
        for (p, (c, &i)) in df.columns().iter().zip(&indices).enumerate() {
            // A column without a value reads as no column (every cell absent either
            // way), and is not materialised: the parquet reader gives the columns its
            // statistics showed empty as null scalars. Its type is still checked.
            let values = if c.null_count() == c.len() {
                Values::new(file, &Series::new_empty(c.name().clone(), c.dtype()), i)?;
                Values::Null
            } else {
                Values::new(file, c.as_materialized_series(), i)?
            };
            cols.push((i, values));
            at[i] = Some(p);
            if matches!(FLAT_COLUMNS[i].1, Target::Layer(_)) {
                layer.push(p);
            }
        }
        Ok(Self { cols, at, layer })
    }

    /// Rows `start..start + len` of every column.
    pub(super) fn window(&self, start: usize, len: usize) -> Columns<Cells> {
        Columns {
            cols: self
                .cols
                .iter()
                .map(|(i, v)| (*i, v.window(start, len)))
                .collect(),
            at: self.at,
            layer: self.layer.clone(),
        }
    }
}

impl Columns<Cells> {
    /// The cells of flat column `i`, if the file has it.
    pub(super) fn cells(&self, i: usize) -> Option<&Cells> {
        self.at[i].map(|p| &self.cols[p].1)
    }

    pub(super) fn get(&self, i: usize, row: usize) -> Raw<'_> {
        self.at[i].map_or(Raw::Absent, |p| self.cols[p].1.get(row))
    }

    /// The row as a [`FastEvent`] when every cell it reads is in the canonical shape;
    /// `None` sends the row to the slow path.
    pub(super) fn fast_event(&self, row: usize) -> Option<FastEvent<'_>> {
        let get = |i| self.get(i, row);
        let kind = get(TYPE).borrowed()??;
        let (layered, decision) = match kind {
            "exposure" => (true, false),
            "decision" => (true, true),
            "track" => (false, false),
            _ => return None,
        };
        let mut f = FastEvent {
            id: get(ID).text()?,
            kind: Some(Cow::Borrowed(kind)),
            org_id: get(ORG_ID).text()?,
            project_id: get(PROJECT_ID).text()?,
            env: get(ENV).text()?,
            unit_key: get(UNIT_KEY).text()?,
            user_id: get(USER_ID).text()?,
            anonymous_id: get(ANONYMOUS_ID).text()?,
            session_id: get(SESSION_ID).text()?,
            request_id: get(REQUEST_ID).text()?,
            timestamp: get(TIMESTAMP).stamp()?,
            context: get(CONTEXT).json()?,
            sdk_name: get(SDK_NAME).text()?,
            sdk_version: get(SDK_VERSION).text()?,
            config_version: get(CONFIG_VERSION).text()?,
            decision_id: get(DECISION_ID).text()?,
            ..FastEvent::default()
        };
        if layered {
            f.assignments = get(ASSIGNMENTS).json()?;
            // As `flat::row_to_json`: the row's layer exists when any layer cell does.
            let any_layer = self
                .layer
                .iter()
                .any(|&p| !matches!(self.cols[p].1.get(row), Raw::Absent));
            if any_layer {
                f.layers = Some(vec![FastLayer {
                    layer_id: get(LAYER_ID).text()?,
                    bucket: match get(BUCKET).int()? {
                        None => None,
                        Some(b) => Some(u32::try_from(b).ok()?),
                    },
                    policy_id: get(POLICY_ID).text()?,
                    policy_key: get(POLICY_KEY).text()?,
                    allocation_id: get(ALLOCATION_ID).text()?,
                    allocation_name: get(ALLOCATION_NAME).text()?,
                    allocation_key: get(ALLOCATION_KEY).text()?,
                    unit_key: get(LAYER_UNIT_KEY).text()?,
                    unit_key_value: get(LAYER_UNIT_KEY_VALUE).text()?,
                    probability: get(PROBABILITY).float()?,
                    model_version: get(MODEL_VERSION).text()?,
                    attribution_only: get(ATTRIBUTION_ONLY).boolean()?,
                }]);
            }
            if decision {
                f.requested_parameters = get(REQUESTED_PARAMETERS).json()?;
                f.latency_ms = get(LATENCY_MS).int()?;
            } else {
                get(REQUESTED_PARAMETERS).json_parses()?;
            }
            for i in [VALUES, PROPERTIES, ATTRIBUTION] {
                get(i).json_parses()?;
            }
        } else {
            f.event = get(EVENT).text()?;
            f.value = get(VALUE).float()?;
            f.values = get(VALUES).json()?;
            f.properties = get(PROPERTIES).json()?;
            f.attribution = get(ATTRIBUTION).json()?;
            f.event_timestamp = get(EVENT_TIMESTAMP).stamp()?;
            for i in [ASSIGNMENTS, REQUESTED_PARAMETERS] {
                get(i).json_parses()?;
            }
        }
        Some(f)
    }

    /// The cell at position `p` as the JSON value of its field in the flat format
    /// (JSON text still as text), `None` when absent.
    fn cell(&self, p: usize, row: usize) -> Option<Value> {
        let (i, values) = &self.cols[p];
        match values.get(row) {
            Raw::Absent => None,
            Raw::Int(x) => Some(Value::Number(x.into())),
            Raw::Time(ms) => Some(Value::String(format_rfc3339(ms))),
            // A non-finite float is not a JSON number: it stays text, so validation
            // names it.
            Raw::Float(x) => Some(
                Number::from_f64(x).map_or_else(|| Value::String(x.to_string()), Value::Number),
            ),
            Raw::Bool(b) => Some(Value::Bool(b)),
            Raw::Str(s) => match FLAT_COLUMNS[*i].2 {
                // JSON text is parsed in `slow_row`, so a bad cell names its row.
                Cell::Json => Some(Value::String(s.to_owned())),
                _ => flat::text_cell(*i, s).ok().flatten(),
            },
        }
    }

    /// The row as the JSON object of the flat format, for [`Event::from_json`].
    ///
    /// [`Event::from_json`]: super::model::Event::from_json
    pub(super) fn slow_row(&self, row: usize) -> std::result::Result<Value, (String, String)> {
        (0..self.cols.len())
            .filter_map(|p| self.cell(p, row).map(|v| (self.cols[p].0, v)))
            .map(|(i, v)| match (FLAT_COLUMNS[i].2, v) {
                (Cell::Json, Value::String(text)) => {
                    flat::text_cell(i, &text).map(|v| (i, v.unwrap_or(Value::Null)))
                }
                (_, v) => Ok((i, v)),
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .and_then(flat::row_to_json)
    }

    /// A rejected row's record: every column of the file, by name, in file order.
    pub(super) fn record(&self, row: usize) -> Value {
        Value::Object(
            self.cols
                .iter()
                .enumerate()
                .map(|(p, (i, _))| {
                    (
                        FLAT_COLUMNS[*i].0.to_owned(),
                        self.cell(p, row).unwrap_or(Value::Null),
                    )
                })
                .collect(),
        )
    }
}
