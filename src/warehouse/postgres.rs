//! The PostgreSQL connector (cargo feature `postgres`): `retrain --warehouse` runs the
//! statistics queries on a PostgreSQL server and reads their rows back, instead of a
//! scheduler running `bandit-engine sql`'s output and saving a file.
//!
//! The synchronous `postgres` driver, without TLS: a server reached over a Unix
//! socket, a private network or a TLS-terminating proxy (docs/warehouse.md). Rows come
//! back through the simple-query protocol as text and go through the same checks as a
//! statistics file, so a row read here and the same row read from a csv file are one
//! thing.

use std::time::Duration;

use postgres::config::Host;
use postgres::error::SqlState;
use postgres::{Client, Config, NoTls, SimpleQueryMessage};

use super::dialect::{Dialect, Postgres};
use super::linear::{layout_sql, layouts, LayoutRow, LAYOUT_COLUMNS};
use super::native::statistics_sql_full;
use super::retrain::{fit_statistics, Plan};
use super::sdk::Relations;
use super::statistics::{rows_from_table, StatisticsRow};
use crate::bundle::BundleDocument;
use crate::config::ProjectConfig;
use crate::engine::{RetrainInputs, RetrainOptions, RetrainOutcome};
use crate::error::{Error, Result};
use crate::state::EngineState;
use crate::time::{format_rfc3339, Millis};

/// A connection to a PostgreSQL warehouse.
pub struct PostgresWarehouse {
    client: Client,
    target: String,
}

/// How long a connection attempt may take when the connection string does not say
/// (`connect_timeout=`): a wrong host fails in seconds instead of the system's minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

impl PostgresWarehouse {
    /// Connects. `conninfo` is a URL (`postgres://user:password@host:5432/dbname`,
    /// `postgresql:///dbname?host=/run/postgresql`) or libpq's `key=value` pairs
    /// (`host=/tmp/pg dbname=analytics user=engine`); a host starting with `/` is the
    /// directory of the server's Unix socket. Without a password in it, `PGPASSWORD`
    /// is used when set; without a user, `PGUSER`, else the system user (as libpq).
    ///
    /// # Errors
    ///
    /// [`Error::Warehouse`] for a string that does not parse or a server that cannot
    /// be reached or refuses the login, saying what to check.
    pub fn connect(conninfo: &str) -> Result<Self> {
        let mut config: Config = conninfo.parse().map_err(|e| Error::Warehouse {
            target: "(connection string)".into(),
            reason: format!("{e}: give a URL such as postgres://user@host:5432/dbname or key=value pairs such as \"host=/var/run/postgresql dbname=analytics user=engine\""),
        })?;
        if config.get_password().is_none() {
            if let Ok(p) = std::env::var("PGPASSWORD") {
                config.password(p);
            }
        }
        if config.get_user().is_none() {
            if let Ok(u) = std::env::var("PGUSER") {
                config.user(&u);
            }
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let target = describe(&config);
        let client = config.connect(NoTls).map_err(|e| Error::Warehouse {
            target: target.clone(),
            reason: connect_reason(&e),
        })?;
        Ok(Self { client, target })
    }

    /// The server, user and database, without the password.
    #[must_use]
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The latest `ts` of both relations: a retrain's default as-of, as the latest
    /// event time is for a retrain on files. `None` when both are empty.
    ///
    /// # Errors
    ///
    /// [`Error::Warehouse`] if the query fails (a missing relation, `ts` not a
    /// timestamp).
    pub fn latest_time(&mut self, relations: &Relations) -> Result<Option<Millis>> {
        let d = Postgres;
        let sql = format!(
            "SELECT MAX(t) FROM (SELECT MAX({ts}) AS t FROM {e} UNION ALL SELECT MAX({ts}) FROM {k}) AS latest",
            ts = d.epoch_ms("ts"),
            e = d.quote(&relations.exposures),
            k = d.quote(&relations.tracks),
        );
        let cells = self.text_rows(&sql, &[])?;
        let text = cells.first().and_then(|r| r.first()).map(String::as_str);
        match text {
            None | Some("") => Ok(None),
            Some(t) => t.parse().map(Some).map_err(|_| Error::Warehouse {
                target: self.target.clone(),
                reason: format!(
                    "the latest ts came back as {t:?}, not a whole number of milliseconds"
                ),
            }),
        }
    }

    /// Runs the statistics statement and reads its rows, checked as a statistics file
    /// is.
    ///
    /// # Errors
    ///
    /// [`Error::Warehouse`] if the statement fails, saying what to check;
    /// [`Error::InvalidStatistics`] for a row that does not read.
    pub fn statistics(&mut self, sql: &str) -> Result<Vec<StatisticsRow>> {
        let (header, cells) = self.table(sql)?;
        if cells.is_empty() {
            return Ok(Vec::new());
        }
        rows_from_table(
            &header,
            cells,
            &format!("the query result from {}", self.target),
        )
    }

    /// Runs the layout statement of linear contextual policies
    /// ([`super::layout_sql`]) and reads its rows.
    ///
    /// # Errors
    ///
    /// [`Error::Warehouse`] if the statement fails or lacks a column.
    pub fn layout(&mut self, sql: &str) -> Result<Vec<LayoutRow>> {
        let cells = self.text_rows(sql, &LAYOUT_COLUMNS)?;
        Ok(cells
            .into_iter()
            .map(|mut c| {
                let label = c.pop().unwrap_or_default();
                let kind = c.pop().unwrap_or_default();
                LayoutRow {
                    policy_id: c[0].clone(),
                    field: c[1].clone(),
                    label: (kind != "other").then_some(label),
                    kind,
                }
            })
            .collect())
    }

    /// The column names and the text of every cell of `sql`'s last result (NULL as
    /// ""); no names without rows.
    fn table(&mut self, sql: &str) -> Result<(Vec<String>, Vec<Vec<String>>)> {
        let messages = self
            .client
            .simple_query(sql)
            .map_err(|e| Error::Warehouse {
                target: self.target.clone(),
                reason: query_reason(&e),
            })?;
        let mut header = Vec::new();
        let mut out = Vec::new();
        for m in messages {
            let SimpleQueryMessage::Row(row) = m else {
                continue;
            };
            if header.is_empty() {
                header = row.columns().iter().map(|c| c.name().to_owned()).collect();
            }
            out.push(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or("").to_owned())
                    .collect(),
            );
        }
        Ok((header, out))
    }

