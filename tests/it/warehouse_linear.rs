//! Linear contextual policies in the warehouse, on real engines: the layout query,
//! then the statistics query over the layout the engine makes of its result, against
//! the engine's own linear sums (the `linear` totals of the state a retrain on the
//! events saves) and the bundle it publishes.
//!
//! The world is `synth`'s shop with its checkout policy made `linear_contextual`
//! (as `scripts/sdk-golden/retrained.sh` does): contexts of a numeric field
//! (`visits`) and two categorical ones (`country`, `device`), a conversion goal
//! (rewards 0 or 1), so every sum is a sum of whole numbers and exact in any order:
//! counts, `Σ x xᵀ` and `Σ r x` must be equal, and the bundles byte-identical.
//! Engines as in `warehouse.rs` (`BANDIT_DUCKDB_PYTHON`, `BANDIT_PG_HOST`).

use std::path::{Path, PathBuf};

use bandit_engine::bundle::BundleDocument;
use bandit_engine::config::ProjectConfig;
use bandit_engine::engine::AttributionOverrides;
use bandit_engine::events::{load_events, EventTables, LoadOptions};
use bandit_engine::state::EngineState;
use bandit_engine::warehouse::{
    export_tables, in_process, layout_sql, layouts, linear_queries, load_script, policy_queries,
    read_layout, read_statistics, retrain_from_statistics, statistics_sql_all, DialectName,
    LinearLayout, LinearQuery, PolicyQuery, Relations, StatisticsRow,
};
use bandit_engine::{Engine, RetrainInputs, RetrainOptions, RetrainOutcome};

use crate::warehouse::{assert_same, duckdb_csv, engine_from_env, pg_load_script, psql};

/// The linear policy of the world.
const POLICY: &str = "policy_checkout_cta";

/// A synth world whose checkout policy is `linear_contextual` (with `extra` lines
/// under it, e.g. `contextFeatures`), its events and the latest event time.
pub(crate) struct LinearWorld {
    pub dir: tempfile::TempDir,
    pub inputs: RetrainInputs,
    pub config: ProjectConfig,
    pub tables: EventTables,
    pub as_of: i64,
}

pub(crate) fn linear_world(seed: u64, units: u32, extra: &str) -> LinearWorld {
    linear_world_with(seed, units, extra, &[])
}

