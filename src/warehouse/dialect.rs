//! What differs between SQL engines, behind one trait; everything else the generated
//! queries use is portable SQL (CTEs, `CASE`, window aggregates over `PARTITION BY`,
//! `ROW_NUMBER`, `UNION ALL`, `COALESCE`, `POWER`).
//!
//! Times are turned into epoch milliseconds (`BIGINT`) once, where the tables are
//! read ([`Dialect::epoch_ms`]); every later comparison, window and clock-skew
//! tolerance is integer arithmetic on milliseconds, so no interval syntax is needed
//! past that point and the results agree to the millisecond with the engine's.

use std::fmt;

use crate::time::{format_rfc3339, Millis};

/// The SQL engines queries are generated for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DialectName {
    /// PostgreSQL (12 and later).
    Postgres,
    /// DuckDB.
    DuckDb,
    /// Google BigQuery (GoogleSQL).
    BigQuery,
    /// Snowflake.
    Snowflake,
    /// Databricks SQL and Apache Spark SQL (3.1 and later).
    Spark,
    /// ClickHouse.
    ClickHouse,
}

impl DialectName {
    /// Every dialect, in the order the docs list them.
    pub const ALL: [DialectName; 6] = [
        Self::Postgres,
        Self::DuckDb,
        Self::BigQuery,
        Self::Snowflake,
        Self::Spark,
        Self::ClickHouse,
    ];

    /// The name the CLI's `--dialect` takes.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::DuckDb => "duckdb",
            Self::BigQuery => "bigquery",
            Self::Snowflake => "snowflake",
            Self::Spark => "spark",
            Self::ClickHouse => "clickhouse",
        }
    }

    /// The dialect named `name` (`as_str`, or `databricks` for Spark, `postgresql`).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "postgresql" => Some(Self::Postgres),
            "databricks" => Some(Self::Spark),
            _ => Self::ALL.into_iter().find(|d| d.as_str() == lower),
        }
    }

    /// The dialect's rules.
    #[must_use]
    pub fn dialect(self) -> &'static dyn Dialect {
        match self {
            Self::Postgres => &Postgres,
            Self::DuckDb => &DuckDb,
            Self::BigQuery => &BigQuery,
            Self::Snowflake => &Snowflake,
            Self::Spark => &Spark,
            Self::ClickHouse => &ClickHouse,
        }
    }
}

impl fmt::Display for DialectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The few things the generated SQL writes differently per engine.
pub trait Dialect: Sync {
    /// Which dialect this is.
    fn name(&self) -> DialectName;

    /// The identifier quote character (`"` or a backtick).
    fn quote_char(&self) -> char {
        '"'
    }

    /// A quoted identifier; a dotted name (`project.dataset.table`) is quoted part by
    /// part.
    fn quote(&self, ident: &str) -> String {
        let q = self.quote_char();
        ident
            .split('.')
            .map(|part| {
                let escaped = part.replace(q, &format!("{q}{q}"));
                format!("{q}{escaped}{q}")
            })
            .collect::<Vec<_>>()
            .join(".")
    }

    /// A string literal.
    fn string(&self, s: &str) -> String {
        format!("'{}'", s.replace('\'', "''"))
    }

