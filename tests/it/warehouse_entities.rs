//! Per-entity policies in the warehouse, on real engines: the statement's rows (one
//! per policy × allocation × entity group) read back into the per-entity totals the
//! engine keeps, against the totals a retrain on the events saves, and the bundle a
//! retrain from them publishes.
//!
//! The world is `synth`'s per-entity one (`src/synth/entities.rs`: a fixed and a
//! dynamic policy over skewed product traffic, a conversion goal, so every sum is of
//! whole numbers and exact in any order), its logged contexts respelled so that the
//! reader's rules matter: one product's id logged as `3`, `3.0` and `"3"` (one entity
//! for the SDK), another as an array, a boolean, absent or null (no entity), one
//! product's `imageCount` raised halfway (its latest count wins) and another's logged
//! as text (no count). Engines as in `warehouse.rs` (`BANDIT_DUCKDB_PYTHON`,
//! `BANDIT_PG_HOST`).

use std::path::{Path, PathBuf};

use bandit_engine::bundle::BundleDocument;
use bandit_engine::config::ProjectConfig;
use bandit_engine::engine::AttributionOverrides;
use bandit_engine::events::{load_events, LoadOptions};
use bandit_engine::state::EngineState;
use bandit_engine::synth::entities::{entity_world, EntityWorldParams};
use bandit_engine::warehouse::{
    entity_queries, entity_totals, export_tables, load_script, policy_queries, read_statistics,
    retrain_from_statistics, statistics_sql_full, DialectName, EntityQuery, PolicyQuery, Relations,
    StatisticsRow,
};
use bandit_engine::{Engine, RetrainInputs, RetrainOptions, RetrainOutcome};
use serde_json::{json, Value};

use crate::warehouse::{duckdb_csv, engine_from_env, pg_load_script, psql};

const ORDER: &str = "policy_image_order";
const GALLERY: &str = "policy_gallery_start";

/// The per-entity world with respelled contexts, written to a directory.
struct World {
    dir: tempfile::TempDir,
    inputs: RetrainInputs,
    config: ProjectConfig,
    as_of: i64,
    /// Halfway through the log.
    middle: i64,
}

/// A logged context respelled as the module's docs say (`n`: a digit of the decision
/// id, to vary spellings within one product).
fn respell(ctx: &mut serde_json::Map<String, Value>, n: u32, late: bool) {
    let Some(product) = ctx.get("productId").and_then(Value::as_str) else {
        return;
    };
    match product {
        "prod-003" => {
            let spelled = [json!(3), json!(3.0), json!("3")];
            ctx.insert("productId".into(), spelled[n as usize % 3].clone());
        }
        "prod-004" => {
            ctx.insert("productId".into(), json!([4, "x"]));
        }
        "prod-005" => {
            ctx.remove("productId");
        }
        "prod-006" => {
            ctx.insert("productId".into(), Value::Null);
        }
        "prod-007" => {
            ctx.insert("productId".into(), json!(true));
        }
        "prod-001" if late => {
            let images = ctx["imageCount"].as_u64().unwrap();
            ctx.insert("imageCount".into(), json!(images + 1));
        }
        "prod-002" => {
            let images = ctx["imageCount"].to_string();
            ctx.insert("imageCount".into(), json!(images));
        }
        _ => {}
    }
}