/// [`linear_world`] with further replacements in the checkout policy's settings.
fn linear_world_with(seed: u64, units: u32, extra: &str, replace: &[(&str, &str)]) -> LinearWorld {
    let dir = tempfile::tempdir().unwrap();
    let world = bandit_engine::synth::generate(&bandit_engine::synth::SynthParams {
        units,
        seed,
        days: 3,
        ..Default::default()
    })
    .unwrap();
    bandit_engine::synth::write_world(&world, dir.path()).unwrap();
    let path = dir.path().join(".traffical/config.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let at = text.find(&format!("{POLICY}:")).unwrap();
    let (head, tail) = text.split_at(at);
    let mut tail = tail.replacen(
        "algorithm: thompson_bernoulli",
        &format!("algorithm: linear_contextual\n    lambda: 2{extra}"),
        1,
    );
    for (from, to) in replace {
        assert!(tail.contains(from), "the synth config has {from:?}");
        tail = tail.replacen(from, to, 1);
    }
    std::fs::write(&path, format!("{head}{tail}")).unwrap();
    let inputs = RetrainInputs::from_paths(
        path,
        dir.path().join("bundle.json"),
        &[dir.path().join("events.ndjson")],
    );
    let config = ProjectConfig::from_path(&inputs.config).unwrap();
    let loaded = load_events(&inputs.events, LoadOptions::default()).unwrap();
    let as_of = loaded.tables.latest_timestamp().unwrap();
    LinearWorld {
        dir,
        inputs,
        config,
        tables: loaded.tables,
        as_of,
    }
}

/// Runs `sql` on an engine over the tables exported in `dir`; the result file.
type Runner<'a> = dyn Fn(&Path, &str, &str) -> PathBuf + 'a;

fn options(as_of: i64) -> RetrainOptions {
    RetrainOptions {
        as_of: Some(as_of),
        seed: 3,
        ..RetrainOptions::default()
    }
}

/// The plan of a run at `as_of` after `previous`: the multi-armed queries and the
/// linear ones.
fn plan(
    w: &LinearWorld,
    previous: Option<&EngineState>,
    as_of: i64,
) -> (Vec<PolicyQuery>, Vec<LinearQuery>) {
    let doc = BundleDocument::from_path(&w.inputs.bundle).unwrap();
    let o = AttributionOverrides::default();
    (
        policy_queries(&w.config, &o, previous, Some(as_of)).unwrap(),
        linear_queries(&w.config, &doc, &o, previous, Some(as_of)).unwrap(),
    )
}

/// Both statements on the engine: the layout, then the statistics; their rows.
fn warehouse_rows(
    dialect: DialectName,
    run: &Runner<'_>,
    dir: &Path,
    queries: &[PolicyQuery],
    linear: &[LinearQuery],
    what: &str,
) -> (Vec<StatisticsRow>, Vec<LinearLayout>) {
    let d = dialect.dialect();
    let r = Relations::default();
    let layout_file = run(
        dir,
        &format!("{what}-layout"),
        &layout_sql(d, &r, linear).unwrap(),
    );
    let made = layouts(linear, &read_layout(&layout_file).unwrap(), "layout").unwrap();
    let with: Vec<(LinearQuery, LinearLayout)> =
        linear.iter().cloned().zip(made.iter().cloned()).collect();
    let sql = statistics_sql_all(d, &r, queries, &[], &with).unwrap();
    let file = run(dir, &format!("{what}-statistics"), &sql);
    (read_statistics(&file).unwrap(), made)
}

/// The warehouse's rows of the linear policy equal the linear totals the engine
/// saves from the events (`outcome.state`); its other rows equal `in_process`.
fn assert_linear_same(
    engine: &str,
    what: &str,
    got: &[StatisticsRow],
    queries: &[PolicyQuery],
    tables: &EventTables,
    from_events: &RetrainOutcome,
) {
    let (linear, multi): (Vec<StatisticsRow>, Vec<StatisticsRow>) =
        got.iter().cloned().partition(|r| r.policy_id == POLICY);
    assert_same(engine, what, &multi, &in_process(tables, queries).unwrap());
    let totals = from_events.state.policies[POLICY]
        .linear
        .as_ref()
        .expect("the engine saves the linear sums");
    let counted = totals.counts.iter().filter(|&&n| n > 0).count();
    assert_eq!(
        linear.len(),
        counted,
        "{engine}, {what}: one row per allocation with rows"
    );
    assert!(
        counted >= 2,
        "{engine}, {what}: a fit of several allocations"
    );
    for r in &linear {
        let a = totals
            .allocations
            .iter()
            .position(|n| n == &r.allocation_name)
            .unwrap();
        let l = r.linear.as_ref().unwrap();
        assert_eq!(l.features, totals.features, "{engine}, {what}: the layout");
        assert_eq!(r.units, totals.counts[a], "{engine}, {what}: units");
        // Whole numbers: exact in any order of addition.
        assert_eq!(
            l.gram, totals.gram[a],
            "{engine}, {what}: Σxxᵀ of {}",
            r.allocation_name
        );
        assert_eq!(
            l.rx, totals.b[a],
            "{engine}, {what}: Σrx of {}",
            r.allocation_name
        );
        assert_eq!(
            l.gram[0], r.units as f64,
            "the intercept's square counts the rows"
        );
    }
}

/// The world's linear policy through both statements on an engine: the sums equal
/// the engine's, the bundle a retrain from them publishes is the one a retrain from
/// the events publishes; then an incremental run (a state through the middle of the
/// log, the queries after its watermark) does the same.
fn check_linear(dialect: DialectName, run: &Runner<'_>, extra: &str, name: &str) {
    check_linear_runs(dialect, run, extra, name, true);
}

/// [`check_linear`], the incremental run only when `incremental`.
fn check_linear_runs(
    dialect: DialectName,
    run: &Runner<'_>,
    extra: &str,
    name: &str,
    incremental: bool,
) {
    let w = linear_world(7, 300, extra);
    let dir = w.dir.path().join("tables");
    std::fs::create_dir_all(&dir).unwrap();
    export_tables(&w.tables, &dir).unwrap();
    let engine = dialect.as_str();

    // A full run.
    let (queries, linear) = plan(&w, None, w.as_of);
    let (rows, made) = warehouse_rows(dialect, run, &dir, &queries, &linear, name);
    assert!(
        made[0].space.dim() > 4,
        "{engine}, {name}: a layout with categories"
    );
    let from_events = Engine::new(options(w.as_of)).retrain(&w.inputs).unwrap();
    assert_linear_same(engine, name, &rows, &queries, &w.tables, &from_events);
    let from_rows =
        retrain_from_statistics(options(w.as_of), &w.inputs, &rows, "statistics", None).unwrap();
    assert_eq!(
        from_rows.bundle.to_json_pretty(),
        from_events.bundle.to_json_pretty(),
        "{engine}, {name}: the bundles differ"
    );
    assert_ne!(
        from_events.bundle.to_json_pretty(),
        from_events.input_bundle.to_json_pretty(),
        "{name}: the retrain publishes a model"
    );

    if !incremental {
        return;
    }
    // An incremental run: the state of a run through the middle of the log (its
    // layout has fewer values than the whole log's), then the rest.
    let middle = w.as_of - 36 * 3_600_000;
    let first_half = w.dir.path().join("first-half.ndjson");
    let text = std::fs::read_to_string(&w.inputs.events[0]).unwrap();
    let kept: String = text
        .lines()
        .filter(|line| {
            // synth writes a few damaged lines, which the engine sets aside anyway.
            let Ok(e) = serde_json::from_str::<serde_json::Value>(line) else {
                return false;
            };
            let ts = e["timestamp"]
                .as_str()
                .and_then(bandit_engine::time::parse_rfc3339);
            // Without desktop visitors, the saved layout lacks `device=desktop`,
            // which the rest of the log adds: the saved sums are placed in a wider
            // layout.
            ts.is_some_and(|t| t <= middle) && e["context"]["device"] != "desktop"
        })
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&first_half, kept).unwrap();
    let first_inputs = RetrainInputs::from_paths(
        w.inputs.config.clone(),
        w.inputs.bundle.clone(),
        &[first_half],
    );
    let first = Engine::new(options(middle)).retrain(&first_inputs).unwrap();
    let previous = first.state.clone();
    let (queries, linear) = plan(&w, Some(&previous), w.as_of);
    assert!(linear[0].query.after.is_some() && linear[0].saved.is_some());
    let (rows, made) = warehouse_rows(
        dialect,
        run,
        &dir,
        &queries,
        &linear,
        &format!("{name}-warm"),
    );
    let saved_dim = linear[0].saved.as_ref().unwrap().space().dim();
    assert!(
        made[0].space.dim() > saved_dim,
        "{engine}, {name}: the log's second half adds a value to the saved layout"
    );
    assert!(
        rows.iter().any(|r| r.policy_id == POLICY && r.units > 0),
        "{engine}, {name}: rows after the watermark"
    );
    let from_events = Engine::new(options(w.as_of))
        .with_state(Some(previous.clone()))
        .retrain(&w.inputs)
        .unwrap();
    let from_rows = retrain_from_statistics(
        options(w.as_of),
        &w.inputs,
        &rows,
        "statistics",
        Some(previous),
    )
    .unwrap();
    assert_eq!(
        from_rows.bundle.to_json_pretty(),
        from_events.bundle.to_json_pretty(),
        "{engine}, {name}: the bundles of the incremental runs differ"
    );
    assert_eq!(
        from_rows.state.policies[POLICY].linear, from_events.state.policies[POLICY].linear,
        "{engine}, {name}: the saved linear sums of the incremental runs differ"
    );
}