    /// The text of each row of `sql`'s last result: the columns named in `columns`,
    /// in that order, or every column when it is empty. A NULL reads as "".
    fn text_rows(&mut self, sql: &str, columns: &[&str]) -> Result<Vec<Vec<String>>> {
        let (header, rows) = self.table(sql)?;
        if columns.is_empty() || rows.is_empty() {
            return Ok(rows);
        }
        let idx = columns
            .iter()
            .map(|c| {
                header
                    .iter()
                    .position(|h| h.eq_ignore_ascii_case(c))
                    .ok_or_else(|| Error::Warehouse {
                        target: self.target.clone(),
                        reason: format!("the statement returned no column {c}"),
                    })
            })
            .collect::<Result<Vec<usize>>>()?;
        Ok(rows
            .into_iter()
            .map(|r| idx.iter().map(|&i| r[i].clone()).collect())
            .collect())
    }
}

/// `user@host:port/dbname` (hosts and ports comma-separated when several), never the
/// password.
fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            Host::Unix(dir) => dir.display().to_string(),
        })
        .collect();
    let hosts = if hosts.is_empty() {
        "(no host)".to_owned()
    } else {
        hosts.join(",")
    };
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    let port = if ports.is_empty() {
        String::new()
    } else {
        format!(":{}", ports.join(","))
    };
    let user = config
        .get_user()
        .map_or_else(String::new, |u| format!("{u}@"));
    let db = config.get_dbname().unwrap_or("");
    format!("postgres://{user}{hosts}{port}/{db}")
}

/// What a failed connection means and what to check.
fn connect_reason(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let hint = match db.code() {
            c if *c == SqlState::INVALID_PASSWORD
                || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
            {
                "check the user and password (the URL's user:password, or PGPASSWORD) and the server's pg_hba.conf"
            }
            c if *c == SqlState::INVALID_CATALOG_NAME => {
                "the database does not exist: give the one holding the event relations (dbname=… or the URL's path)"
            }
            _ => "the server refused the connection",
        };
        return format!("cannot connect: {}: {hint}", db.message());
    }
    let text = e.to_string();
    if text.contains("TLS") || text.contains("tls") {
        return format!("cannot connect: {text}: this build has no TLS; reach the server over a Unix socket (host=/dir), a private network or a TLS-terminating proxy, with sslmode=disable or prefer");
    }
    let cause = std::error::Error::source(e).map_or(text.clone(), |s| format!("{text}: {s}"));
    format!("cannot connect: {cause}: check that PostgreSQL runs there and the host, port and user are right (a Unix socket is host=/its/directory)")
}

/// What a failed statement means and what to check.
fn query_reason(e: &postgres::Error) -> String {
    let Some(db) = e.as_db_error() else {
        return format!("the statistics query failed: {e}");
    };
    let code = db.code();
    let hint = if *code == SqlState::UNDEFINED_TABLE {
        "the queries read the relations named by --exposures-table and --tracks-table (default exposures, tracks); create them (views over the synced event tables with the columns in docs/warehouse.md) or pass their names (schema.table)"
    } else if *code == SqlState::UNDEFINED_COLUMN {
        "a relation lacks a column the queries read: exposures needs kind, unit_key, session_id, decision_id, ts, layer_id, policy_id, allocation_name, attribution_only; tracks needs event_id, event, unit_key, session_id, decision_id, ts, event_ts, value (docs/warehouse.md)"
    } else if [
        SqlState::UNDEFINED_FUNCTION,
        SqlState::DATATYPE_MISMATCH,
        SqlState::CANNOT_COERCE,
        SqlState::INVALID_TEXT_REPRESENTATION,
        SqlState::INVALID_DATETIME_FORMAT,
    ]
    .contains(code)
    {
        "a column has the wrong type: ts and event_ts must be timestamps (UTC), value a number, attribution_only a boolean, the others text (docs/warehouse.md); cast them in a view"
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        "grant the user SELECT on both relations"
    } else {
        "`bandit-engine sql --dialect postgres` with the same flags writes the statement, to run in psql"
    };
    let detail = db.detail().map_or_else(String::new, |d| format!(" ({d})"));
    format!(
        "the statistics query failed: {}{detail}: {hint}",
        db.message()
    )
}

