//! The warehouse SQL, run on real engines, against the engine's own statistics.
//!
//! Each scenario (the demo, random synthetic logs; both attribution modes, every
//! multi-touch model, every goal type, a cap) is exported as the two relations the
//! queries read, loaded into the engine, queried, and compared with
//! `warehouse::in_process` on the same events: units and conversions exactly, sums to
//! a relative 1e-9 (engines add floats in their own order).
//!
//! Engines come from the environment, set by `.ci/run`:
//! `BANDIT_DUCKDB_PYTHON`, `BANDIT_SPARK_PYTHON` and `BANDIT_CLICKHOUSE_PYTHON` (a
//! Python with the `duckdb`, `pyspark` or `chdb` package) and `BANDIT_PG_HOST` (a
//! PostgreSQL socket directory or host; `BANDIT_PG_USER`, default `postgres`).
//! Without them the tests say so loudly on standard error and check only what runs
//! without a server; with `BANDIT_WAREHOUSE_REQUIRED=1` (CI) a missing engine fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use bandit_engine::config::{AttributionMode, AttributionModel, Cap, GoalType, ProjectConfig};
use bandit_engine::engine::AttributionOverrides;
use bandit_engine::events::{load_events, EventTables, LoadOptions};
use bandit_engine::warehouse::{
    export_tables, in_process, load_script, policy_queries, read_statistics,
    retrain_from_statistics, statistics_sql, DialectName, PolicyQuery, Relations, StatisticsRow,
};
use bandit_engine::{Engine, RetrainInputs, RetrainOptions};

/// A set of events and the queries to check on them.
pub(crate) struct Scenario {
    pub name: String,
    /// The events loaded into the warehouse.
    pub tables: EventTables,
    pub queries: Vec<PolicyQuery>,
    /// The statement's overlap window ([`Relations::overlap`]) and the events it
    /// then reads, which the engine's statistics are computed on.
    pub overlap: Option<(i64, EventTables)>,
    /// For the config as written: its inputs and as-of, to compare the bundle a
    /// retrain from the statistics publishes with the one from the events.
    pub retrain: Option<Retrain>,
}

/// A retrain's inputs (the directory they live in kept alive) and attribution
/// overrides.
pub(crate) struct Retrain {
    pub inputs: RetrainInputs,
    pub as_of: i64,
    pub mode: Option<AttributionMode>,
    pub model: Option<AttributionModel>,
    _dir: Option<std::sync::Arc<tempfile::TempDir>>,
}

impl Retrain {
    /// The same retrain under attribution overrides.
    fn overridden(&self, mode: Option<AttributionMode>, model: Option<AttributionModel>) -> Self {
        Self {
            inputs: self.inputs.clone(),
            as_of: self.as_of,
            mode,
            model,
            _dir: self._dir.clone(),
        }
    }
}

/// A config, its events, and what a retrain on them reads.
fn world(
    root: &Path,
    dir: Option<std::sync::Arc<tempfile::TempDir>>,
) -> (ProjectConfig, EventTables, Retrain) {
    let inputs = RetrainInputs::from_paths(
        root.join(".traffical/config.yaml"),
        root.join("bundle.json"),
        &[root.join("events.ndjson")],
    );
    let config = ProjectConfig::from_path(&inputs.config).unwrap();
    let loaded = load_events(&inputs.events, LoadOptions::default()).unwrap();
    let as_of = loaded.tables.latest_timestamp().unwrap();
    let retrain = Retrain {
        inputs,
        as_of,
        mode: None,
        model: None,
        _dir: dir,
    };
    (config, loaded.tables, retrain)
}

pub(crate) fn demo_tables() -> (ProjectConfig, EventTables, Retrain) {
    world(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo"),
        None,
    )
}

fn synth_tables(seed: u64, units: u32) -> (ProjectConfig, EventTables, Retrain) {
    let dir = tempfile::tempdir().unwrap();
    let world = bandit_engine::synth::generate(&bandit_engine::synth::SynthParams {
        units,
        seed,
        days: 3,
        ..Default::default()
    })
    .unwrap();
    bandit_engine::synth::write_world(&world, dir.path()).unwrap();
    let root = dir.path().to_path_buf();
    self::world(&root, Some(std::sync::Arc::new(dir)))
}

/// The queries of `config` under attribution overrides, through `as_of` (as a
/// retrain at that time).
fn overridden(
    config: &ProjectConfig,
    mode: Option<AttributionMode>,
    model: Option<AttributionModel>,
    as_of: i64,
) -> Vec<PolicyQuery> {
    let overrides = AttributionOverrides {
        mode,
        model,
        ..AttributionOverrides::default()
    };
    policy_queries(config, &overrides, None, Some(as_of)).unwrap()
}