/// The checkout goal made the sum of purchase values, credited with time-decay
/// shares in cumulative mode: fractional rewards, so `Σ r x` and `Σ r²` are float sums
/// whose order differs between the engine and the warehouse.
const FRACTIONAL: [(&str, &str); 1] = [(
    "goal: { event: purchase, type: conversion_rate }\n    attribution: decision",
    "goal: { event: purchase, type: sum }\n    attribution: cumulative\n    attributionModel: time_decay",
)];

/// Relative tolerance of float sums added in another order (measured: a few 1e-16).
const SUM_TOLERANCE: f64 = 1e-12;
/// Relative tolerance of the published coefficients fitted from them.
const MODEL_TOLERANCE: f64 = 1e-9;

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * a.abs().max(b.abs()).max(1.0)
}

/// Two JSON documents equal but for numbers, which agree to `tolerance`; the largest
/// relative difference seen.
fn assert_json_close(a: &serde_json::Value, b: &serde_json::Value, path: &str, worst: &mut f64) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            let rel = (x - y).abs() / x.abs().max(y.abs()).max(1.0);
            *worst = worst.max(rel);
            assert!(rel <= MODEL_TOLERANCE, "{path}: {x} vs {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{path}");
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                assert_json_close(x, y, &format!("{path}[{i}]"), worst);
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{path}"
            );
            for (k, v) in x {
                assert_json_close(v, &y[k], &format!("{path}.{k}"), worst);
            }
        }
        _ => assert_eq!(a, b, "{path}"),
    }
}