fn world() -> World {
    let params = EntityWorldParams {
        views: 4_000,
        products: 30,
        ..EntityWorldParams::default()
    };
    let w = entity_world(&params).unwrap();
    let dir = tempfile::tempdir().unwrap();
    w.write(dir.path()).unwrap();
    let middle = params.start + i64::from(params.hours) * 1_800_000;
    let path = dir.path().join("events.ndjson");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let mut e: Value = serde_json::from_str(line).unwrap();
        let n = e["decisionId"]
            .as_str()
            .and_then(|d| d.chars().last()?.to_digit(10))
            .unwrap_or(0);
        let late = e["timestamp"]
            .as_str()
            .and_then(bandit_engine::time::parse_rfc3339)
            .unwrap()
            > middle;
        if let Some(ctx) = e.get_mut("context").and_then(Value::as_object_mut) {
            respell(ctx, n, late);
        }
        out.push_str(&serde_json::to_string(&e).unwrap());
        out.push('\n');
    }
    std::fs::write(&path, out).unwrap();
    let inputs = RetrainInputs::from_paths(
        dir.path().join(".traffical/config.yaml"),
        dir.path().join("bundle.json"),
        &[path],
    );
    let config = ProjectConfig::from_path(&inputs.config).unwrap();
    let loaded = load_events(&inputs.events, LoadOptions::default()).unwrap();
    let tables = dir.path().join("tables");
    std::fs::create_dir_all(&tables).unwrap();
    export_tables(&loaded.tables, &tables).unwrap();
    World {
        as_of: loaded.tables.latest_timestamp().unwrap(),
        dir,
        inputs,
        config,
        middle,
    }
}

fn options(as_of: i64) -> RetrainOptions {
    RetrainOptions {
        as_of: Some(as_of),
        seed: 5,
        ..RetrainOptions::default()
    }
}

/// The queries of a run at `as_of` after `previous`: multi-armed (none here) and
/// per-entity.
fn plan(
    w: &World,
    previous: Option<&EngineState>,
    as_of: i64,
) -> (Vec<PolicyQuery>, Vec<EntityQuery>) {
    let doc = BundleDocument::from_path(&w.inputs.bundle).unwrap();
    let o = AttributionOverrides::default();
    let entities = entity_queries(&w.config, &doc, &o, previous, Some(as_of)).unwrap();
    let mut queries = policy_queries(&w.config, &o, previous, Some(as_of)).unwrap();
    queries.retain(|q| !entities.iter().any(|e| e.query.policy_id == q.policy_id));
    (queries, entities)
}

/// Runs `sql` on an engine over the tables exported in `dir`; the result file.
type Runner<'a> = dyn Fn(&Path, &str, &str) -> PathBuf + 'a;

/// The warehouse's rows of the plan of a run at `as_of` after `previous`.
fn warehouse_rows(
    dialect: DialectName,
    run: &Runner<'_>,
    w: &World,
    previous: Option<&EngineState>,
    what: &str,
) -> (Vec<StatisticsRow>, Vec<EntityQuery>) {
    let (queries, entities) = plan(w, previous, w.as_of);
    assert_eq!(entities.len(), 2, "both policies are per-entity");
    assert!(queries.is_empty());
    let sql = statistics_sql_full(
        dialect.dialect(),
        &Relations::default(),
        &queries,
        &[],
        &[],
        &entities,
    )
    .unwrap();
    let file = run(&w.dir.path().join("tables"), what, &sql);
    (read_statistics(&file).unwrap(), entities)
}

/// The per-entity totals read from the warehouse's rows equal those the engine saves
/// from the events; the report's entity figures agree.
fn assert_entities_same(
    engine: &str,
    what: &str,
    rows: &[StatisticsRow],
    entities: &[EntityQuery],
    from_events: &RetrainOutcome,
) {
    for q in entities {
        let id = &q.query.policy_id;
        let mine = rows.iter().filter(|r| &r.policy_id == id).map(|r| {
            let s = bandit_engine::reward::ArmStats {
                n: r.units,
                sum: r.reward_sum,
                sum_sq: r.reward_sum_sq,
            };
            (r.allocation_name.as_str(), s, r.entity.as_ref().unwrap())
        });
        let got = entity_totals(q, mine).unwrap();
        let want = from_events.state.policies[id].entities.as_ref().unwrap();
        assert_eq!(
            &got.totals, want,
            "{engine}, {what}: per-entity totals of {id}"
        );
        let report = from_events
            .report
            .policies
            .iter()
            .find(|p| &p.policy_id == id)
            .and_then(|p| p.entities.as_ref())
            .unwrap();
        assert_eq!(got.active, report.active, "{engine}, {what}: {id} active");
        assert_eq!(
            got.rows_without_entity, report.rows_without_entity,
            "{engine}, {what}: {id} rows without entity"
        );
    }
}