/// The config as written, queried through the retrain's as-of.
fn configured(
    name: &str,
    config: &ProjectConfig,
    tables: &EventTables,
    retrain: Retrain,
) -> Scenario {
    let queries = policy_queries(
        config,
        &AttributionOverrides::default(),
        None,
        Some(retrain.as_of),
    )
    .unwrap();
    Scenario {
        name: name.into(),
        tables: tables.clone(),
        queries,
        overlap: None,
        retrain: Some(retrain),
    }
}

/// Every scenario: the demo as configured and under each mode × model, with other
/// goal types, a cap, a clock skew and a time span; two random logs.
pub(crate) fn scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    let (config, tables, retrain) = demo_tables();
    let as_of = retrain.as_of;
    let demo = retrain.overridden(None, None);
    out.push(configured("demo", &config, &tables, retrain));
    let models = [
        AttributionModel::LastTouch,
        AttributionModel::FirstTouch,
        AttributionModel::Linear,
        AttributionModel::TimeDecay,
        AttributionModel::PositionBased,
    ];
    for mode in [AttributionMode::Cumulative, AttributionMode::Decision] {
        for model in models {
            out.push(Scenario {
                name: format!("demo-{mode:?}-{model:?}").to_lowercase(),
                tables: tables.clone(),
                queries: overridden(&config, Some(mode), Some(model), as_of),
                overlap: None,
                retrain: Some(demo.overridden(Some(mode), Some(model))),
            });
        }
    }
    // Other goal types, with a cap, a clock skew and (the first two) a time span.
    for (i, goal_type) in [GoalType::Sum, GoalType::Count, GoalType::Mean]
        .into_iter()
        .enumerate()
    {
        let mut queries = overridden(&config, None, Some(AttributionModel::Linear), as_of);
        for q in &mut queries {
            q.goal.goal_type = goal_type;
            q.goal.cap = (i != 1).then_some(Cap { quantile: 0.9 });
            q.params = q.params.with_clock_skew_ms(5_000);
            if i < 2 {
                q.after = bandit_engine::time::parse_rfc3339("2026-11-01T06:00:00Z");
                q.through = bandit_engine::time::parse_rfc3339("2026-11-02T12:00:00Z");
            }
        }
        out.push(Scenario {
            name: format!("demo-{goal_type:?}").to_lowercase(),
            tables: tables.clone(),
            queries,
            overlap: None,
            retrain: None,
        });
    }
    out.extend(overlap_scenarios(&config, &tables, as_of));
    for seed in [7, 11] {
        let (config, tables, retrain) = synth_tables(seed, 250);
        let synth = retrain.overridden(None, None);
        out.push(configured(
            &format!("synth{seed}"),
            &config,
            &tables,
            retrain,
        ));
        for (mode, model) in [
            (
                Some(AttributionMode::Decision),
                Some(AttributionModel::Linear),
            ),
            (
                Some(AttributionMode::Cumulative),
                Some(AttributionModel::PositionBased),
            ),
            (
                Some(AttributionMode::Cumulative),
                Some(AttributionModel::TimeDecay),
            ),
        ] {
            out.push(Scenario {
                name: format!("synth{seed}-{mode:?}-{model:?}").to_lowercase(),
                tables: tables.clone(),
                queries: overridden(&config, mode, model, synth.as_of),
                overlap: None,
                retrain: Some(synth.overridden(mode, model)),
            });
        }
    }
    out
}

