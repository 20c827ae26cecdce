//! Warehouse-native definitions (`.traffical/warehouse.yaml`): the file is checked
//! with file:line:column errors; the SQL of every aggregation parses in every dialect
//! and, run on PostgreSQL and DuckDB over assignment and fact tables, returns what
//! `warehouse::native_in_process` computes from the same rows.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bandit_engine::bundle::BundleDocument;
use bandit_engine::config::ProjectConfig;
use bandit_engine::engine::AttributionOverrides;
use bandit_engine::warehouse::{
    native_in_process, policy_queries, split_native, statistics_sql_with_native, AssignmentRow,
    Definitions, DialectName, FactRow, NativeQuery, Relations, StatisticsRow,
};

use crate::warehouse::{assert_same, duckdb_csv, engine_from_env, psql};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/demo");

/// Deterministic pseudo-random numbers (a 64-bit LCG) for the tables.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Assignment and fact rows over four days from 2026-11-01, with what makes the
/// join interesting: entities assigned twice (a later, other allocation), rows of
/// another experiment and of an allocation key the bundle lacks, facts before the
/// assignment and after the end, facts without a value, entities without a fact.
fn tables() -> (Vec<AssignmentRow>, Vec<FactRow>) {
    let t0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z
    let day: u64 = 86_400_000;
    let mut r = Lcg(17);
    let (mut assignments, mut facts) = (Vec::new(), Vec::new());
    let keys = [
        (
            "checkout-cta",
            &["control", "buy_now", "urgency", "retired"][..],
        ),
        (
            "discount",
            &["discount_0", "discount_5", "discount_10", "discount_15"][..],
        ),
        ("other-test", &["a", "b"][..]),
    ];
    for u in 0..2400u64 {
        let entity = format!("u{u:04}");
        let (policy, allocations) = keys[(u % 3) as usize];
        let at = t0 + r.below(4 * day) as i64;
        for k in 0..=r.below(2) {
            assignments.push(AssignmentRow {
                entity: entity.clone(),
                assigned_at: at + k as i64 * 3_600_000,
                policy_key: policy.into(),
                allocation_key: allocations[r.below(allocations.len() as u64) as usize].into(),
            });
        }
        for _ in 0..r.below(4) {
            let value = (r.below(5) > 0).then(|| r.below(10_000) as f64 / 100.0);
            facts.push(FactRow {
                entity: entity.clone(),
                time: at - day as i64 + r.below(3 * day) as i64,
                value,
            });
        }
    }
    (assignments, facts)
}

/// The tables as csv files in `dir` (times in epoch milliseconds).
fn write_tables(dir: &Path, assignments: &[AssignmentRow], facts: &[FactRow]) {
    let mut a = String::from("user_id,assigned_ms,experiment,arm\n");
    for x in assignments {
        let _ = writeln!(
            a,
            "{},{},{},{}",
            x.entity, x.assigned_at, x.policy_key, x.allocation_key
        );
    }
    std::fs::write(dir.join("assignments.csv"), a).unwrap();
    let mut f = String::from("user_id,event_ms,order_total\n");
    for x in facts {
        let v = x.value.map_or_else(String::new, |v| format!("{v:?}"));
        let _ = writeln!(f, "{},{},{v}", x.entity, x.time);
    }
    std::fs::write(dir.join("orders.csv"), f).unwrap();
}

/// Definitions for the demo's two multi-armed policies with `metrics` (two names
/// of the four metrics defined).
fn definitions_yaml(checkout: &str, discount: &str) -> String {
    format!(
        "entities:\n  user:\n    keyType: userId\n\
assignments:\n  experiments:\n    entity: user\n    sql: |\n      SELECT user_id, assigned_at, experiment AS policy_key, arm AS allocation_key\n      FROM ext_assignments\n      WHERE assigned_at BETWEEN '{{{{start_date}}}}' AND '{{{{end_date}}}}'\n\
facts:\n  orders:\n    entity: user\n    sql: |\n      SELECT user_id, event_time, order_total FROM ext_orders\n      WHERE event_time BETWEEN '{{{{ start_date }}}}' AND '{{{{end_date}}}}';\n\
metrics:\n  purchase_rate: {{ fact: orders, aggregation: conversion_rate }}\n  revenue_per_user: {{ fact: orders, aggregation: sum, valueColumn: order_total }}\n  orders_per_user: {{ fact: orders, aggregation: count }}\n  order_value: {{ fact: orders, aggregation: mean, valueColumn: order_total }}\n\
policies:\n  policy_checkout_cta: {{ assignments: experiments, metric: {checkout} }}\n  policy_discount: {{ assignments: experiments, metric: {discount} }}\n"
    )
}

