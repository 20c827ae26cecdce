//! The warehouse SQL without an engine: every statement parses in its dialect, the
//! docs show what `sql` writes, a retrain from statistics publishes what a retrain
//! from events does, and the command line and the statistics reader (engines:
//! `warehouse.rs`).

use bandit_engine::attribution::AttributionParams;
use bandit_engine::config::{AttributionMode, GoalType};
use bandit_engine::warehouse::{
    in_process, read_statistics, statistics_sql, DialectName, PolicyQuery, Relations, StatisticsRow,
};

use crate::warehouse::{assert_same_bundle, scenarios};

#[test]
fn a_retrain_from_the_engines_own_statistics_publishes_the_same_bundle() {
    let mut moved = 0;
    for s in scenarios() {
        if let Some(r) = &s.retrain {
            let rows = in_process(&s.tables, &s.queries).unwrap();
            moved += usize::from(assert_same_bundle("in process", &s.name, r, &rows));
        }
    }
    // The comparison means something only where the fit moved allocations.
    assert!(moved >= 2, "{moved} retrains changed their bundle");
}

#[test]
fn the_scenarios_cover_both_modes_every_model_and_every_goal_type() {
    let all = scenarios();
    let queries: Vec<&PolicyQuery> = all.iter().flat_map(|s| &s.queries).collect();
    let defaults = AttributionParams::default();
    for mode in [AttributionMode::Cumulative, AttributionMode::Decision] {
        assert!(queries.iter().any(|q| q.params.mode == mode));
    }
    for t in [
        GoalType::ConversionRate,
        GoalType::Sum,
        GoalType::Count,
        GoalType::Mean,
    ] {
        assert!(queries.iter().any(|q| q.goal.goal_type == t));
    }
    assert!(queries
        .iter()
        .any(|q| q.goal.cap.is_some() && q.after.is_some()));
    assert!(queries.iter().any(|q| q.params.model != defaults.model));
}

/// The sqlparser dialect of each of ours.
pub(crate) fn parser_dialect(d: DialectName) -> Box<dyn sqlparser::dialect::Dialect> {
    use sqlparser::dialect::{
        BigQueryDialect, ClickHouseDialect, DatabricksDialect, DuckDbDialect, PostgreSqlDialect,
        SnowflakeDialect,
    };
    match d {
        DialectName::Postgres => Box::new(PostgreSqlDialect {}),
        DialectName::DuckDb => Box::new(DuckDbDialect {}),
        DialectName::BigQuery => Box::new(BigQueryDialect {}),
        DialectName::Snowflake => Box::new(SnowflakeDialect {}),
        DialectName::Spark => Box::new(DatabricksDialect {}),
        DialectName::ClickHouse => Box::new(ClickHouseDialect {}),
    }
}

#[test]
fn every_generated_query_parses_in_its_dialect() {
    let mut checked = 0;
    for s in scenarios() {
        let relations = Relations {
            exposures: "analytics.traffical_exposures".into(),
            tracks: "analytics.traffical_tracks".into(),
            ..crate::warehouse::scenario_relations(&s)
        };
        for d in DialectName::ALL {
            let sql = statistics_sql(d.dialect(), &relations, &s.queries).unwrap();
            let parsed = sqlparser::parser::Parser::parse_sql(parser_dialect(d).as_ref(), &sql);
            let statements = parsed.unwrap_or_else(|e| panic!("{d}, {}: {e}\n{sql}", s.name));
            assert_eq!(statements.len(), 1, "{d}, {}", s.name);
            checked += 1;
        }
    }
    assert!(checked >= 6 * 20, "{checked} queries parsed");
}