/// Incremental runs with an overlap window: every policy's watermark at 2026-11-05
/// (the demo runs from 11-01 to 11-09), the relations read from half a day before it,
/// in decision mode and in cumulative mode with a clock skew (the tracks then read
/// that much earlier).
fn overlap_scenarios(config: &ProjectConfig, tables: &EventTables, as_of: i64) -> Vec<Scenario> {
    let watermark = bandit_engine::time::parse_rfc3339("2026-11-05T00:00:00Z").unwrap();
    let overlap = 43_200_000;
    let mut out = Vec::new();
    for (name, mode) in [
        ("demo-overlap-decision", AttributionMode::Decision),
        ("demo-overlap-cumulative", AttributionMode::Cumulative),
    ] {
        let mut queries = overridden(config, Some(mode), Some(AttributionModel::Linear), as_of);
        for q in &mut queries {
            q.after = Some(watermark);
            if mode == AttributionMode::Cumulative {
                q.params = q.params.with_clock_skew_ms(3_600_000);
            }
        }
        let start = bandit_engine::warehouse::ScanStart::of(&queries, Some(overlap)).unwrap();
        assert_eq!(start.exposures, watermark - overlap);
        let read = demo_from(start.exposures, start.tracks);
        // The window must bite: in cumulative mode, where a unit is a user's session
        // exposures, users first exposed before it count again (in decision mode a
        // unit is a decision, first exposed when it is made).
        if mode == AttributionMode::Cumulative {
            let whole = in_process(tables, &queries).unwrap();
            let windowed = in_process(&read, &queries).unwrap();
            let units = |rows: &[StatisticsRow]| rows.iter().map(|r| r.units).sum::<u64>();
            assert!(
                units(&windowed) > units(&whole),
                "{name}: the window changes nothing"
            );
        }
        out.push(Scenario {
            name: name.into(),
            tables: tables.clone(),
            queries,
            overlap: Some((overlap, read)),
            retrain: None,
        });
    }
    out
}

/// The demo's exposure and decision events received from `exposures` on and its
/// other events from `tracks` on (lines that are no event kept: they are refused
/// either way), loaded.
fn demo_from(exposures: i64, tracks: i64) -> EventTables {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo/events.ndjson");
    let text = std::fs::read_to_string(path).unwrap();
    let kept: String = text
        .lines()
        .filter(|line| {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                return true;
            };
            let Some(t) = v["timestamp"]
                .as_str()
                .and_then(bandit_engine::time::parse_rfc3339)
            else {
                return true;
            };
            match v["type"].as_str() {
                Some("exposure" | "decision") => t >= exposures,
                _ => t >= tracks,
            }
        })
        .map(|line| format!("{line}\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.ndjson");
    std::fs::write(&file, kept).unwrap();
    load_events(&[file], LoadOptions::default()).unwrap().tables
}

/// The relations a scenario's statement reads, named `exposures` and `tracks`.
pub(crate) fn scenario_relations(s: &Scenario) -> Relations {
    Relations {
        overlap: s.overlap.as_ref().map(|(o, _)| *o),
        ..Relations::default()
    }
}

/// The events a scenario's statement reads.
pub(crate) fn scenario_reads(s: &Scenario) -> &EventTables {
    s.overlap.as_ref().map_or(&s.tables, |(_, t)| t)
}

/// The engine named by `var`, or `None` after saying loudly that it is skipped (a
/// failure when `BANDIT_WAREHOUSE_REQUIRED` is set).
pub(crate) fn engine_from_env(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            let message = format!(
                "\n!!!!!!!!\n!!! {what} NOT CHECKED: {var} is not set (.ci/run sets it; see docs/warehouse.md)\n!!!!!!!!\n"
            );
            assert!(
                std::env::var_os("BANDIT_WAREHOUSE_REQUIRED").is_none(),
                "{message}"
            );
            // Straight to the file descriptor: the test harness captures `eprintln!`
            // of passing tests, and this must be seen.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "{message}");
            None
        }
    }
}

pub(crate) fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the scenario's SQL on DuckDB; the result file.
fn run_duckdb(python: &str, dir: &Path, sql: &str) -> PathBuf {
    let load = load_script(DialectName::DuckDb, dir).unwrap();
    duckdb_csv(python, dir, &load, sql)
}

/// Runs `load` then `sql` on a fresh in-memory DuckDB with `dir` as its working
/// directory (relative csv paths in `load` are read from there); the result file.
pub(crate) fn duckdb_csv(python: &str, dir: &Path, load: &str, sql: &str) -> PathBuf {
    std::fs::write(dir.join("load.sql"), load).unwrap();
    std::fs::write(dir.join("query.sql"), sql).unwrap();
    let out = dir.join("duckdb.csv");
    let script = "import duckdb, os, sys\n\
        os.chdir(sys.argv[1])\n\
        con = duckdb.connect()\n\
        con.execute(open('load.sql').read())\n\
        con.sql(open('query.sql').read()).write_csv(sys.argv[2])\n";
    run(Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(dir)
        .arg(&out));
    out
}

/// The user the PostgreSQL tests log in as.
pub(crate) fn pg_user() -> String {
    std::env::var("BANDIT_PG_USER").unwrap_or_else(|_| "postgres".into())
}