    /// The 64-bit floating-point type.
    fn float_type(&self) -> &'static str {
        "DOUBLE"
    }

    /// The 64-bit integer type.
    fn bigint_type(&self) -> &'static str {
        "BIGINT"
    }

    /// The text type.
    fn text_type(&self) -> &'static str {
        "VARCHAR"
    }

    /// A timestamp column as epoch milliseconds, `BIGINT`.
    fn epoch_ms(&self, expr: &str) -> String;

    /// The instant `t` (epoch ms) as a timestamp literal, to compare a timestamp
    /// column with (zoneless: the engine may read it in its session's zone).
    fn timestamp_literal(&self, t: Millis) -> String {
        format!("TIMESTAMP '{}'", timestamp_text(t))
    }

    /// `expr` as a 64-bit float.
    fn to_float(&self, expr: &str) -> String {
        format!("CAST({expr} AS {})", self.float_type())
    }

    /// `expr` as text.
    fn to_text(&self, expr: &str) -> String {
        format!("CAST({expr} AS {})", self.text_type())
    }

    /// A scalar subquery: the `q` quantile of `expr` over the rows of `from` that
    /// pass `filter`, interpolated linearly between order statistics (numpy's default,
    /// as the engine's caps).
    fn quantile(&self, q: f64, expr: &str, from: &str, filter: &str) -> String {
        format!("(SELECT PERCENTILE_CONT({q:?}) WITHIN GROUP (ORDER BY {expr}) FROM {from} WHERE {filter})")
    }

    /// The JSON text of an exposure's `context` (`expr`) parsed once, as the engine
    /// reads it: NULL, empty or `null` text is an empty context (NULL here).
    fn json_parse(&self, expr: &str) -> String;

    /// The dialect's type name of the value at `key` of a parsed context `j` (NULL
    /// or a null type when absent), and its names for numbers, strings, booleans and
    /// null, as [`Dialect::json_kind`] maps them.
    fn json_type(&self, j: &str, key: &str) -> String;

    /// The type names [`Dialect::json_type`] gives numbers, strings, booleans and
    /// JSON null.
    fn json_type_names(&self) -> JsonTypeNames;

    /// The kind of the value at `key` of a parsed context `j`: `'number'`,
    /// `'string'`, `'boolean'` or `'other'` (an array or object); NULL when the key
    /// is absent or null (the engine's missing value).
    fn json_kind(&self, j: &str, key: &str) -> String {
        let t = self.json_type(j, key);
        let names = self.json_type_names();
        let list = |xs: &[&str]| {
            xs.iter()
                .map(|x| self.string(x))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let number = if names.number_prefix.is_empty() {
            format!("{t} IN ({})", list(names.number))
        } else {
            format!(
                "({t} IN ({}) OR {t} LIKE {})",
                list(names.number),
                self.string(&format!("{}%", names.number_prefix))
            )
        };
        format!(
            "CASE WHEN {t} IS NULL OR {t} IN ({nulls}) THEN NULL WHEN {number} THEN 'number' WHEN {t} IN ({strings}) THEN 'string' WHEN {t} IN ({bools}) THEN 'boolean' ELSE 'other' END",
            nulls = list(names.null),
            strings = list(names.string),
            bools = list(names.boolean),
        )
    }

    /// The text of the value at `key` of a parsed context `j`: a string's
    /// characters, a number's JSON text (any spelling: the engine reads it as a
    /// number), `true` or `false`.
    fn json_text(&self, j: &str, key: &str) -> String;

    /// The number at `key` of a parsed context `j` as a 64-bit float (read only
    /// where [`Dialect::json_kind`] is `'number'`).
    fn json_number(&self, j: &str, key: &str) -> String;

    /// The JSON text of the value at `key` of a parsed context `j`, as text (read
    /// only where [`Dialect::json_kind`] is `'other'`: an array or object, whose
    /// entity id the engine makes from the text, as the SDK's `String(value)`).
    fn json_raw(&self, j: &str, key: &str) -> String;

    /// The keyword that makes a CTE computed once rather than inlined where it is
    /// used, or empty. Used for the linear features, whose columns the `Σ x xᵀ` sums
    /// repeat many times.
    fn materialized(&self) -> &'static str {
        ""
    }

    /// A clause closing every statement (after its `ORDER BY`), or empty: settings
    /// that make the engine follow standard SQL where the queries rely on it.
    fn statement_settings(&self) -> &'static str {
        ""
    }
}

/// The type names a dialect's JSON type function gives (see [`Dialect::json_type`]).
#[derive(Clone, Copy, Debug)]
pub struct JsonTypeNames {
    /// Numbers.
    pub number: &'static [&'static str],
    /// A prefix of further number types (`DECIMAL(` in Spark), or empty.
    pub number_prefix: &'static str,
    /// Strings.
    pub string: &'static [&'static str],
    /// Booleans.
    pub boolean: &'static [&'static str],
    /// JSON null.
    pub null: &'static [&'static str],
}

/// `$."key"`: a JSON path to one key (keys holding `"` or `\` are refused before
/// any SQL is written).
fn json_path(key: &str) -> String {
    format!("$.\"{key}\"")
}