/// `sql` writes one statement with its header; `retrain --statistics` on the result
/// publishes the bundle `retrain --events` publishes; a statistics file naming an
/// unknown policy is refused with its row.
#[cfg(feature = "cli")]
#[test]
fn sql_and_retrain_from_statistics_on_the_command_line() {
    use std::path::Path;
    use std::process::Command;

    use bandit_engine::config::ProjectConfig;
    use bandit_engine::engine::AttributionOverrides;
    use bandit_engine::warehouse::policy_queries;

    use crate::warehouse::demo_tables;

    use crate::common::run_cli;
    let (_, tables, r) = demo_tables();
    let tmp = tempfile::tempdir().unwrap();
    let as_of = bandit_engine::time::format_rfc3339(r.as_of);
    let sql = run_cli([
        "sql",
        "--dialect",
        "bigquery",
        "--config",
        r.inputs.config.to_str().unwrap(),
        "--bundle",
        r.inputs.bundle.to_str().unwrap(),
        "--as-of",
        &as_of,
        "--exposures-table",
        "proj.events.exposures",
    ]);
    assert!(
        sql.starts_with("-- bandit-engine sql --dialect bigquery"),
        "{sql}"
    );
    assert!(sql.contains("FROM `proj`.`events`.`exposures`"), "{sql}");
    assert!(
        sql.contains(
            "-- policy_checkout_cta: goal purchase (ConversionRate), Decision attribution"
        ),
        "{sql}"
    );
    let queries = policy_queries(
        &ProjectConfig::from_path(&r.inputs.config).unwrap(),
        &AttributionOverrides {
            session_gap_ms: Some(30 * 60_000),
            ..AttributionOverrides::default()
        },
        None,
        Some(r.as_of),
    )
    .unwrap();
    let rows = in_process(&tables, &queries).unwrap();
    let stats = tmp.path().join("statistics.csv");
    bandit_engine::warehouse::write_statistics_csv(&rows, &stats).unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let common = |out: &Path| -> Vec<String> {
        [
            "retrain",
            "--config",
            r.inputs.config.to_str().unwrap(),
            "--bundle",
            r.inputs.bundle.to_str().unwrap(),
            "--as-of",
            &as_of,
            "--out",
            out.to_str().unwrap(),
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let mut from_events = common(&a);
    from_events.extend(["--events".into(), r.inputs.events[0].display().to_string()]);
    run_cli(&from_events);
    let mut from_stats = common(&b);
    from_stats.extend(["--statistics".into(), stats.display().to_string()]);
    run_cli(&from_stats);
    let read = |d: &Path| std::fs::read_to_string(d.join("bundle.json")).unwrap();
    assert_eq!(read(&b), read(&a));
    let input = std::fs::read_to_string(&r.inputs.bundle).unwrap();
    assert_ne!(read(&a), input, "the retrain should move allocations");
    // A row of another config's policy.
    let bad = tmp.path().join("bad.csv");
    std::fs::write(
        &bad,
        "policy_id,allocation_name,units,conversions,reward_sum,reward_sum_sq\npolicy_other,a,1,0,0,0\n",
    )
    .unwrap();
    let mut args = common(&tmp.path().join("c"));
    args.extend(["--statistics".into(), bad.display().to_string()]);
    let out = Command::new(env!("CARGO_BIN_EXE_bandit-engine"))
        .args(&args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("bad.csv:1: policy_id: policy_other is not a multi-armed policy"),
        "{err}"
    );
}

#[test]
fn statistics_files_with_a_bad_cell_are_refused_with_row_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("s.csv");
    std::fs::write(
        &path,
        "policy_id,allocation_name,units,conversions,reward_sum,reward_sum_sq\np,a,3,1,1.0,1.0\np,b,-2,0,0,0\n",
    )
    .unwrap();
    let err = read_statistics(&path).unwrap_err().to_string();
    assert!(
        err.ends_with("s.csv:2: units: \"-2\" is not a non-negative whole number"),
        "{err}"
    );
    std::fs::write(&path, "policy_id,allocation_name,units\np,a,3\n").unwrap();
    let err = read_statistics(&path).unwrap_err().to_string();
    assert!(
        err.contains("s.csv:0: conversions: missing column"),
        "{err}"
    );
}

/// ClickHouse writes NULL in csv as `\N`: in the columns that may be NULL
/// (`last_exposed_at`, a multi-armed row's `features` and sums) it reads as empty.
#[test]
fn statistics_files_with_clickhouse_nulls_read_them_as_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("s.csv");
    std::fs::write(
        &path,
        "policy_id,allocation_name,units,conversions,reward_sum,reward_sum_sq,last_exposed_at,features,xx_0_0,rx_0\n\"p\",\"a\",3,1,1,1,\\N,\\N,\\N,\\N\np,b,2,0,0,0,17,\\N,\\N,\\N\n",
    )
    .unwrap();
    let rows = read_statistics(&path).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].last_exposed_at, None);
    assert_eq!(rows[1].last_exposed_at, Some(17));
    assert!(rows.iter().all(|r| r.linear.is_none()));
    // Elsewhere `\N` is no number.
    std::fs::write(
        &path,
        "policy_id,allocation_name,units,conversions,reward_sum,reward_sum_sq\np,a,\\N,1,1,1\n",
    )
    .unwrap();
    let err = read_statistics(&path).unwrap_err().to_string();
    assert!(err.contains("units: \"\\\\N\" is not"), "{err}");
}