/// Runs the scenario's SQL on PostgreSQL, in a schema of its own; the result file.
fn run_postgres(host: &str, dir: &Path, name: &str, sql: &str) -> PathBuf {
    let schema = format!("wh_{}", name.replace(['-', '(', ')', ' '], "_"));
    let out = dir.join("postgres.csv");
    let script = format!(
        "{}\n\\pset format csv\n\\o {}\n{sql};\n\\o\nDROP SCHEMA {schema} CASCADE;\n",
        pg_load_script(dir, &schema),
        out.display()
    );
    psql(host, dir, &script);
    out
}

/// The psql script that loads the tables exported in `dir` into a fresh `schema`
/// and leaves it the search path.
pub(crate) fn pg_load_script(dir: &Path, schema: &str) -> String {
    format!(
        "SET client_min_messages TO warning;\nDROP SCHEMA IF EXISTS {schema} CASCADE;\nCREATE SCHEMA {schema};\nSET search_path TO {schema};\n{}\n",
        load_script(DialectName::Postgres, dir).unwrap()
    )
}

/// Runs a psql script (written to `dir`), failing on its first error.
pub(crate) fn psql(host: &str, dir: &Path, script: &str) {
    std::fs::write(dir.join("postgres.sql"), script).unwrap();
    let user = pg_user();
    run(Command::new("psql")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            host,
            "-U",
            &user,
            "-d",
            "postgres",
        ])
        .arg("-f")
        .arg(dir.join("postgres.sql")));
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

pub(crate) fn assert_same(
    engine: &str,
    scenario: &str,
    got: &[StatisticsRow],
    want: &[StatisticsRow],
) {
    let key = |r: &StatisticsRow| (r.policy_id.clone(), r.allocation_name.clone());
    assert_eq!(
        got.iter().map(key).collect::<Vec<_>>(),
        want.iter().map(key).collect::<Vec<_>>(),
        "{engine}, {scenario}: the policy × allocation rows differ"
    );
    for (g, w) in got.iter().zip(want) {
        let same = g.units == w.units
            && g.conversions == w.conversions
            && g.last_exposed_at == w.last_exposed_at
            && close(g.reward_sum, w.reward_sum)
            && close(g.reward_sum_sq, w.reward_sum_sq);
        assert!(
            same,
            "{engine}, {scenario}:\n  sql:        {g:?}\n  in process: {w:?}"
        );
    }
}

/// The bundle and totals a retrain from `rows` publishes are the ones a retrain from
/// the events publishes, byte for byte; whether it differs from the input bundle.
pub(crate) fn assert_same_bundle(
    engine: &str,
    scenario: &str,
    r: &Retrain,
    rows: &[StatisticsRow],
) -> bool {
    let options = || RetrainOptions {
        as_of: Some(r.as_of),
        seed: 3,
        attribution: r.mode,
        attribution_model: r.model,
        ..RetrainOptions::default()
    };
    let from_rows =
        retrain_from_statistics(options(), &r.inputs, rows, "statistics.csv", None).unwrap();
    let got = Published::of(&from_rows);
    // The retrain from the events, once per scenario for every engine's test.
    static FROM_EVENTS: std::sync::Mutex<BTreeMap<String, Published>> =
        std::sync::Mutex::new(BTreeMap::new());
    // (The guard of this lookup is dropped before the retrain locks again.)
    let cached = FROM_EVENTS.lock().unwrap().get(scenario).cloned();
    let want = match cached {
        Some(p) => p,
        None => {
            let p = Published::of(&Engine::new(options()).retrain(&r.inputs).unwrap());
            FROM_EVENTS
                .lock()
                .unwrap()
                .insert(scenario.to_owned(), p.clone());
            p
        }
    };
    assert_eq!(
        got.bundle, want.bundle,
        "{engine}, {scenario}: the bundles differ"
    );
    assert_eq!(
        got.arms, want.arms,
        "{engine}, {scenario}: the reports differ"
    );
    want.moved
}

/// Per policy: its id, its status and per arm its name, exposures and new exposures.
type ArmsReported = Vec<(String, String, Vec<(String, u64, u64)>)>;

/// What a retrain published, as the bundle comparison reads it.
#[derive(Clone)]
struct Published {
    bundle: String,
    arms: ArmsReported,
    /// Whether the bundle changed.
    moved: bool,
}