/// `$["key"]`, Spark's path to one key.
fn spark_path(key: &str) -> String {
    format!("$[\"{key}\"]")
}

/// The type names of PostgreSQL's `jsonb_typeof` and BigQuery's `JSON_TYPE`.
const STANDARD_JSON_TYPES: JsonTypeNames = JsonTypeNames {
    number: &["number"],
    number_prefix: "",
    string: &["string"],
    boolean: &["boolean"],
    null: &["null"],
};

/// `CASE WHEN` the text is NULL, empty or `null` `THEN NULL ELSE parsed END`.
fn parse_unless_empty(expr: &str, parsed: &str) -> String {
    format!("CASE WHEN {expr} IS NULL OR TRIM({expr}) IN ('', 'null') THEN NULL ELSE {parsed} END")
}

/// PostgreSQL.
pub struct Postgres;
/// DuckDB.
pub struct DuckDb;
/// BigQuery.
pub struct BigQuery;
/// Snowflake.
pub struct Snowflake;
/// Spark SQL and Databricks.
pub struct Spark;
/// ClickHouse.
pub struct ClickHouse;

impl Dialect for Postgres {
    fn name(&self) -> DialectName {
        DialectName::Postgres
    }
    fn float_type(&self) -> &'static str {
        "DOUBLE PRECISION"
    }
    fn epoch_ms(&self, expr: &str) -> String {
        // EXTRACT(EPOCH …) is exact `numeric` since PostgreSQL 14.
        format!("CAST(ROUND(EXTRACT(EPOCH FROM {expr}) * 1000) AS BIGINT)")
    }
    fn json_parse(&self, expr: &str) -> String {
        parse_unless_empty(expr, &format!("CAST({expr} AS JSONB)"))
    }
    fn json_type(&self, j: &str, key: &str) -> String {
        format!("jsonb_typeof({j} -> {})", self.string(key))
    }
    fn json_type_names(&self) -> JsonTypeNames {
        STANDARD_JSON_TYPES
    }
    fn json_text(&self, j: &str, key: &str) -> String {
        format!("({j} ->> {})", self.string(key))
    }
    fn json_raw(&self, j: &str, key: &str) -> String {
        self.to_text(&format!("({j} -> {})", self.string(key)))
    }
    fn json_number(&self, j: &str, key: &str) -> String {
        self.to_float(&self.json_text(j, key))
    }
    fn materialized(&self) -> &'static str {
        // PostgreSQL 12 and later inline a CTE used once, expression and all: each
        // `xx_i_j` then re-evaluated the JSON reads behind both features, and the
        // linear statistics of 1 M exposure rows took 235 s instead of 13 s.
        "MATERIALIZED"
    }
}

impl Dialect for DuckDb {
    fn name(&self) -> DialectName {
        DialectName::DuckDb
    }
    fn epoch_ms(&self, expr: &str) -> String {
        format!("epoch_ms({expr})")
    }
    fn json_parse(&self, expr: &str) -> String {
        parse_unless_empty(expr, &format!("json({expr})"))
    }
    fn json_type(&self, j: &str, key: &str) -> String {
        format!("json_type({j}, {})", self.string(&json_path(key)))
    }
    fn json_type_names(&self) -> JsonTypeNames {
        JsonTypeNames {
            number: &["BIGINT", "UBIGINT", "HUGEINT", "DOUBLE"],
            number_prefix: "",
            string: &["VARCHAR"],
            boolean: &["BOOLEAN"],
            null: &["NULL"],
        }
    }
    fn json_text(&self, j: &str, key: &str) -> String {
        format!("json_extract_string({j}, {})", self.string(&json_path(key)))
    }
    fn json_raw(&self, j: &str, key: &str) -> String {
        self.to_text(&format!(
            "json_extract({j}, {})",
            self.string(&json_path(key))
        ))
    }
    fn json_number(&self, j: &str, key: &str) -> String {
        self.to_float(&format!(
            "json_extract({j}, {})",
            self.string(&json_path(key))
        ))
    }
}

