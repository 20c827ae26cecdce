//! Reader of the Open Bandit Dataset (Saito, Aihara, Matsutani, Narita, "Open Bandit
//! Dataset and Pipeline: Towards Realistic and Reproducible Off-Policy Evaluation",
//! arXiv:2008.07146, NeurIPS 2021 Datasets and Benchmarks).
//!
//! A campaign directory (`random/all`, `bts/men`, ...) holds `{campaign}.csv` (the
//! log) and `item_context.csv` (item features), plain or gzip-compressed (`.csv.gz`).
//! The features are built as the dataset's own pipeline builds them
//! (`obp.dataset.OpenBanditDataset.pre_process`, obp 0.5.7):
//!
//! * rows sorted by `timestamp` (stably; the files already are);
//! * context = one-hot of `user_feature_0..3`, levels in sorted order, the first level
//!   of each feature dropped (`pandas.get_dummies(drop_first=True)`): 20 columns for
//!   campaign `all`; the `user-item_affinity_*` columns are not used;
//! * action = `item_id`; position = dense rank of `position` minus 1 (1, 2, 3 → 0, 1, 2);
//!   reward = `click`; propensity = `propensity_score`;
//! * action features = `[label(item_feature_1), label(item_feature_2),
//!   label(item_feature_3), item_feature_0]`, labels being indices in the sorted list of
//!   distinct values (`sklearn.preprocessing.LabelEncoder`).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use ndarray::Array2;

use super::logged::{LoggedBandit, LoggedBanditParts};
use crate::error::EvaluationError;
use crate::error::{Error, Result};

/// Number of user features in the log.
const USER_FEATURES: usize = 4;

/// A campaign directory of the Open Bandit Dataset, read.
#[derive(Clone, Debug)]
pub struct ObdLog {
    /// The log as estimators take it.
    pub data: LoggedBandit,
    /// Impression times as written in the file, in row order.
    pub timestamps: Vec<String>,
    /// Names of the four action-feature columns.
    pub action_context_names: Vec<String>,
}

/// Opens `dir/name` or, failing that, `dir/name.gz`.
fn open(dir: &Path, name: &str) -> Result<(PathBuf, Box<dyn Read>)> {
    let plain = dir.join(name);
    if plain.is_file() {
        let f = File::open(&plain).map_err(|e| Error::io(&plain, e))?;
        return Ok((plain, Box::new(BufReader::new(f))));
    }
    let gz = dir.join(format!("{name}.gz"));
    match File::open(&gz) {
        Ok(f) => Ok((
            gz,
            Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(f))),
        )),
        Err(e) => Err(Error::io(
            &plain,
            std::io::Error::new(
                e.kind(),
                format!("neither {name} nor {name}.gz can be opened ({e}); pass a campaign directory such as datasets/obd/random/all"),
            ),
        )),
    }
}