/// The demo's SQL shown in docs/warehouse/ is what `sql` writes today. To update:
/// `for d in postgres duckdb bigquery snowflake spark clickhouse; do bandit-engine sql
/// --dialect $d --config datasets/demo/.traffical/config.yaml --bundle
/// datasets/demo/bundle.json --out docs/warehouse/demo.$d.sql; done`
#[cfg(feature = "cli")]
#[test]
fn the_docs_show_the_sql_written_for_the_demo() {
    for d in DialectName::ALL {
        let written = crate::common::run_cli([
            "sql",
            "--dialect",
            d.as_str(),
            "--config",
            "datasets/demo/.traffical/config.yaml",
            "--bundle",
            "datasets/demo/bundle.json",
        ]);
        let shown = std::fs::read_to_string(format!("docs/warehouse/demo.{d}.sql")).unwrap();
        assert!(
            written == shown,
            "docs/warehouse/demo.{d}.sql is out of date (see this test's doc comment)"
        );
    }
}

/// The two statements of a linear contextual policy (the layout query, and the
/// statistics with its sums beside a multi-armed policy's) parse in every dialect,
/// with learned and declared features, categorical values of every kind and a
/// value only a saved state holds.
#[test]
fn every_linear_statement_parses_in_its_dialect() {
    use bandit_engine::bundle::BundleDocument;
    use bandit_engine::engine::AttributionOverrides;
    use bandit_engine::warehouse::{
        layout_sql, layouts, linear_queries, policy_queries, statistics_sql_all, LayoutRow,
    };

    let relations = Relations {
        exposures: "analytics.traffical_exposures".into(),
        tracks: "analytics.traffical_tracks".into(),
        ..Relations::default()
    };
    let row = |field: &str, kind: &str, label: Option<&str>| LayoutRow {
        policy_id: "policy_checkout_cta".into(),
        field: field.into(),
        kind: kind.into(),
        label: label.map(str::to_owned),
    };
    let rows = vec![
        row("country", "string", Some("DE")),
        row("country", "string", Some("Côte d’Ivoire, \"CI\"")),
        row("country", "number", Some("3.0")),
        row("country", "string", Some("3")),
        row("device", "boolean", Some("true")),
        row("device", "other", None),
        row("visits", "number", Some("12")),
    ];
    let mut checked = 0;
    for extra in [
        "",
        "\n    contextFeatures:\n      numeric: [visits]\n      categorical: [country, device]",
    ] {
        let w = crate::warehouse_linear::linear_world(7, 40, extra);
        let doc = BundleDocument::from_path(&w.inputs.bundle).unwrap();
        let o = AttributionOverrides::default();
        let queries = policy_queries(&w.config, &o, None, Some(w.as_of)).unwrap();
        let linear = linear_queries(&w.config, &doc, &o, None, Some(w.as_of)).unwrap();
        assert_eq!(linear.len(), 1);
        let made = layouts(&linear, &rows, "layout.csv").unwrap();
        // `3.0` and "3" are one category, as the SDK's `String(value)`.
        assert!(made[0].space.names().contains(&"country=3".to_owned()));
        let with: Vec<_> = linear.iter().cloned().zip(made).collect();
        for d in DialectName::ALL {
            for sql in [
                layout_sql(d.dialect(), &relations, &linear).unwrap(),
                statistics_sql_all(d.dialect(), &relations, &queries, &[], &with).unwrap(),
            ] {
                let parsed = sqlparser::parser::Parser::parse_sql(parser_dialect(d).as_ref(), &sql);
                let statements = parsed.unwrap_or_else(|e| panic!("{d}: {e}\n{sql}"));
                assert_eq!(statements.len(), 1, "{d}");
                assert!(sql.contains("xx_0_0") || sql.contains("AS label"), "{d}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 2 * 6 * 2);
}

/// The statistics file with linear sums reads back as written, in csv and in parquet
/// (every column as text there, as an engine may export it): two linear policies of
/// different widths (the narrower one's columns past its layout empty) beside a
/// multi-armed one.
#[test]
fn linear_statistics_round_trip_through_csv_and_parquet() {
    use bandit_engine::warehouse::{write_statistics_csv, LinearSums, SavedFeature, StatisticsRow};
    use polars::prelude::*;

    let linear = |features: Vec<SavedFeature>, d: usize, scale: f64| LinearSums {
        features,
        gram: (0..d * (d + 1) / 2).map(|i| i as f64 * scale).collect(),
        rx: (0..d).map(|i| i as f64 / 3.0 - scale).collect(),
    };
    let numeric = vec![SavedFeature {
        key: "visits".into(),
        values: None,
    }];
    let categorical = vec![SavedFeature {
        key: "device, \"kind\"".into(),
        values: Some(vec!["ios".into(), "web".into()]),
    }];
    let row = |policy: &str, allocation: &str, sums: Option<LinearSums>| StatisticsRow {
        policy_id: policy.into(),
        allocation_name: allocation.into(),
        units: 7,
        conversions: 2,
        reward_sum: 2.5,
        reward_sum_sq: 4.25,
        last_exposed_at: Some(1_700_000_000_000),
        linear: sums,
        entity: None,
    };
    let rows = vec![
        row("arms", "a", None),
        row("lin", "x", Some(linear(numeric.clone(), 3, 0.5))),
        row("lin", "y", Some(linear(numeric, 3, 1.5))),
        row("wide", "z", Some(linear(categorical, 4, 0.1))),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let csv_path = tmp.path().join("s.csv");
    write_statistics_csv(&rows, &csv_path).unwrap();
    assert_eq!(read_statistics(&csv_path).unwrap(), rows);
    let text = std::fs::read_to_string(&csv_path).unwrap();
    assert!(
        text.lines()
            .next()
            .unwrap()
            .ends_with("xx_3_3,rx_0,rx_1,rx_2,rx_3"),
        "{text}"
    );
    // The same table as parquet, every column text.
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let columns: Vec<Column> = header
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let cells: Vec<Option<String>> = records
                .iter()
                .map(|r| Some(r[k].to_owned()).filter(|c| !c.is_empty()))
                .collect();
            Column::new(name.as_str().into(), cells)
        })
        .collect();
    let mut df = DataFrame::new_infer_height(columns).unwrap();
    let parquet_path = tmp.path().join("s.parquet");
    ParquetWriter::new(std::fs::File::create(&parquet_path).unwrap())
        .finish(&mut df)
        .unwrap();
    assert_eq!(read_statistics(&parquet_path).unwrap(), rows);
    // A linear row without its sums' columns is refused, naming the column.
    let cut: String = text
        .lines()
        .map(|l| {
            let cells: Vec<&str> = l.rsplitn(2, ',').collect();
            format!("{}\n", cells[1])
        })
        .collect();
    std::fs::write(&csv_path, cut).unwrap();
    let err = read_statistics(&csv_path).unwrap_err().to_string();
    assert!(err.contains("rx_3: missing column"), "{err}");
}

/// The per-entity world's queries (a fixed and a dynamic policy), with a key list
/// made longer for the fixed one so the entity columns run past a policy's own.
fn entity_queries_of_the_world() -> Vec<bandit_engine::warehouse::EntityQuery> {
    let dir = tempfile::tempdir().unwrap();
    let w = bandit_engine::synth::entities::entity_world(
        &bandit_engine::synth::entities::EntityWorldParams {
            views: 10,
            ..Default::default()
        },
    )
    .unwrap();
    w.write(dir.path()).unwrap();
    let config =
        bandit_engine::config::ProjectConfig::from_path(dir.path().join(".traffical/config.yaml"))
            .unwrap();
    let doc =
        bandit_engine::bundle::BundleDocument::from_path(dir.path().join("bundle.json")).unwrap();
    let mut q = bandit_engine::warehouse::entity_queries(
        &config,
        &doc,
        &Default::default(),
        None,
        Some(1_800_000_000_000),
    )
    .unwrap();
    assert_eq!(q.len(), 2);
    q[0].keys.push("size".into());
    q
}

#[test]
fn every_entity_statement_parses_in_its_dialect() {
    let entities = entity_queries_of_the_world();
    let arms = scenarios().remove(0).queries;
    let relations = Relations::default();
    for d in DialectName::ALL {
        for queries in [&arms[..], &[]] {
            let sql = bandit_engine::warehouse::statistics_sql_full(
                d.dialect(),
                &relations,
                queries,
                &[],
                &[],
                &entities,
            )
            .unwrap();
            let parsed = sqlparser::parser::Parser::parse_sql(parser_dialect(d).as_ref(), &sql);
            let statements = parsed.unwrap_or_else(|e| panic!("{d}: {e}\n{sql}"));
            assert_eq!(statements.len(), 1, "{d}");
            assert!(sql.contains("entity_text_1") && sql.contains("entity_count_at"));
        }
    }
}

#[test]
fn entity_statistics_round_trip_through_csv() {
    use bandit_engine::warehouse::{write_statistics_csv, EntityCells};
    let row = |alloc: &str, values: Vec<Option<(&str, &str)>>, count: Option<u32>| StatisticsRow {
        policy_id: "pe".into(),
        allocation_name: alloc.into(),
        units: 3,
        conversions: 1,
        reward_sum: 1.0,
        reward_sum_sq: 1.0,
        last_exposed_at: Some(1_700_000_000_000),
        linear: None,
        entity: Some(EntityCells {
            values: values
                .into_iter()
                .map(|v| v.map(|(k, t)| (k.to_owned(), t.to_owned())))
                .collect(),
            count,
            count_at: count.map(|_| 1_700_000_000_000),
        }),
    };
    let rows = vec![
        StatisticsRow {
            entity: None,
            ..row("arms", vec![], None)
        },
        row("0", vec![Some(("string", "a, \"b\"")), None], Some(4)),
        row(
            "0",
            vec![Some(("string", "")), Some(("other", "[1,2]"))],
            None,
        ),
        row("1", vec![None, None], None),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("s.csv");
    write_statistics_csv(&rows, &path).unwrap();
    let back = read_statistics(&path).unwrap();
    assert_eq!(back, rows);
    // One group twice is refused.
    let twice = vec![rows[1].clone(), rows[1].clone()];
    write_statistics_csv(&twice, &path).unwrap();
    let err = read_statistics(&path).unwrap_err().to_string();
    assert!(err.contains("entity group appears twice"), "{err}");
}

/// `sql --overlap-days` on an incremental run reads the relations from the earliest
/// watermark of the state less the overlap (tracks a clock skew earlier) and says so
/// in its header; without a state it reads everything and says why; a negative
/// overlap, or one given to a retrain that does not read a warehouse, is refused.
#[cfg(feature = "cli")]
#[test]
fn sql_with_an_overlap_reads_from_the_earliest_watermark_less_it() {
    use std::process::Command;

    use bandit_engine::state::EngineState;
    use bandit_engine::time::{format_rfc3339, parse_rfc3339};

    use crate::common::run_cli;
    use crate::warehouse::demo_tables;

    let (_, _, r) = demo_tables();
    let tmp = tempfile::tempdir().unwrap();
    let as_of = format_rfc3339(r.as_of);
    let (config, bundle) = (
        r.inputs.config.to_str().unwrap(),
        r.inputs.bundle.to_str().unwrap(),
    );
    let out = tmp.path().join("out");
    let events = r.inputs.events[0].display().to_string();
    run_cli([
        "retrain",
        "--config",
        config,
        "--bundle",
        bundle,
        "--events",
        &events,
        "--as-of",
        &as_of,
        "--out",
        out.to_str().unwrap(),
    ]);
    let state = out.join("state.json");
    let earliest = EngineState::from_path(&state)
        .unwrap()
        .policies
        .values()
        .filter_map(|p| parse_rfc3339(p.exposures_through.as_deref()?))
        .min()
        .expect("the demo's retrain leaves watermarks");
    let sql = |extra: &[&str]| {
        let mut args = vec![
            "sql",
            "--dialect",
            "duckdb",
            "--config",
            config,
            "--bundle",
            bundle,
            "--as-of",
            &as_of,
        ];
        args.extend_from_slice(extra);
        run_cli(args)
    };
    let from = earliest - 36 * 3_600_000;
    let windowed = sql(&["--state", state.to_str().unwrap(), "--overlap-days", "1.5"]);
    assert!(
        windowed.contains(&format!(
            "-- reads exposures from {} and tracks from {}",
            format_rfc3339(from),
            format_rfc3339(from)
        )),
        "{windowed}"
    );
    assert!(windowed.contains(&format!(">= {from})")), "{windowed}");
    let exact = sql(&["--state", state.to_str().unwrap()]);
    assert!(!exact.contains("-- reads") && !exact.contains(&format!(">= {from}")));
    let first = sql(&["--overlap-days", "1.5"]);
    assert!(
        first.contains("-- reads every row: a policy has no watermark"),
        "{first}"
    );
    let refused = |args: &[&str], says: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_bandit-engine"))
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "{err}");
    };
    refused(
        &[
            "sql",
            "--dialect",
            "duckdb",
            "--config",
            config,
            "--bundle",
            bundle,
            "--overlap-days",
            "-1",
        ],
        "is not a number of days from 0 to 36500",
    );
    refused(
        &[
            "retrain",
            "--config",
            config,
            "--bundle",
            bundle,
            "--events",
            &events,
            "--overlap-days",
            "2",
        ],
        "--warehouse",
    );
}