impl Dialect for BigQuery {
    fn name(&self) -> DialectName {
        DialectName::BigQuery
    }
    fn quote_char(&self) -> char {
        '`'
    }
    fn float_type(&self) -> &'static str {
        "FLOAT64"
    }
    fn bigint_type(&self) -> &'static str {
        "INT64"
    }
    fn text_type(&self) -> &'static str {
        "STRING"
    }
    fn string(&self, s: &str) -> String {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
    fn epoch_ms(&self, expr: &str) -> String {
        format!("UNIX_MILLIS({expr})")
    }
    fn quantile(&self, q: f64, expr: &str, from: &str, filter: &str) -> String {
        // PERCENTILE_CONT is an analytic function only in GoogleSQL.
        format!("(SELECT ANY_VALUE(p) FROM (SELECT PERCENTILE_CONT({expr}, {q:?}) OVER () AS p FROM {from} WHERE {filter}))")
    }
    fn json_parse(&self, expr: &str) -> String {
        parse_unless_empty(expr, &format!("PARSE_JSON({expr})"))
    }
    fn json_type(&self, j: &str, key: &str) -> String {
        format!(
            "JSON_TYPE(JSON_QUERY({j}, {}))",
            self.string(&json_path(key))
        )
    }
    fn json_type_names(&self) -> JsonTypeNames {
        STANDARD_JSON_TYPES
    }
    fn json_text(&self, j: &str, key: &str) -> String {
        format!("JSON_VALUE({j}, {})", self.string(&json_path(key)))
    }
    fn json_raw(&self, j: &str, key: &str) -> String {
        format!(
            "TO_JSON_STRING(JSON_QUERY({j}, {}))",
            self.string(&json_path(key))
        )
    }
    fn json_number(&self, j: &str, key: &str) -> String {
        self.to_float(&self.json_text(j, key))
    }
}

impl Dialect for Snowflake {
    fn name(&self) -> DialectName {
        DialectName::Snowflake
    }
    fn epoch_ms(&self, expr: &str) -> String {
        format!("DATE_PART(EPOCH_MILLISECOND, {expr})")
    }
    fn json_parse(&self, expr: &str) -> String {
        parse_unless_empty(expr, &format!("PARSE_JSON({expr})"))
    }
    fn json_type(&self, j: &str, key: &str) -> String {
        format!("TYPEOF(GET({j}, {}))", self.string(key))
    }
    fn json_type_names(&self) -> JsonTypeNames {
        JsonTypeNames {
            number: &["INTEGER", "DECIMAL", "DOUBLE"],
            number_prefix: "",
            string: &["VARCHAR"],
            boolean: &["BOOLEAN"],
            null: &["NULL_VALUE"],
        }
    }
    fn json_text(&self, j: &str, key: &str) -> String {
        self.to_text(&format!("GET({j}, {})", self.string(key)))
    }
    fn json_raw(&self, j: &str, key: &str) -> String {
        format!("TO_JSON(GET({j}, {}))", self.string(key))
    }
    fn json_number(&self, j: &str, key: &str) -> String {
        self.to_float(&format!("GET({j}, {})", self.string(key)))
    }
}

impl Dialect for Spark {
    fn name(&self) -> DialectName {
        DialectName::Spark
    }
    fn quote_char(&self) -> char {
        '`'
    }
    fn text_type(&self) -> &'static str {
        "STRING"
    }
    fn string(&self, s: &str) -> String {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
    fn epoch_ms(&self, expr: &str) -> String {
        format!("unix_millis({expr})")
    }
    fn quantile(&self, q: f64, expr: &str, from: &str, filter: &str) -> String {
        format!("(SELECT percentile({expr}, {q:?}) FROM {from} WHERE {filter})")
    }
    fn json_parse(&self, expr: &str) -> String {
        // VARIANT (Spark 4.0 and later, Databricks Runtime 15.3 and later).
        parse_unless_empty(expr, &format!("parse_json({expr})"))
    }
    fn json_type(&self, j: &str, key: &str) -> String {
        format!(
            "schema_of_variant(variant_get({j}, {}))",
            self.string(&spark_path(key))
        )
    }
    fn json_type_names(&self) -> JsonTypeNames {
        JsonTypeNames {
            number: &["TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE"],
            number_prefix: "DECIMAL",
            string: &["STRING"],
            boolean: &["BOOLEAN"],
            null: &["VOID"],
        }
    }
    fn json_text(&self, j: &str, key: &str) -> String {
        format!(
            "try_variant_get({j}, {}, 'string')",
            self.string(&spark_path(key))
        )
    }
    fn json_raw(&self, j: &str, key: &str) -> String {
        format!(
            "to_json(variant_get({j}, {}))",
            self.string(&spark_path(key))
        )
    }
    fn json_number(&self, j: &str, key: &str) -> String {
        format!(
            "try_variant_get({j}, {}, 'double')",
            self.string(&spark_path(key))
        )
    }
}