/// The demo's config copied into `dir/.traffical` with `yaml` beside it as
/// `warehouse.yaml`; the config's path.
fn project(dir: &Path, yaml: &str) -> PathBuf {
    let t = dir.join(".traffical");
    std::fs::create_dir_all(&t).unwrap();
    // Gaussian learners, so that every aggregation fits both policies.
    let config = std::fs::read_to_string(format!("{DEMO}/.traffical/config.yaml"))
        .unwrap()
        .replace(
            "algorithm: thompson_bernoulli",
            "algorithm: thompson_gaussian",
        );
    std::fs::write(t.join("config.yaml"), config).unwrap();
    std::fs::write(t.join("warehouse.yaml"), yaml).unwrap();
    t.join("config.yaml")
}

const AS_OF: i64 = 1_793_750_400_000; // 2026-11-04T00:00:00Z

/// The native queries of a definitions file, counting only units assigned after
/// `after` (a watermark) when given, their assignments read from `overlap` before it.
fn native_queries(
    dir: &Path,
    yaml: &str,
    after: Option<i64>,
    overlap: Option<i64>,
) -> Vec<NativeQuery> {
    let config_path = project(dir, yaml);
    let config = ProjectConfig::from_path(&config_path).unwrap();
    let defs = Definitions::from_path(&Definitions::path_beside(&config_path), &config).unwrap();
    let doc = BundleDocument::from_path(format!("{DEMO}/bundle.json")).unwrap();
    let queries =
        policy_queries(&config, &AttributionOverrides::default(), None, Some(AS_OF)).unwrap();
    let (sdk, mut native) = split_native(Some(&defs), &doc, queries, AS_OF, overlap);
    assert!(
        sdk.is_empty(),
        "both multi-armed policies read the definitions"
    );
    assert_eq!(native.len(), 2);
    for q in &mut native {
        q.after = after;
    }
    native
}

/// What the engines must return: the rows the definitions' SQL selects (their
/// `BETWEEN` window, inclusive, from each one's `{{start_date}}`) through
/// `native_in_process`; with `whole`, every row instead (the truth on the whole
/// history).
fn expected(
    native: &[NativeQuery],
    a: &[AssignmentRow],
    f: &[FactRow],
    whole: bool,
) -> Vec<StatisticsRow> {
    let mut rows = Vec::new();
    for q in native {
        let end = q.end;
        let (a_start, f_start) = if whole {
            (i64::MIN, i64::MIN)
        } else {
            (q.assignments_start(), q.facts_start())
        };
        let a: Vec<AssignmentRow> = a
            .iter()
            .filter(|x| (a_start..=end).contains(&x.assigned_at))
            .cloned()
            .collect();
        let f: Vec<FactRow> = f
            .iter()
            .filter(|x| (f_start..=end).contains(&x.time))
            .cloned()
            .map(|mut x| {
                // Only `sum` and `mean` read the value column.
                if q.value_column.is_none() {
                    x.value = None;
                }
                x
            })
            .collect();
        rows.extend(native_in_process(q, &a, &f));
    }
    rows.sort_by(|x, y| {
        (&x.policy_id, &x.allocation_name).cmp(&(&y.policy_id, &y.allocation_name))
    });
    rows
}

const WATERMARK: i64 = 1_793_577_600_000; // 2026-11-02T00:00:00Z
const HALF_HOUR: i64 = 1_800_000;

/// (checkout's metric, discount's metric, watermark, overlap): a full run; an
/// incremental one reading every assignment; one reading them from half an hour
/// before the watermark (entities assigned twice are assigned an hour apart).
const VARIANTS: [(&str, &str, Option<i64>, Option<i64>); 3] = [
    ("purchase_rate", "revenue_per_user", None, None),
    ("orders_per_user", "order_value", Some(WATERMARK), None),
    (
        "purchase_rate",
        "revenue_per_user",
        Some(WATERMARK),
        Some(HALF_HOUR),
    ),
];