/// A retrain from a PostgreSQL warehouse: connects to `conninfo`, runs the queries
/// [`super::statistics_sql_all`] writes for the config, state and as-of on
/// `relations` (and the warehouse-native definitions beside the config), and
/// fits from the rows as [`super::retrain_from_statistics`] does (the same bundle and state
/// as `retrain --statistics` on a file of those rows). Without an as-of, the latest
/// `ts` in the relations is used, as a retrain on files uses the latest event time.
///
/// # Errors
///
/// [`Error::Warehouse`] when the server cannot be reached or refuses the queries;
/// [`Error::AsOf`] when both relations are empty and no as-of is given, or their
/// latest time is ahead of the clock; otherwise as [`super::retrain_from_statistics`].
pub fn retrain_from_postgres(
    mut options: RetrainOptions,
    inputs: &RetrainInputs,
    conninfo: &str,
    relations: &Relations,
    previous: Option<EngineState>,
) -> Result<RetrainOutcome> {
    let config = ProjectConfig::from_path(&inputs.config)?;
    let definitions = super::definitions_beside(&inputs.config, &config)?;
    let doc = BundleDocument::from_path(&inputs.bundle)?;
    let mut warehouse = PostgresWarehouse::connect(conninfo)?;
    let as_of = match options.as_of {
        Some(t) => t,
        None if reads_only_definitions(&config, definitions.as_ref()) => {
            return Err(Error::AsOf {
                reason: "every policy reads warehouse-native definitions, which have no event time to take the run's time from: pass --as-of (their {{end_date}})".into(),
            })
        }
        // As a retrain on files: the latest event, not before the state's asOf.
        None => default_as_of(&mut warehouse, relations)?.max(
            previous
                .as_ref()
                .and_then(|s| crate::time::parse_rfc3339(&s.as_of))
                .unwrap_or(Millis::MIN),
        ),
    };
    options.as_of = Some(as_of);
    let plan = Plan::new(&config, &doc, &options, previous.as_ref(), as_of)?;
    let source = format!("the query result from {}", warehouse.target());
    // Linear contextual policies: their feature layout first (a few rows).
    let linear = if plan.linear.is_empty() {
        Vec::new()
    } else {
        let layout = warehouse.layout(&layout_sql(&Postgres, relations, &plan.linear)?)?;
        let made = layouts(&plan.linear, &layout, &source)?;
        plan.linear.iter().cloned().zip(made).collect()
    };
    let (sdk, native) = super::split_native(
        definitions.as_ref(),
        &doc,
        plan.queries.clone(),
        as_of,
        relations.overlap,
    );
    let sql = statistics_sql_full(&Postgres, relations, &sdk, &native, &linear, &plan.entities)?;
    let rows = warehouse.statistics(&sql)?;
    fit_statistics(options, &config, doc, &plan, &rows, &source, previous)
}

/// Whether every policy of `config` the queries cover reads the definitions (so the
/// SDK relations need not exist).
fn reads_only_definitions(
    config: &ProjectConfig,
    definitions: Option<&super::Definitions>,
) -> bool {
    definitions.is_some_and(|d| {
        config.optimization.iter().all(|(id, spec)| {
            // Linear contextual policies read the SDK relations.
            d.policies.contains_key(id) || spec.entity_config.is_some()
        })
    })
}

/// The latest event time in the relations, refused when there is none or it is ahead
/// of the clock (every later run would look older).
fn default_as_of(warehouse: &mut PostgresWarehouse, relations: &Relations) -> Result<Millis> {
    let latest = warehouse
        .latest_time(relations)?
        .ok_or_else(|| Error::AsOf {
            reason: format!(
                "{} and {} are empty in {}: no event to take the run's time from; pass --as-of",
                relations.exposures,
                relations.tracks,
                warehouse.target()
            ),
        })?;
    let limit = crate::events::future::latest_allowed();
    if latest > limit {
        return Err(Error::AsOf {
            reason: format!(
                "the latest ts in {} is {}, more than a day after this machine's clock ({}); pass --as-of",
                warehouse.target(),
                format_rfc3339(latest),
                format_rfc3339(limit)
            ),
        });
    }
    Ok(latest)
}