/// The respelled products came back as the module's docs say.
fn assert_world_exercised(rows: &[StatisticsRow], from_events: &RetrainOutcome) {
    let spellings: std::collections::BTreeSet<(String, String)> = rows
        .iter()
        .filter(|r| r.policy_id == ORDER)
        .filter_map(|r| r.entity.as_ref()?.values[0].clone())
        .filter(|(_, t)| t.trim().trim_start_matches('"').starts_with('3'))
        .collect();
    assert!(
        spellings.len() >= 2,
        "3 in several spellings: {spellings:?}"
    );
    let order = from_events.state.policies[ORDER].entities.as_ref().unwrap();
    for id in ["3", "4,x", "true"] {
        assert!(order.entities.contains_key(id), "entity {id:?}");
    }
    let gallery = from_events.state.policies[GALLERY]
        .entities
        .as_ref()
        .unwrap();
    assert!(gallery.counts.contains_key("prod-001"));
    assert!(
        !gallery.counts.contains_key("prod-002"),
        "a count logged as text"
    );
    let report = |id: &str| {
        from_events
            .report
            .policies
            .iter()
            .find(|p| p.policy_id == id)
            .and_then(|p| p.entities.clone())
            .unwrap()
    };
    assert!(report(ORDER).rows_without_entity > 0);
    assert!(report(GALLERY).published > 0);
}

/// A full run and an incremental one (a state through the middle of the log) on an
/// engine: the totals equal the engine's and the bundles are byte-identical.
fn check_entities(dialect: DialectName, run: &Runner<'_>) {
    let w = world();
    let engine = dialect.as_str();
    let (rows, entities) = warehouse_rows(dialect, run, &w, None, "full");
    let from_events = Engine::new(options(w.as_of)).retrain(&w.inputs).unwrap();
    assert_world_exercised(&rows, &from_events);
    assert_entities_same(engine, "full", &rows, &entities, &from_events);
    let from_rows =
        retrain_from_statistics(options(w.as_of), &w.inputs, &rows, "statistics", None).unwrap();
    assert_eq!(
        from_rows.bundle.to_json_pretty(),
        from_events.bundle.to_json_pretty(),
        "{engine}: the bundles differ"
    );
    assert!(from_events.bundle.bundle().entity_state.is_some());
    for id in [ORDER, GALLERY] {
        assert_eq!(
            from_rows.state.policies[id], from_events.state.policies[id],
            "{engine}: the saved state of {id}"
        );
    }

    // Incremental: the state of a run over the first half.
    let first_half = first_half(&w);
    let first_inputs = RetrainInputs::from_paths(
        w.inputs.config.clone(),
        w.inputs.bundle.clone(),
        &[first_half],
    );
    let first = Engine::new(options(w.middle))
        .retrain(&first_inputs)
        .unwrap();
    let previous = first.state.clone();
    let (rows, entities) = warehouse_rows(dialect, run, &w, Some(&previous), "warm");
    assert!(entities
        .iter()
        .all(|q| q.query.after.is_some() && q.saved.is_some()));
    let from_events = Engine::new(options(w.as_of))
        .with_state(Some(previous.clone()))
        .retrain(&w.inputs)
        .unwrap();
    assert_entities_same(engine, "warm", &rows, &entities, &from_events);
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
        "{engine}: the bundles of the incremental runs differ"
    );
    for id in [ORDER, GALLERY] {
        assert_eq!(
            from_rows.state.policies[id].entities, from_events.state.policies[id].entities,
            "{engine}: the saved per-entity totals of {id} (incremental)"
        );
    }
}