/// An incremental run without an overlap reads every assignment, so an entity first
/// assigned before the watermark and again after it is not a new unit: the
/// statistics are those of the whole history. With an overlap, what it reads: an
/// entity first assigned before the window counts again (the price of the cheaper
/// scan), and its facts are read from the watermark on.
#[test]
fn incremental_native_runs_read_assignments_from_the_overlap_or_the_start() {
    let (assignments, facts) = tables();
    let dir = tempfile::tempdir().unwrap();
    let yaml = definitions_yaml("purchase_rate", "revenue_per_user");
    let units = |rows: &[StatisticsRow]| rows.iter().map(|r| r.units).sum::<u64>();
    let exact = native_queries(dir.path(), &yaml, Some(WATERMARK), None);
    assert!(exact
        .iter()
        .all(|q| q.assignments_start() == 0 && q.facts_start() == WATERMARK));
    let got = expected(&exact, &assignments, &facts, false);
    assert_eq!(got, expected(&exact, &assignments, &facts, true));
    // The watermark's own cut (the SQL's window starting at it) would count more.
    let mut cut = exact.clone();
    for q in &mut cut {
        q.overlap = Some(0);
    }
    assert_eq!(cut[0].assignments_start(), WATERMARK);
    let cut = expected(&cut, &assignments, &facts, false);
    assert!(
        units(&cut) > units(&got),
        "{} vs {}",
        units(&cut),
        units(&got)
    );
    // Half an hour: between the two.
    let half = native_queries(dir.path(), &yaml, Some(WATERMARK), Some(HALF_HOUR));
    assert_eq!(half[0].assignments_start(), WATERMARK - HALF_HOUR);
    let half = expected(&half, &assignments, &facts, false);
    assert!(units(&half) > units(&got) && units(&half) < units(&cut));
}

#[test]
fn native_sql_parses_in_every_dialect() {
    for (checkout, discount, after, overlap) in VARIANTS {
        let dir = tempfile::tempdir().unwrap();
        let yaml = definitions_yaml(checkout, discount);
        let native = native_queries(dir.path(), &yaml, after, overlap);
        for d in DialectName::ALL {
            let sql = statistics_sql_with_native(d.dialect(), &Relations::default(), &[], &native)
                .unwrap();
            assert!(!sql.contains("{{"), "{sql}");
            let dialect = crate::warehouse_sql::parser_dialect(d);
            let parsed = sqlparser::parser::Parser::parse_sql(dialect.as_ref(), &sql);
            let statements = parsed.unwrap_or_else(|e| panic!("{d}: {e}\n{sql}"));
            assert_eq!(statements.len(), 1, "{d}");
        }
    }
}

/// Runs `sql` on DuckDB over the csv tables in `dir`; the result file.
fn run_duckdb(python: &str, dir: &Path, sql: &str) -> PathBuf {
    let load = "CREATE TABLE ext_assignments AS SELECT CAST(user_id AS VARCHAR) AS user_id, epoch_ms(assigned_ms) AS assigned_at, experiment, arm FROM read_csv('assignments.csv', header = true, columns = {'user_id': 'VARCHAR', 'assigned_ms': 'BIGINT', 'experiment': 'VARCHAR', 'arm': 'VARCHAR'});\n\
CREATE TABLE ext_orders AS SELECT user_id, epoch_ms(event_ms) AS event_time, order_total FROM read_csv('orders.csv', header = true, columns = {'user_id': 'VARCHAR', 'event_ms': 'BIGINT', 'order_total': 'DOUBLE'});\n";
    duckdb_csv(python, dir, load, sql)
}

/// The psql script loading the csv tables in `dir` into a fresh `schema`, left the
/// search path.
fn pg_tables_script(dir: &Path, schema: &str) -> String {
    let d = dir.display();
    format!(
        "SET client_min_messages TO warning;\nDROP SCHEMA IF EXISTS {schema} CASCADE;\nCREATE SCHEMA {schema};\nSET search_path TO {schema};\n\
CREATE TABLE a_raw (user_id VARCHAR, assigned_ms BIGINT, experiment VARCHAR, arm VARCHAR);\n\\copy a_raw FROM '{d}/assignments.csv' WITH (FORMAT csv, HEADER true)\n\
CREATE TABLE ext_assignments AS SELECT user_id, TIMESTAMP 'epoch' + assigned_ms * INTERVAL '1 millisecond' AS assigned_at, experiment, arm FROM a_raw;\n\
CREATE TABLE o_raw (user_id VARCHAR, event_ms BIGINT, order_total DOUBLE PRECISION);\n\\copy o_raw FROM '{d}/orders.csv' WITH (FORMAT csv, HEADER true)\n\
CREATE TABLE ext_orders AS SELECT user_id, TIMESTAMP 'epoch' + event_ms * INTERVAL '1 millisecond' AS event_time, order_total FROM o_raw;\n"
    )
}