fn record_error(file: &Path, line: u64, field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidRecord {
        file: file.display().to_string(),
        line,
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// Column indices of `names` in a header, or an error naming the missing column.
fn columns(file: &Path, header: &csv::StringRecord, names: &[&str]) -> Result<Vec<usize>> {
    names
        .iter()
        .map(|n| {
            header.iter().position(|h| h == *n).ok_or_else(|| {
                record_error(
                    file,
                    1,
                    n,
                    format!("the header has no column {n:?}; is this an Open Bandit Dataset file?"),
                )
            })
        })
        .collect()
}

fn parse<T: std::str::FromStr>(file: &Path, line: u64, field: &str, s: &str) -> Result<T> {
    s.trim()
        .parse()
        .map_err(|_| record_error(file, line, field, format!("{s:?} is not a valid number")))
}

struct RawRow {
    timestamp: String,
    item: u32,
    position: u32,
    click: f64,
    pscore: f64,
    users: [String; USER_FEATURES],
    line: u64,
}

/// Reads the campaign directory `dir` (for example `datasets/obd/random/all`); the log
/// file is `{campaign}.csv[.gz]` where `campaign` is the directory's name.
///
/// # Errors
///
/// [`Error::Io`] if a file is missing, [`Error::InvalidRecord`] with file, line and
/// column for a malformed cell, a missing column or an `item_id` without features, and
/// [`Error::Evaluation`] if the result is not a valid log (see
/// [`LoggedBandit::new`]).
pub fn read_obd(dir: impl AsRef<Path>) -> Result<ObdLog> {
    let dir = dir.as_ref();
    let campaign =
        dir.file_name()
            .and_then(|s| s.to_str())
            .ok_or_else(|| EvaluationError::Dataset {
                path: dir.display().to_string(),
                reason: "does not end in a campaign name (all, men, women)".into(),
            })?;
    let (items_path, items) = open(dir, "item_context.csv")?;
    let (action_context, n_items) = read_items(&items_path, items)?;
    let (log_path, log) = open(dir, &format!("{campaign}.csv"))?;
    let mut rows = read_rows(&log_path, log)?;
    // obp sorts by timestamp; a stable sort keeps file order among equal times.
    rows.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));

    let n_actions = n_items.max(rows.iter().map(|r| r.item as usize + 1).max().unwrap_or(0));
    if n_actions > n_items {
        let r = rows
            .iter()
            .find(|r| r.item as usize >= n_items)
            .expect("an item beyond the item table exists when n_actions > n_items");
        return Err(record_error(
            &log_path,
            r.line,
            "item_id",
            format!(
                "item {} has no row in {} ({n_items} items)",
                r.item,
                items_path.display()
            ),
        ));
    }
    // Dense rank of position, minus one.
    let levels: BTreeSet<u32> = rows.iter().map(|r| r.position).collect();
    let levels: Vec<u32> = levels.into_iter().collect();
    let rank = |p: u32| levels.binary_search(&p).expect("every position is a level") as u32;

    let (context, names) = user_features(&rows);
    let parts = LoggedBanditParts {
        n_actions,
        len_list: levels.len(),
        action: rows.iter().map(|r| r.item).collect(),
        position: rows.iter().map(|r| rank(r.position)).collect(),
        reward: rows.iter().map(|r| r.click).collect(),
        pscore: rows.iter().map(|r| r.pscore).collect(),
        context,
        context_names: names,
        action_context: Some(action_context),
    };
    let timestamps = rows.into_iter().map(|r| r.timestamp).collect();
    Ok(ObdLog {
        data: LoggedBandit::new(parts)?,
        timestamps,
        action_context_names: vec![
            "item_feature_1".into(),
            "item_feature_2".into(),
            "item_feature_3".into(),
            "item_feature_0".into(),
        ],
    })
}

/// The user features one-hot encoded, one row per log row, the first (smallest)
/// level of each dropped; and the column names.
fn user_features(rows: &[RawRow]) -> (Array2<f64>, Vec<String>) {
    let mut user_levels: Vec<Vec<&str>> = Vec::with_capacity(USER_FEATURES);
    for j in 0..USER_FEATURES {
        let set: BTreeSet<&str> = rows.iter().map(|r| r.users[j].as_str()).collect();
        user_levels.push(set.into_iter().collect());
    }
    let mut names = Vec::new();
    let mut offsets = Vec::with_capacity(USER_FEATURES);
    for (j, levels) in user_levels.iter().enumerate() {
        offsets.push(names.len());
        for level in levels.iter().skip(1) {
            names.push(format!("user_feature_{j}_{level}"));
        }
    }
    let mut context = Array2::<f64>::zeros((rows.len(), names.len()));
    for (i, r) in rows.iter().enumerate() {
        for j in 0..USER_FEATURES {
            let k = user_levels[j]
                .binary_search(&r.users[j].as_str())
                .expect("every value is a level");
            if k > 0 {
                context[[i, offsets[j] + k - 1]] = 1.0;
            }
        }
    }
    (context, names)
}