impl Dialect for ClickHouse {
    fn name(&self) -> DialectName {
        DialectName::ClickHouse
    }
    fn quote_char(&self) -> char {
        '`'
    }
    // Nullable: a CAST to a plain type refuses NULL here (`CAST(NULL AS Float64)` is
    // an error), where the queries cast NULLs and columns that may hold them.
    fn float_type(&self) -> &'static str {
        "Nullable(Float64)"
    }
    fn bigint_type(&self) -> &'static str {
        "Nullable(Int64)"
    }
    fn text_type(&self) -> &'static str {
        "Nullable(String)"
    }
    fn string(&self, s: &str) -> String {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
    fn epoch_ms(&self, expr: &str) -> String {
        format!("toUnixTimestamp64Milli(toDateTime64({expr}, 3, 'UTC'))")
    }
    fn timestamp_literal(&self, t: Millis) -> String {
        format!("toDateTime64('{}', 3, 'UTC')", timestamp_text(t))
    }
    fn quantile(&self, q: f64, expr: &str, from: &str, filter: &str) -> String {
        format!("(SELECT quantileExactInclusive({q:?})({expr}) FROM {from} WHERE {filter})")
    }
    fn json_parse(&self, expr: &str) -> String {
        // The JSON functions read the text itself.
        expr.to_owned()
    }
    fn json_type(&self, j: &str, key: &str) -> String {
        format!("JSONType({j}, {})", self.string(key))
    }
    fn json_type_names(&self) -> JsonTypeNames {
        JsonTypeNames {
            number: &["Int64", "UInt64", "Double"],
            number_prefix: "",
            string: &["String"],
            boolean: &["Bool"],
            null: &["Null"],
        }
    }
    fn json_text(&self, j: &str, key: &str) -> String {
        let k = self.string(key);
        format!("CASE WHEN JSONType({j}, {k}) = 'String' THEN JSONExtractString({j}, {k}) ELSE JSONExtractRaw({j}, {k}) END")
    }
    fn json_raw(&self, j: &str, key: &str) -> String {
        format!("JSONExtractRaw({j}, {})", self.string(key))
    }
    fn json_number(&self, j: &str, key: &str) -> String {
        format!("JSONExtractFloat({j}, {})", self.string(key))
    }
    fn statement_settings(&self) -> &'static str {
        // By default a LEFT JOIN's unmatched side is the type's default (0, '')
        // where the queries read NULL (`COALESCE`, `IS NULL`).
        "SETTINGS join_use_nulls = 1"
    }
}

/// An instant as templates and timestamp literals write it: `YYYY-MM-DD
/// HH:MM:SS.mmm`, UTC, no zone (every dialect reads it as a timestamp).
pub(super) fn timestamp_text(t: Millis) -> String {
    format_rfc3339(t)
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases_parse() {
        for d in DialectName::ALL {
            assert_eq!(DialectName::parse(d.as_str()), Some(d));
            assert_eq!(d.dialect().name(), d);
        }
        assert_eq!(DialectName::parse("Databricks"), Some(DialectName::Spark));
        assert_eq!(DialectName::parse("oracle"), None);
    }

    #[test]
    fn identifiers_and_strings_are_escaped() {
        assert_eq!(Postgres.quote("a.b\"c"), "\"a\".\"b\"\"c\"");
        assert_eq!(BigQuery.quote("proj.ds.t"), "`proj`.`ds`.`t`");
        assert_eq!(Postgres.string("it's"), "'it''s'");
        assert_eq!(BigQuery.string("it's"), "'it\\'s'");
    }
}