/// Fractional rewards: the warehouse's sums equal the engine's to [`SUM_TOLERANCE`]
/// (counts and the whole-number `Σ x xᵀ` exactly), and the bundle fitted from them
/// equals the engine's to [`MODEL_TOLERANCE`] in every number.
fn check_fractional(dialect: DialectName, run: &Runner<'_>) {
    let w = linear_world_with(7, 300, "", &FRACTIONAL);
    let dir = w.dir.path().join("tables");
    std::fs::create_dir_all(&dir).unwrap();
    export_tables(&w.tables, &dir).unwrap();
    let engine = dialect.as_str();
    let (queries, linear) = plan(&w, None, w.as_of);
    let (rows, _) = warehouse_rows(dialect, run, &dir, &queries, &linear, "fractional");
    let from_events = Engine::new(options(w.as_of)).retrain(&w.inputs).unwrap();
    let totals = from_events.state.policies[POLICY].linear.as_ref().unwrap();
    let mut fractional = false;
    let mut worst: f64 = 0.0;
    for r in rows.iter().filter(|r| r.policy_id == POLICY) {
        let a = totals
            .allocations
            .iter()
            .position(|n| n == &r.allocation_name)
            .unwrap();
        let l = r.linear.as_ref().unwrap();
        assert_eq!(l.features, totals.features, "{engine}: the layout");
        assert_eq!(r.units, totals.counts[a], "{engine}: units");
        assert_eq!(l.gram, totals.gram[a], "{engine}: Σxxᵀ (whole numbers)");
        for (x, y) in l.rx.iter().zip(&totals.b[a]) {
            assert!(close(*x, *y, SUM_TOLERANCE), "{engine}: Σrx {x} vs {y}");
            worst = worst.max((x - y).abs() / x.abs().max(y.abs()).max(1.0));
            fractional |= x.fract() != 0.0;
        }
    }
    assert!(fractional, "{engine}: the rewards are fractional");
    eprintln!("{engine}, fractional: Σrx within {worst:.1e} relative");
    let from_rows =
        retrain_from_statistics(options(w.as_of), &w.inputs, &rows, "statistics", None).unwrap();
    let json = |b: &BundleDocument| serde_json::from_str(&b.to_json_pretty()).unwrap();
    let mut worst: f64 = 0.0;
    assert_json_close(
        &json(&from_rows.bundle),
        &json(&from_events.bundle),
        "bundle",
        &mut worst,
    );
    eprintln!("{engine}, fractional: bundle numbers within {worst:.1e} relative");
}

