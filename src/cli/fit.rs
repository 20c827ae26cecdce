//! `bandit-engine fit`: one algorithm on a researcher's table.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::{Args, ValueEnum};
use serde_json::json;

use bandit_engine::fit::{fit_table, FitAlgorithm, FitParams, Table};

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
enum Algorithm {
    /// Beta-Bernoulli Thompson sampling; rewards must be 0 or 1.
    ThompsonBernoulli,
    /// Normal-Inverse-Gamma Thompson sampling; any finite reward.
    ThompsonGaussian,
    /// UCB1 (Auer et al. 2002).
    Ucb1,
    /// Epsilon-greedy.
    EpsilonGreedy,
    /// Disjoint LinUCB (Li et al. 2010) on --features.
    Linucb,
    /// Linear Thompson sampling (Agrawal & Goyal 2013) on --features.
    Lints,
}

impl From<Algorithm> for FitAlgorithm {
    fn from(a: Algorithm) -> Self {
        match a {
            Algorithm::ThompsonBernoulli => Self::ThompsonBernoulli,
            Algorithm::ThompsonGaussian => Self::ThompsonGaussian,
            Algorithm::Ucb1 => Self::Ucb1,
            Algorithm::EpsilonGreedy => Self::EpsilonGreedy,
            Algorithm::Linucb => Self::Linucb,
            Algorithm::Lints => Self::Lints,
        }
    }
}

/// Fit one bandit algorithm to a table of rows (arm, reward, optional features and
/// entity) and write the fitted model.
///
/// The table is .csv (header row) or .parquet, one row per decision. The fit uses
/// the same code as `retrain`. Prints a summary (per arm: rows, mean, probability of
/// being best, UCB index, weight; or the coefficients of linear models); --json
/// prints {"rows", "seconds", "readSeconds", "model"} instead, where "seconds" is the
/// fit alone. Same table, parameters and --seed give the same model.json on any
/// number of threads.
///
/// Algorithms and their parameters (a parameter that does not apply is an error):
///   thompson_bernoulli  --prior-alpha --prior-beta (Beta prior, default 1, 1) --draws
///   thompson_gaussian   --prior-alpha --prior-beta (variance's Inverse-Gamma) --draws
///   ucb1                --alpha (the c in mean + sqrt(c ln n / n_arm), default 2)
///   epsilon_greedy      --epsilon (default 0.1)
///   linucb              --features, --alpha (default 1), --lambda (ridge, default 1)
///   lints               --features, --v (posterior scale, default 1), --lambda
///
/// Linear models use the numeric --features columns plus an intercept (unless
/// --no-intercept). model.json holds, per arm, the coefficients θ = A⁻¹b and the
/// lower Cholesky factor of A = λI + Σxxᵀ (what an exact LinUCB/LinTS scorer needs);
/// see docs/fit.md. An empty, non-numeric or non-finite reward or feature stops the
/// fit with its file, line (csv) or row (parquet) and column; so does an A whose
/// condition number exceeds 1e12 (rescale the features or raise --lambda).
///
/// Examples:
///   bandit-engine fit --rewards rows.csv --algorithm thompson_bernoulli \
///       --arm arm --reward converted --out model.json
///   bandit-engine fit --rewards rows.parquet --algorithm lints --arm action \
///       --reward reward --features age,score --v 0.5 --out model.json --json
///   bandit-engine fit --rewards rows.csv --algorithm thompson_bernoulli --arm arm \
///       --reward y --entity product_id --out per_product.json
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct FitArgs {
    /// The table: .csv (header row) or .parquet.
    #[arg(long, value_name = "FILE")]
    rewards: PathBuf,
    /// The algorithm.
    #[arg(long, value_enum)]
    algorithm: Algorithm,
    /// Column naming each row's arm (allocation).
    #[arg(long, value_name = "COL")]
    arm: String,
    /// Column of the reward (numbers; booleans count as 0/1).
    #[arg(long, value_name = "COL")]
    reward: String,
    /// Numeric feature columns for linucb and lints, comma-separated.
    #[arg(long, value_name = "COLS", value_delimiter = ',')]
    features: Vec<String>,
    /// Column naming an entity: one model per entity, fitted in parallel.
    #[arg(long, value_name = "COL")]
    entity: Option<String>,
    /// Where to write the model (JSON).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Print a JSON object (rows, seconds, model) instead of the summary.
    #[arg(long)]
    json: bool,
    /// LinUCB's confidence width α, or UCB1's exploration constant c.
    #[arg(long)]
    alpha: Option<f64>,
    /// Ridge λ of linucb and lints (> 0).
    #[arg(long)]
    lambda: Option<f64>,
    /// Posterior scale v of lints (> 0).
    #[arg(long)]
    v: Option<f64>,
    /// ε of epsilon_greedy, in [0, 1].
    #[arg(long)]
    epsilon: Option<f64>,
    /// Prior α₀ of the Thompson algorithms (> 0).
    #[arg(long)]
    prior_alpha: Option<f64>,
    /// Prior β₀ of the Thompson algorithms (> 0).
    #[arg(long)]
    prior_beta: Option<f64>,
    /// Monte Carlo draws where probability-of-best is sampled.
    #[arg(long, default_value_t = 10_000)]
    draws: u32,
    /// Master seed of the Monte Carlo draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fit linear models without an intercept column.
    #[arg(long)]
    no_intercept: bool,
}

/// Runs `fit`.
pub fn run(args: FitArgs, quiet: bool) -> Result<()> {
    let params = FitParams {
        features: args.features,
        entity: args.entity,
        intercept: !args.no_intercept,
        alpha: args.alpha,
        lambda: args.lambda,
        v: args.v,
        epsilon: args.epsilon,
        prior_alpha: args.prior_alpha,
        prior_beta: args.prior_beta,
        draws: args.draws,
        seed: args.seed,
        ..FitParams::new(args.algorithm.into(), &args.arm, &args.reward)
    }
    .check()?;
    super::paths::check_output_file("--out", &args.out, &[&args.rewards])?;
    let start = Instant::now();
    let table = Table::read_columns(&args.rewards, Some(&params.columns()))?;
    let read_seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let fitted = fit_table(&table, &params)?;
    let seconds = start.elapsed().as_secs_f64();
    let text = serde_json::to_string_pretty(&fitted)? + "\n";
    super::paths::write_file(&args.out, &text)?;
    if args.json {
        let out = json!({
            "rows": fitted.rows,
            "seconds": seconds,
            "readSeconds": read_seconds,
            "out": args.out.display().to_string(),
            "model": fitted,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if !quiet {
        super::terminal::print(&fitted.summary());
        println!(
            "fitted {} rows in {seconds:.3} s (read {read_seconds:.3} s); model written to {}",
            fitted.rows,
            args.out.display()
        );
    }
    Ok(())
}