impl Published {
    fn of(o: &bandit_engine::RetrainOutcome) -> Self {
        let bundle = o.bundle.to_json_pretty();
        Self {
            moved: bundle != o.input_bundle.to_json_pretty(),
            bundle,
            arms: o
                .report
                .policies
                .iter()
                .map(|p| {
                    let arms = p
                        .arms
                        .iter()
                        .map(|a| (a.name.clone(), a.exposures, a.new_exposures))
                        .collect();
                    (p.policy_id.clone(), format!("{:?}", p.status), arms)
                })
                .collect(),
        }
    }
}

/// One scenario for an engine: its directory, name and SQL.
pub(crate) type Job<'a> = (&'a Path, &'a str, &'a str);

/// A runner of one statement at a time on an engine that runs batches (`batch`:
/// [`run_spark`], [`run_clickhouse`]): each result kept as `{what}.{engine}.csv` in
/// the tables' directory, so that a second statement there does not overwrite it.
pub(crate) fn one_at_a_time<'a>(
    engine: &'a str,
    batch: impl Fn(&[Job<'_>]) -> Vec<PathBuf> + 'a,
) -> impl Fn(&Path, &str, &str) -> PathBuf + 'a {
    move |dir: &Path, what: &str, sql: &str| {
        let out = batch(&[(dir, what, sql)]).remove(0);
        let kept = dir.join(format!("{what}.{engine}.csv"));
        std::fs::rename(out, &kept).unwrap();
        kept
    }
}

/// One scenario's files, ready for an engine: the exported tables and the query.
struct Prepared {
    scenario: Scenario,
    want: Vec<StatisticsRow>,
    dir: tempfile::TempDir,
    sql: String,
}