/// `contextFeatures` as the config's docs write them: `visits` numeric, the others
/// categorical.
const DECLARED: &str =
    "\n    contextFeatures:\n      numeric: [visits]\n      categorical: [country, device]";

fn duckdb_runner(python: &str) -> impl Fn(&Path, &str, &str) -> PathBuf + '_ {
    move |dir: &Path, what: &str, sql: &str| {
        let load = load_script(DialectName::DuckDb, dir).unwrap();
        let out = duckdb_csv(python, dir, &load, sql);
        let kept = dir.join(format!("{what}.duckdb.csv"));
        std::fs::rename(out, &kept).unwrap();
        kept
    }
}

fn postgres_runner(host: &str) -> impl Fn(&Path, &str, &str) -> PathBuf + '_ {
    move |dir: &Path, what: &str, sql: &str| {
        let schema = format!("whl_{}", what.replace('-', "_"));
        let out = dir.join(format!("{what}.postgres.csv"));
        let script = format!(
            "{}\n\\pset format csv\n\\o {}\n{sql};\n\\o\nDROP SCHEMA {schema} CASCADE;\n",
            pg_load_script(dir, &schema),
            out.display()
        );
        psql(host, dir, &script);
        out
    }
}

#[test]
fn linear_sums_on_duckdb_equal_the_engines_and_publish_its_bundle() {
    let Some(python) = engine_from_env("BANDIT_DUCKDB_PYTHON", "DuckDB") else {
        return;
    };
    let run = duckdb_runner(&python);
    check_linear(DialectName::DuckDb, &run, "", "learned");
    check_linear(DialectName::DuckDb, &run, DECLARED, "declared");
    check_fractional(DialectName::DuckDb, &run);
}

#[test]
fn linear_sums_on_postgres_equal_the_engines_and_publish_its_bundle() {
    let Some(host) = engine_from_env("BANDIT_PG_HOST", "PostgreSQL") else {
        return;
    };
    let run = postgres_runner(&host);
    check_linear(DialectName::Postgres, &run, "", "learned");
    check_linear(DialectName::Postgres, &run, DECLARED, "declared");
    check_fractional(DialectName::Postgres, &run);
}

/// The two-step flow of `docs/warehouse.md` on the command line, on DuckDB: `sql
/// --layout-query`, its result to `sql --layout`, that result to `retrain
/// --statistics`, which publishes what `retrain --events` publishes. Without
/// `--layout` the header says how to include the linear policy.
#[cfg(feature = "cli")]
#[test]
fn sql_layout_then_statistics_on_the_command_line() {
    use crate::common::run_cli;

    let Some(python) = engine_from_env("BANDIT_DUCKDB_PYTHON", "DuckDB") else {
        return;
    };
    let w = linear_world(11, 200, "");
    let root = w.dir.path();
    let tables = root.join("tables");
    std::fs::create_dir_all(&tables).unwrap();
    export_tables(&w.tables, &tables).unwrap();
    let as_of = bandit_engine::time::format_rfc3339(w.as_of);
    let sql = |extra: &[&str]| {
        let mut args = vec![
            "sql",
            "--dialect",
            "duckdb",
            "--config",
            w.inputs.config.to_str().unwrap(),
            "--bundle",
            w.inputs.bundle.to_str().unwrap(),
            "--as-of",
            &as_of,
        ];
        args.extend(extra);
        run_cli(args)
    };
    let without = sql(&[]);
    assert!(
        without.contains(&format!(
            "-- {POLICY}: left out (linear_contextual): write its layout query with --layout-query"
        )),
        "{without}"
    );
    let run = duckdb_runner(&python);
    let layout = run(&tables, "cli-layout", &sql(&["--layout-query"]));
    let with = sql(&["--layout", layout.to_str().unwrap()]);
    assert!(
        with.contains(&format!("-- {POLICY}: linear contextual, goal")),
        "{with}"
    );
    let stats = run(&tables, "cli-statistics", &with);
    let retrain = |out: &str, extra: [&str; 2]| {
        let out = root.join(out);
        run_cli([
            "retrain",
            "--config",
            w.inputs.config.to_str().unwrap(),
            "--bundle",
            w.inputs.bundle.to_str().unwrap(),
            "--as-of",
            &as_of,
            "--out",
            out.to_str().unwrap(),
            extra[0],
            extra[1],
        ]);
        std::fs::read_to_string(out.join("bundle.json")).unwrap()
    };
    let events = w.inputs.events[0].display().to_string();
    let from_events = retrain("a", ["--events", &events]);
    let from_stats = retrain("b", ["--statistics", stats.to_str().unwrap()]);
    assert_eq!(from_stats, from_events);
    assert!(from_events.contains("\"contextualModel\""));
}

