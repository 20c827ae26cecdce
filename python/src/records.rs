//! JSON rows (what the library serialises its reports to) as a polars frame, and frame
//! rows as JSON contexts: the two shapes the bindings hand results and contexts in.

use bandit_engine::polars::prelude::*;
use pyo3::PyResult;
use serde_json::{Map, Value};

use crate::errors::value_error;

/// One column per key (in first-seen order): numbers as Float64 (Int64 when every value
/// is an integer), booleans as Boolean, anything else as text (objects as JSON).
pub fn frame_of_records(rows: &[Map<String, Value>]) -> PyResult<DataFrame> {
    let mut keys: Vec<&String> = Vec::new();
    for row in rows {
        for k in row.keys() {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    let columns = keys
        .iter()
        .map(|k| {
            let values: Vec<Option<&Value>> = rows
                .iter()
                .map(|r| r.get(*k).filter(|v| !v.is_null()))
                .collect();
            column(k, &values)
        })
        .collect();
    DataFrame::new(rows.len(), columns).map_err(|e| value_error(e.to_string()))
}

fn column(name: &str, values: &[Option<&Value>]) -> Column {
    let present = || values.iter().flatten();
    if present().all(|v| v.is_i64()) {
        let v: Vec<Option<i64>> = values.iter().map(|v| v.and_then(Value::as_i64)).collect();
        Column::new(name.into(), v)
    } else if present().all(|v| v.is_number()) {
        let v: Vec<Option<f64>> = values.iter().map(|v| v.and_then(Value::as_f64)).collect();
        Column::new(name.into(), v)
    } else if present().all(|v| v.is_boolean()) {
        let v: Vec<Option<bool>> = values.iter().map(|v| v.and_then(Value::as_bool)).collect();
        Column::new(name.into(), v)
    } else {
        let v: Vec<Option<String>> = values
            .iter()
            .map(|v| {
                v.map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
            })
            .collect();
        Column::new(name.into(), v)
    }
}

/// Each row of `df` as a JSON object (nulls left out): the contexts of `resolve_many`.
pub fn contexts_of_frame(df: &DataFrame) -> PyResult<Vec<Map<String, Value>>> {
    let mut rows = vec![Map::new(); df.height()];
    for col in df.columns() {
        let name = col.name().to_string();
        let s = col.as_materialized_series();
        for (i, row) in rows.iter_mut().enumerate() {
            let v = match s.get(i).map_err(|e| value_error(e.to_string()))? {
                AnyValue::Null => continue,
                AnyValue::Boolean(b) => Value::Bool(b),
                AnyValue::String(t) => Value::String(t.to_owned()),
                AnyValue::StringOwned(t) => Value::String(t.to_string()),
                AnyValue::Float64(x) => Value::from(x),
                AnyValue::Float32(x) => Value::from(f64::from(x)),
                v if v.is_integer() => Value::from(v.extract::<i64>().unwrap_or_default()),
                other => Value::String(other.to_string()),
            };
            row.insert(name.clone(), v);
        }
    }
    Ok(rows)
}