/// Runs every scenario on one engine. `runner` runs a batch of (directory, name,
/// SQL) and returns each result file, so an engine slow to start starts once.
fn check_engine(
    dialect: DialectName,
    only: Option<&[&str]>,
    runner: &dyn Fn(&[Job<'_>]) -> Vec<PathBuf>,
) {
    let prepared: Vec<Prepared> = scenarios()
        .into_iter()
        .filter(|s| only.is_none_or(|names| names.contains(&s.name.as_str())))
        .map(|s| {
            let want = in_process(scenario_reads(&s), &s.queries).unwrap();
            assert!(!want.is_empty(), "{}: no statistics to compare", s.name);
            let sql =
                statistics_sql(dialect.dialect(), &scenario_relations(&s), &s.queries).unwrap();
            let dir = tempfile::tempdir().unwrap();
            export_tables(&s.tables, dir.path()).unwrap();
            Prepared {
                scenario: s,
                want,
                dir,
                sql,
            }
        })
        .collect();
    let batch: Vec<Job<'_>> = prepared
        .iter()
        .map(|p| (p.dir.path(), p.scenario.name.as_str(), p.sql.as_str()))
        .collect();
    let started = std::time::Instant::now();
    let results = runner(&batch);
    eprintln!(
        "{dialect}: {} scenarios loaded and queried in {:.1} s",
        batch.len(),
        started.elapsed().as_secs_f64()
    );
    for (p, result) in prepared.into_iter().zip(results) {
        let name = &p.scenario.name;
        let got = read_statistics(&result);
        if std::env::var_os("BANDIT_WAREHOUSE_KEEP").is_some() {
            // For a look at the files and the SQL of a failing scenario.
            eprintln!("{name}: kept in {}", p.dir.keep().display());
        }
        let got = got.unwrap();
        assert_same(dialect.as_str(), name, &got, &p.want);
        if let Some(r) = &p.scenario.retrain {
            let _ = assert_same_bundle(dialect.as_str(), name, r, &got);
        }
    }
}

/// Runs the scenarios on Spark SQL in local mode, one session for all.
pub(crate) fn run_spark(python: &str, batch: &[Job<'_>]) -> Vec<PathBuf> {
    let script = "import csv, sys\n\
        from pyspark.sql import SparkSession\n\
        spark = (SparkSession.builder.master('local[2]').appName('bandit-warehouse')\n\
            .config('spark.sql.session.timeZone', 'UTC').config('spark.ui.enabled', 'false')\n\
            .config('spark.sql.shuffle.partitions', '1').getOrCreate())\n\
        spark.sparkContext.setLogLevel('ERROR')\n\
        for d in sys.stdin.read().split('\\n'):\n\
        \x20   if not d: continue\n\
        \x20   for stmt in open(d + '/load.sql').read().split(';\\n'):\n\
        \x20       if stmt.strip(): spark.sql(stmt)\n\
        \x20   df = spark.sql(open(d + '/query.sql').read())\n\
        \x20   with open(d + '/spark.csv', 'w', newline='') as f:\n\
        \x20       w = csv.writer(f)\n\
        \x20       w.writerow(df.columns)\n\
        \x20       for row in df.collect(): w.writerow([repr(v) if isinstance(v, float) else v for v in row])\n\
        spark.stop()\n";
    run_python_batch(python, DialectName::Spark, script, batch, &|dir| {
        load_script(DialectName::Spark, dir).unwrap()
    })
}

/// Runs the scenarios on ClickHouse through chDB (its engine embedded in Python), one
/// session for all (each scenario's load replaces the tables).
pub(crate) fn run_clickhouse(python: &str, batch: &[Job<'_>]) -> Vec<PathBuf> {
    clickhouse_batch(python, batch, &|dir| {
        load_script(DialectName::ClickHouse, dir).unwrap()
    })
}

/// [`run_clickhouse`] with each directory's tables loaded by the statements `load`
/// writes for it.
pub(crate) fn clickhouse_batch(
    python: &str,
    batch: &[Job<'_>],
    load: &dyn Fn(&Path) -> String,
) -> Vec<PathBuf> {
    let script = "import sys, tempfile\n\
        from chdb import session\n\
        with tempfile.TemporaryDirectory() as path:\n\
        \x20   s = session.Session(path)\n\
        \x20   for d in sys.stdin.read().split('\\n'):\n\
        \x20       if not d: continue\n\
        \x20       for stmt in open(d + '/load.sql').read().split(';\\n'):\n\
        \x20           if stmt.strip(): s.query(stmt)\n\
        \x20       out = s.query(open(d + '/query.sql').read(), 'CSVWithNames')\n\
        \x20       open(d + '/clickhouse.csv', 'wb').write(out.bytes())\n\
        \x20   s.close()\n";
    run_python_batch(python, DialectName::ClickHouse, script, batch, load)
}

/// Writes each job's load script (`load` of its directory) and query as `load.sql`
/// and `query.sql` to its directory, runs `script` with the directories on standard
/// input (one a line), and returns each directory's `<dialect>.csv`, which the
/// script writes.
fn run_python_batch(
    python: &str,
    dialect: DialectName,
    script: &str,
    batch: &[Job<'_>],
    load: &dyn Fn(&Path) -> String,
) -> Vec<PathBuf> {
    let mut outs = Vec::new();
    let mut list = String::new();
    for (dir, _, sql) in batch {
        std::fs::write(dir.join("load.sql"), load(dir)).unwrap();
        std::fs::write(dir.join("query.sql"), sql).unwrap();
        list.push_str(&format!("{}\n", dir.display()));
        outs.push(dir.join(format!("{dialect}.csv")));
    }
    let mut child = Command::new(python)
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(list.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{dialect} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    outs
}

#[test]
fn warehouse_sql_on_duckdb_equals_the_engine() {
    let Some(python) = engine_from_env("BANDIT_DUCKDB_PYTHON", "DuckDB") else {
        return;
    };
    check_engine(DialectName::DuckDb, None, &|batch| {
        batch
            .iter()
            .map(|(dir, _, sql)| run_duckdb(&python, dir, sql))
            .collect()
    });
}

#[test]
fn warehouse_sql_on_postgres_equals_the_engine() {
    let Some(host) = engine_from_env("BANDIT_PG_HOST", "PostgreSQL") else {
        return;
    };
    check_engine(DialectName::Postgres, None, &|batch| {
        batch
            .iter()
            .map(|(dir, name, sql)| run_postgres(&host, dir, name, sql))
            .collect()
    });
}

#[test]
fn warehouse_sql_on_spark_equals_the_engine() {
    let Some(python) = engine_from_env("BANDIT_SPARK_PYTHON", "Spark SQL") else {
        return;
    };
    // Spark in local mode takes about 45 s per scenario here (every scenario: nine
    // minutes on two shared cores), so it checks a subset covering both modes, a
    // multi-touch model, a valued goal with a cap, a clock skew and a time span,
    // sessions from the gap and a retrain from its rows.
    let only = ["demo", "demo-sum", "synth7", "demo-overlap-cumulative"];
    check_engine(DialectName::Spark, Some(&only), &|batch| {
        run_spark(&python, batch)
    });
}

#[test]
fn warehouse_sql_on_clickhouse_equals_the_engine() {
    let Some(python) = engine_from_env("BANDIT_CLICKHOUSE_PYTHON", "ClickHouse (chDB)") else {
        return;
    };
    check_engine(DialectName::ClickHouse, None, &|batch| {
        run_clickhouse(&python, batch)
    });
}