/// Runs `sql` on ClickHouse (chDB) over the csv tables in `dir`; the result file.
fn run_clickhouse(python: &str, dir: &Path, sql: &str) -> PathBuf {
    let load = |dir: &Path| {
        let d = dir.display();
        format!("CREATE OR REPLACE TABLE ext_assignments ENGINE = Memory AS SELECT user_id, fromUnixTimestamp64Milli(assigned_ms, 'UTC') AS assigned_at, experiment, arm FROM file('{d}/assignments.csv', 'CSVWithNames', 'user_id Nullable(String), assigned_ms Int64, experiment String, arm String');\n\
CREATE OR REPLACE TABLE ext_orders ENGINE = Memory AS SELECT user_id, fromUnixTimestamp64Milli(event_ms, 'UTC') AS event_time, order_total FROM file('{d}/orders.csv', 'CSVWithNames', 'user_id Nullable(String), event_ms Int64, order_total Nullable(Float64)');\n")
    };
    crate::warehouse::clickhouse_batch(python, &[(dir, "native", sql)], &load).remove(0)
}

/// Runs `sql` on PostgreSQL over the csv tables in `dir`, in a schema of its own.
fn run_postgres(host: &str, dir: &Path, sql: &str) -> PathBuf {
    let out = dir.join("postgres.csv");
    let script = format!(
        "{}\\pset format csv\n\\o {}\n{sql};\n\\o\nDROP SCHEMA wh_native CASCADE;\n",
        pg_tables_script(dir, "wh_native"),
        out.display()
    );
    psql(host, dir, &script);
    out
}

fn check_engine(name: &str, runner: &dyn Fn(&Path, &str) -> PathBuf, dialect: DialectName) {
    let (assignments, facts) = tables();
    for (checkout, discount, after, overlap) in VARIANTS {
        let dir = tempfile::tempdir().unwrap();
        let yaml = definitions_yaml(checkout, discount);
        let native = native_queries(dir.path(), &yaml, after, overlap);
        let want = expected(&native, &assignments, &facts, false);
        assert!(want.len() >= 6, "{want:?}");
        write_tables(dir.path(), &assignments, &facts);
        let sql =
            statistics_sql_with_native(dialect.dialect(), &Relations::default(), &[], &native)
                .unwrap();
        let got = bandit_engine::warehouse::read_statistics(&runner(dir.path(), &sql)).unwrap();
        assert_same(name, &format!("{checkout}+{discount}"), &got, &want);
    }
}

#[test]
fn native_sql_on_duckdb_equals_the_in_process_statistics() {
    let Some(python) = engine_from_env("BANDIT_DUCKDB_PYTHON", "DuckDB (warehouse-native)") else {
        return;
    };
    check_engine(
        "duckdb",
        &|dir, sql| run_duckdb(&python, dir, sql),
        DialectName::DuckDb,
    );
}

#[test]
fn native_sql_on_clickhouse_equals_the_in_process_statistics() {
    let Some(python) = engine_from_env(
        "BANDIT_CLICKHOUSE_PYTHON",
        "ClickHouse (chDB, warehouse-native)",
    ) else {
        return;
    };
    check_engine(
        "clickhouse",
        &|dir, sql| run_clickhouse(&python, dir, sql),
        DialectName::ClickHouse,
    );
}

#[test]
fn native_sql_on_postgres_equals_the_in_process_statistics() {
    let Some(host) = engine_from_env("BANDIT_PG_HOST", "PostgreSQL (warehouse-native)") else {
        return;
    };
    check_engine(
        "postgres",
        &|dir, sql| run_postgres(&host, dir, sql),
        DialectName::Postgres,
    );
}

#[test]
fn definitions_are_checked_with_file_line_and_column() {
    let good = definitions_yaml("purchase_rate", "revenue_per_user");
    let cases = [
        (
            good.replace("    entity: user\n    sql: |\n      SELECT user_id, event_time", "    entity: company\n    sql: |\n      SELECT user_id, event_time"),
            ":13:13 facts.orders.entity: no entity \"company\" is defined (defined: user)",
        ),
        (
            good.replace("'{{end_date}}';", "'{{today}}';"),
            "facts.orders.sql: unknown template variable {{today}}; the SQL may use {{start_date}} and {{end_date}}",
        ),
        (
            good.replace(", valueColumn: order_total }\n  orders", " }\n  orders"),
            ":19:21 metrics.revenue_per_user: a sum or mean metric needs valueColumn",
        ),
        (
            good.replace("policy_discount: {", "policy_missing: {"),
            "policies.policy_missing: policy_missing is not a policy of the config's optimization section",
        ),
        (
            good.replace("aggregation: count", "aggregation: median"),
            ":20:49 metrics.orders_per_user.aggregation: unknown value \"median\" (did you mean \"mean\"?)",
        ),
    ];
    for (yaml, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let config_path = project(dir.path(), &yaml);
        let config = ProjectConfig::from_path(&config_path).unwrap();
        let err = Definitions::from_path(&Definitions::path_beside(&config_path), &config)
            .unwrap_err()
            .to_string();
        assert!(err.contains("warehouse.yaml:"), "{err}");
        assert!(err.contains(want), "want {want:?} in:\n{err}");
    }
}