/// `retrain --warehouse` on the linear world loaded into PostgreSQL publishes what
/// `retrain --events` publishes (both statements run by the connector).
#[cfg(all(feature = "cli", feature = "postgres"))]
#[test]
fn retrain_warehouse_fits_the_linear_policy_as_the_files_do() {
    use crate::common::run_cli;
    use crate::warehouse::pg_user;

    let Some(host) = engine_from_env("BANDIT_PG_HOST", "retrain --warehouse (PostgreSQL)") else {
        return;
    };
    let w = linear_world(5, 200, DECLARED);
    let root = w.dir.path();
    let tables = root.join("tables");
    std::fs::create_dir_all(&tables).unwrap();
    export_tables(&w.tables, &tables).unwrap();
    psql(&host, &tables, &pg_load_script(&tables, "whl_connector"));
    let conninfo = format!("host={host} user={} dbname=postgres", pg_user());
    let retrain = |out: &str, extra: &[&str]| {
        let out = root.join(out);
        let mut args = vec![
            "retrain",
            "--config",
            w.inputs.config.to_str().unwrap(),
            "--bundle",
            w.inputs.bundle.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        run_cli(args);
        std::fs::read_to_string(out.join("bundle.json")).unwrap()
    };
    let events = w.inputs.events[0].display().to_string();
    let from_events = retrain("a", &["--events", &events]);
    let from_warehouse = retrain(
        "b",
        &[
            "--warehouse",
            &conninfo,
            "--exposures-table",
            "whl_connector.exposures",
            "--tracks-table",
            "whl_connector.tracks",
        ],
    );
    psql(&host, &tables, "DROP SCHEMA whl_connector CASCADE;");
    assert_eq!(from_warehouse, from_events);
    assert!(from_events.contains("\"contextualModel\""));
}

/// Spark SQL (its VARIANT functions) in local mode, once: learned features, a full
/// run (two sessions of about a minute each here; the incremental run's SQL differs
/// only in its span and zero columns, checked on DuckDB and PostgreSQL).
#[test]
fn linear_sums_on_spark_equal_the_engines_and_publish_its_bundle() {
    let Some(python) = engine_from_env("BANDIT_SPARK_PYTHON", "Spark SQL") else {
        return;
    };
    let run = crate::warehouse::one_at_a_time("spark", |batch| {
        crate::warehouse::run_spark(&python, batch)
    });
    check_linear_runs(DialectName::Spark, &run, "", "learned", false);
}

/// ClickHouse through chDB (its `JSONType`/`JSONExtract*` functions on the context
/// text): learned and declared features, full and incremental runs, fractional
/// rewards, as on DuckDB and PostgreSQL.
#[test]
fn linear_sums_on_clickhouse_equal_the_engines_and_publish_its_bundle() {
    let Some(python) = engine_from_env("BANDIT_CLICKHOUSE_PYTHON", "ClickHouse (chDB)") else {
        return;
    };
    let run = crate::warehouse::one_at_a_time("clickhouse", |batch| {
        crate::warehouse::run_clickhouse(&python, batch)
    });
    check_linear(DialectName::ClickHouse, &run, "", "learned");
    check_linear(DialectName::ClickHouse, &run, DECLARED, "declared");
    check_fractional(DialectName::ClickHouse, &run);
}