fn read_rows(path: &Path, reader: Box<dyn Read>) -> Result<Vec<RawRow>> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(reader);
    let header = csv
        .headers()
        .map_err(|e| record_error(path, 1, "header", e.to_string()))?
        .clone();
    let names = [
        "timestamp",
        "item_id",
        "position",
        "click",
        "propensity_score",
        "user_feature_0",
        "user_feature_1",
        "user_feature_2",
        "user_feature_3",
    ];
    let c = columns(path, &header, &names)?;
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut line = 1u64;
    loop {
        line += 1;
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(record_error(path, line, "record", e.to_string())),
        }
        let get = |k: usize| record.get(c[k]).unwrap_or("");
        let click: f64 = parse(path, line, "click", get(3))?;
        if click != 0.0 && click != 1.0 {
            return Err(record_error(
                path,
                line,
                "click",
                format!("{click} is not 0 or 1"),
            ));
        }
        rows.push(RawRow {
            timestamp: get(0).to_owned(),
            item: parse(path, line, "item_id", get(1))?,
            position: parse(path, line, "position", get(2))?,
            click,
            pscore: parse(path, line, "propensity_score", get(4))?,
            users: [
                get(5).to_owned(),
                get(6).to_owned(),
                get(7).to_owned(),
                get(8).to_owned(),
            ],
            line,
        });
        if !(rows[rows.len() - 1].pscore > 0.0 && rows[rows.len() - 1].pscore <= 1.0) {
            return Err(record_error(
                path,
                line,
                "propensity_score",
                format!("{} is not in (0, 1]", get(4)),
            ));
        }
    }
    if rows.is_empty() {
        return Err(record_error(path, 2, "record", "the log has no rows"));
    }
    Ok(rows)
}

/// Item features in action order and the number of items; item ids must be 0..n-1.
fn read_items(path: &Path, reader: Box<dyn Read>) -> Result<(Array2<f64>, usize)> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(reader);
    let header = csv
        .headers()
        .map_err(|e| record_error(path, 1, "header", e.to_string()))?
        .clone();
    let c = columns(
        path,
        &header,
        &[
            "item_id",
            "item_feature_0",
            "item_feature_1",
            "item_feature_2",
            "item_feature_3",
        ],
    )?;
    let mut items: Vec<(u32, f64, [String; 3], u64)> = Vec::new();
    let mut line = 1u64;
    for record in csv.records() {
        line += 1;
        let record = record.map_err(|e| record_error(path, line, "record", e.to_string()))?;
        let get = |k: usize| record.get(c[k]).unwrap_or("");
        items.push((
            parse(path, line, "item_id", get(0))?,
            parse(path, line, "item_feature_0", get(1))?,
            [get(2).to_owned(), get(3).to_owned(), get(4).to_owned()],
            line,
        ));
    }
    let n = items.len();
    let mut seen = vec![false; n];
    for (id, _, _, line) in &items {
        let id = *id as usize;
        if id >= n || seen[id] {
            return Err(record_error(
                path,
                *line,
                "item_id",
                format!(
                    "item ids must be 0..{} without repeats; found {id} here",
                    n.saturating_sub(1)
                ),
            ));
        }
        seen[id] = true;
    }
    let mut out = Array2::<f64>::zeros((n, 4));
    for k in 0..3 {
        let levels: BTreeSet<&str> = items.iter().map(|it| it.2[k].as_str()).collect();
        let levels: Vec<&str> = levels.into_iter().collect();
        for it in &items {
            let code = levels
                .binary_search(&it.2[k].as_str())
                .expect("every value is a level");
            out[[it.0 as usize, k]] = code as f64;
        }
    }
    for it in &items {
        out[[it.0 as usize, 3]] = it.1;
    }
    Ok((out, n))
}

/// The Beta prior of a Bernoulli Thompson sampling policy, one `(alpha, beta)` per
/// action, as in `prior_bts_all.json` (`{"alpha": [...], "beta": [...]}`).
///
/// # Errors
///
/// [`Error::Io`] if the file cannot be read, [`Error::Evaluation`] if it is not
/// such an object or the two lists differ in length.
pub fn read_beta_prior(path: impl AsRef<Path>) -> Result<(Vec<f64>, Vec<f64>)> {
    #[derive(serde::Deserialize)]
    struct Prior {
        alpha: Vec<f64>,
        beta: Vec<f64>,
    }
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let prior: Prior = serde_json::from_str(&text).map_err(|e| EvaluationError::Dataset {
        path: format!("{}:{}:{}", path.display(), e.line(), e.column()),
        reason: format!("{e}; expected {{\"alpha\": [..], \"beta\": [..]}}"),
    })?;
    if prior.alpha.len() != prior.beta.len() {
        return Err(EvaluationError::Dataset {
            path: path.display().to_string(),
            reason: format!(
                "{} alphas but {} betas; one of each per action",
                prior.alpha.len(),
                prior.beta.len()
            ),
        }
        .into());
    }
    Ok((prior.alpha, prior.beta))
}
