//! What differs between SQL engines, behind one trait; everything else the generated
//! queries use is portable SQL (CTEs, `CASE`, window aggregates over `PARTITION BY`,
//! `ROW_NUMBER`, `UNION ALL`, `COALESCE`, `POWER`).
//!
//! Times are turned into epoch milliseconds (`BIGINT`) once, where the tables are
//! read ([`Dialect::epoch_ms`]); every later comparison, window and clock-skew
//! tolerance is integer arithmetic on milliseconds, so no interval syntax is needed
//! past that point and the results agree to the millisecond with the engine's.

use std::fmt;

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
}

impl Dialect for DuckDb {
    fn name(&self) -> DialectName {
        DialectName::DuckDb
    }
    fn epoch_ms(&self, expr: &str) -> String {
        format!("epoch_ms({expr})")
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
}

impl Dialect for Snowflake {
    fn name(&self) -> DialectName {
        DialectName::Snowflake
    }
    fn epoch_ms(&self, expr: &str) -> String {
        format!("DATE_PART(EPOCH_MILLISECOND, {expr})")
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
}

impl Dialect for ClickHouse {
    fn name(&self) -> DialectName {
        DialectName::ClickHouse
    }
    fn quote_char(&self) -> char {
        '`'
    }
    fn float_type(&self) -> &'static str {
        "Float64"
    }
    fn bigint_type(&self) -> &'static str {
        "Int64"
    }
    fn text_type(&self) -> &'static str {
        "String"
    }
    fn string(&self, s: &str) -> String {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
    fn epoch_ms(&self, expr: &str) -> String {
        format!("toUnixTimestamp64Milli(toDateTime64({expr}, 3, 'UTC'))")
    }
    fn quantile(&self, q: f64, expr: &str, from: &str, filter: &str) -> String {
        format!("(SELECT quantileExactInclusive({q:?})({expr}) FROM {from} WHERE {filter})")
    }
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