/// The events through the middle of the log, as a file of their own.
fn first_half(w: &World) -> PathBuf {
    let path = w.dir.path().join("first-half.ndjson");
    let text = std::fs::read_to_string(&w.inputs.events[0]).unwrap();
    let kept: String = text
        .lines()
        .filter(|line| {
            let e: Value = serde_json::from_str(line).unwrap();
            e["timestamp"]
                .as_str()
                .and_then(bandit_engine::time::parse_rfc3339)
                .is_some_and(|t| t <= w.middle)
        })
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&path, kept).unwrap();
    path
}

/// No rows (nothing after the state's watermark): a retrain from statistics keeps
/// the state's per-entity totals and publishes what a retrain on events with nothing
/// new publishes. Needs no warehouse.
#[test]
fn no_entity_rows_after_the_watermark_keep_the_state_and_its_bundle() {
    let w = world();
    let first_half = first_half(&w);
    let first_inputs = RetrainInputs::from_paths(
        w.inputs.config.clone(),
        w.inputs.bundle.clone(),
        &[first_half],
    );
    let first = Engine::new(options(w.middle))
        .retrain(&first_inputs)
        .unwrap();
    let previous = first.state.clone();
    let again = Engine::new(options(w.middle))
        .with_state(Some(previous.clone()))
        .retrain(&first_inputs)
        .unwrap();
    let from_rows = retrain_from_statistics(
        options(w.middle),
        &w.inputs,
        &[],
        "statistics",
        Some(previous.clone()),
    )
    .unwrap();
    assert_eq!(
        from_rows.bundle.to_json_pretty(),
        again.bundle.to_json_pretty()
    );
    // Without a state either: nothing to fit, as a retrain on an empty log.
    let empty = w.dir.path().join("empty.ndjson");
    std::fs::write(&empty, "").unwrap();
    let none =
        RetrainInputs::from_paths(w.inputs.config.clone(), w.inputs.bundle.clone(), &[empty]);
    let nothing = Engine::new(options(w.middle)).retrain(&none).unwrap();
    let from_nothing =
        retrain_from_statistics(options(w.middle), &w.inputs, &[], "statistics", None).unwrap();
    assert_eq!(
        from_nothing.bundle.to_json_pretty(),
        nothing.bundle.to_json_pretty()
    );
    assert_eq!(from_nothing.state.policies, nothing.state.policies);
    for id in [ORDER, GALLERY] {
        let saved = previous.policies[id].entities.as_ref().unwrap();
        assert!(
            !saved.entities.is_empty(),
            "{id}: the first half has entities"
        );
        assert_eq!(from_rows.state.policies[id].entities.as_ref(), Some(saved));
        assert_eq!(
            from_rows.state.policies[id].exposures_through,
            previous.policies[id].exposures_through
        );
    }
}

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
        let schema = format!("whe_{what}");
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
fn entity_rows_on_duckdb_equal_the_engines_totals_and_publish_its_bundle() {
    let Some(python) = engine_from_env("BANDIT_DUCKDB_PYTHON", "DuckDB") else {
        return;
    };
    check_entities(DialectName::DuckDb, &duckdb_runner(&python));
}

#[test]
fn entity_rows_on_postgres_equal_the_engines_totals_and_publish_its_bundle() {
    let Some(host) = engine_from_env("BANDIT_PG_HOST", "PostgreSQL") else {
        return;
    };
    check_entities(DialectName::Postgres, &postgres_runner(&host));
}