/// `retrain --warehouse` with the definitions beside the config publishes what
/// `retrain --statistics` publishes from the in-process rows of the same tables.
#[cfg(all(feature = "cli", feature = "postgres"))]
#[test]
fn retrain_warehouse_with_definitions_publishes_the_in_process_bundle() {
    let Some(host) = engine_from_env("BANDIT_PG_HOST", "retrain --warehouse (warehouse-native)")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (assignments, facts) = tables();
    write_tables(dir.path(), &assignments, &facts);
    psql(
        &host,
        dir.path(),
        &pg_tables_script(dir.path(), "wh_native_cli"),
    );
    let yaml = definitions_yaml("purchase_rate", "revenue_per_user");
    let native = native_queries(dir.path(), &yaml, None, None);
    let config = dir.path().join(".traffical/config.yaml");
    let stats = dir.path().join("statistics.csv");
    bandit_engine::warehouse::write_statistics_csv(
        &expected(&native, &assignments, &facts, false),
        &stats,
    )
    .unwrap();
    let as_of = bandit_engine::time::format_rfc3339(AS_OF);
    let user = crate::warehouse::pg_user();
    let conninfo =
        format!("host={host} user={user} dbname=postgres options=-csearch_path=wh_native_cli");
    let retrain = |out: &str, source: [&str; 2]| {
        crate::common::run_cli([
            "retrain",
            "--config",
            config.to_str().unwrap(),
            "--bundle",
            &format!("{DEMO}/bundle.json"),
            "--as-of",
            &as_of,
            "--out",
            dir.path().join(out).to_str().unwrap(),
            "-q",
            source[0],
            source[1],
        ])
    };
    retrain("a", ["--warehouse", &conninfo]);
    retrain("b", ["--statistics", stats.to_str().unwrap()]);
    let read = |d: &str| std::fs::read_to_string(dir.path().join(d).join("bundle.json")).unwrap();
    assert_eq!(read("a"), read("b"));
    let input = std::fs::read_to_string(format!("{DEMO}/bundle.json")).unwrap();
    let report = std::fs::read_to_string(dir.path().join("a/report.json")).unwrap();
    assert_ne!(read("a"), input, "the retrain moves allocations:\n{report}");
    // The states agree on counts and watermarks; sums of values to the last bits
    // the engines add in their own order.
    let state = |d: &str| {
        let text = std::fs::read_to_string(dir.path().join(d).join("state.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["state"]["policies"].clone()
    };
    let (a, b) = (state("a"), state("b"));
    for (id, p) in a.as_object().unwrap() {
        assert_eq!(p["exposuresThrough"], b[id]["exposuresThrough"], "{id}");
        for (arm, x) in p["arms"].as_object().unwrap() {
            let y = &b[id]["arms"][arm];
            assert_eq!(x["exposures"], y["exposures"], "{id} {arm}");
            let (sx, sy) = (
                x["rewardSum"].as_f64().unwrap(),
                y["rewardSum"].as_f64().unwrap(),
            );
            assert!(
                (sx - sy).abs() <= 1e-9 * sx.abs().max(1.0),
                "{id} {arm}: {sx} {sy}"
            );
        }
    }
    // The header of `sql` names the definitions each policy reads.
    let sql = crate::common::run_cli([
        "sql",
        "--dialect",
        "duckdb",
        "--config",
        config.to_str().unwrap(),
        "--bundle",
        &format!("{DEMO}/bundle.json"),
        "--as-of",
        &as_of,
    ]);
    assert!(
        sql.contains("-- policy_discount: warehouse-native, metric revenue_per_user (Sum) on assignments experiments"),
        "{sql}"
    );
    psql(&host, dir.path(), "DROP SCHEMA wh_native_cli CASCADE;");
}