/// The flow of `docs/warehouse.md` on the command line, on DuckDB: `sql` writes the
/// per-entity policies into the statement (and says so in its header), its result goes
/// to `retrain --statistics`, which publishes what `retrain --events` publishes.
#[cfg(feature = "cli")]
#[test]
fn sql_then_retrain_from_statistics_on_the_command_line() {
    use crate::common::run_cli;

    let Some(python) = engine_from_env("BANDIT_DUCKDB_PYTHON", "DuckDB") else {
        return;
    };
    let w = world();
    let root = w.dir.path();
    let as_of = bandit_engine::time::format_rfc3339(w.as_of);
    let (config, bundle) = (
        w.inputs.config.to_str().unwrap(),
        w.inputs.bundle.to_str().unwrap(),
    );
    let sql = run_cli([
        "sql",
        "--dialect",
        "duckdb",
        "--config",
        config,
        "--bundle",
        bundle,
        "--as-of",
        &as_of,
    ]);
    assert!(
        sql.contains(&format!(
            "-- {GALLERY}: per-entity (entityKeys productId; dynamic allocations (countKey imageCount))"
        )),
        "{sql}"
    );
    assert!(!sql.contains("left out"), "{sql}");
    let stats = duckdb_runner(&python)(&root.join("tables"), "cli", &sql);
    let retrain = |out: &str, extra: [&str; 2]| {
        let out = root.join(out);
        run_cli([
            "retrain",
            "--config",
            config,
            "--bundle",
            bundle,
            "--as-of",
            &as_of,
            "--seed",
            "5",
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
    assert!(from_events.contains("\"entityState\""));
}

/// ClickHouse through chDB (`JSONType`, `JSONExtractString`/`JSONExtractRaw` on the
/// context text), full and incremental runs as on DuckDB and PostgreSQL.
#[test]
fn entity_rows_on_clickhouse_equal_the_engines_totals_and_publish_its_bundle() {
    let Some(python) = engine_from_env("BANDIT_CLICKHOUSE_PYTHON", "ClickHouse (chDB)") else {
        return;
    };
    let run = crate::warehouse::one_at_a_time("clickhouse", |batch| {
        crate::warehouse::run_clickhouse(&python, batch)
    });
    check_entities(DialectName::ClickHouse, &run);
}

/// Spark SQL in local mode (`variant_get` on the parsed context, `to_json` of a
/// VARIANT for arrays and objects), full and incremental runs as on the others.
#[test]
fn entity_rows_on_spark_equal_the_engines_totals_and_publish_its_bundle() {
    let Some(python) = engine_from_env("BANDIT_SPARK_PYTHON", "Spark SQL") else {
        return;
    };
    let run = crate::warehouse::one_at_a_time("spark", |batch| {
        crate::warehouse::run_spark(&python, batch)
    });
    check_entities(DialectName::Spark, &run);
}

/// `retrain --warehouse` on the respelled entity world loaded into PostgreSQL
/// publishes what `retrain --events` publishes (the connector writes and runs the
/// per-entity statement itself).
#[cfg(all(feature = "cli", feature = "postgres"))]
#[test]
fn retrain_warehouse_fits_the_entity_policies_as_the_files_do() {
    use crate::common::run_cli;
    use crate::warehouse::pg_user;

    let Some(host) = engine_from_env("BANDIT_PG_HOST", "retrain --warehouse (PostgreSQL)") else {
        return;
    };
    let w = world();
    let root = w.dir.path();
    let tables = root.join("tables");
    psql(&host, &tables, &pg_load_script(&tables, "whe_connector"));
    let conninfo = format!("host={host} user={} dbname=postgres", pg_user());
    let as_of = bandit_engine::time::format_rfc3339(w.as_of);
    let retrain = |out: &str, extra: &[&str]| {
        let out = root.join(out);
        let mut args = vec![
            "retrain",
            "--config",
            w.inputs.config.to_str().unwrap(),
            "--bundle",
            w.inputs.bundle.to_str().unwrap(),
            "--as-of",
            &as_of,
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
            "whe_connector.exposures",
            "--tracks-table",
            "whe_connector.tracks",
        ],
    );
    psql(&host, &tables, "DROP SCHEMA whe_connector CASCADE;");
    assert_eq!(from_warehouse, from_events);
    assert!(from_events.contains("\"entityState\""));
}
