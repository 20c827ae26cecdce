//! `bandit-engine resolve` and `bandit-engine conformance`: what an SDK serves for a
//! context, and whether the resolver agrees with SDK test vectors.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{Map, Value};

use bandit_engine::sdk::conformance::{read_bundle, run_directory};
use bandit_engine::sdk::{HashContract, Resolver};

use super::Contract;

/// Resolve contexts against a bundle exactly as the platform's SDKs do.
///
/// Prints one JSON line per context: {"assignments": {...}, "layers": [...]}, each
/// layer as the SDK logs it (layerId, bucket (-1 when skipped), policyId, policyKey,
/// allocationId, allocationName, allocationKey, probability, modelVersion, unitKey,
/// unitKeyValue, attributionOnly; absent fields omitted). `probability` is the
/// propensity SDKs log for adaptive policies: the bucket share, the floored softmax
/// probability of a contextual model, or the entity weight of a per-entity policy.
///
/// The default hash contract is sha256-v2, the current SDKs' (@traffical/core 0.10
/// and later); fnv1a-v1 reproduces the spec repository's test vectors.
/// Per-entity policies in `edge` mode are skipped, as an SDK does without an edge
/// response. See docs/resolver.md for the contract.
///
/// Examples:
///   bandit-engine resolve --bundle bundle.json --context '{"userId": "u1", "country": "FR"}'
///   bandit-engine resolve --bundle bundle.json --contexts contexts.ndjson --distributions
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct ResolveArgs {
    /// The config bundle (JSON).
    #[arg(long, value_name = "FILE")]
    bundle: PathBuf,
    /// One context as a JSON object.
    #[arg(
        long,
        value_name = "JSON",
        conflicts_with = "contexts",
        required_unless_present = "contexts"
    )]
    context: Option<String>,
    /// Contexts, one JSON object per line (ndjson; `-` reads standard input).
    #[arg(long, value_name = "FILE")]
    contexts: Option<PathBuf>,
    /// Hash contract: sha256-v2 (current SDKs) or fnv1a-v1 (the spec's fixtures).
    #[arg(long, value_enum, default_value = "sha256-v2")]
    hash: Contract,
    /// Per-entity weights (policyId → {_global, entities}), used as the bundle's
    /// `entityState` when it has none (the spec's entity_weights.json format).
    #[arg(long, value_name = "FILE")]
    entity_weights: Option<PathBuf>,
    /// Add "distributions": per served layer, the policy's probability of every
    /// allocation (bucket shares, floored softmax or entity weights), the contextual
    /// scores, the selection draw and the chosen index.
    #[arg(long)]
    distributions: bool,
}

/// Run SDK test vectors: every expected_*.json of a directory.
///
/// Each file names its bundle (and optional entityWeights) relative to the
/// directory and lists test cases (context, optional defaults and edgeResults) with
/// expected hashing, assignments, layers, allocation and scoring. Prints each
/// failing case with what differed, then `N passed, M failed` (cases); exits 1 when
/// any case fails.
///
/// Examples:
///   bandit-engine conformance tests/fixtures/reference/traffical-sdk-spec/test-vectors/fixtures --hash fnv1a-v1
///   bandit-engine conformance tests/fixtures/sdk-sha256     # golden decisions of @traffical/core 0.12
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct ConformanceArgs {
    /// Directory holding expected_*.json files and the bundles they name.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Hash contract the fixtures were made with.
    #[arg(long, value_enum, default_value = "sha256-v2")]
    hash: Contract,
}

fn parse_context(text: &str, at: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => bail!(
            "{at}: a context is a JSON object such as {{\"userId\": \"u1\"}}, not {}",
            match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        ),
        Err(e) => bail!("{at}: not valid JSON (column {}): {e}", e.column()),
    }
}

/// Runs `resolve`.
pub fn resolve(args: &ResolveArgs) -> Result<ExitCode> {
    let mut bundle = read_bundle(&args.bundle)?;
    if let Some(w) = &args.entity_weights {
        if bundle.entity_state.is_none() {
            bundle.entity_state = Some(read_entity_weights(w)?);
        }
    }
    let contract: HashContract = args.hash.into();
    let resolver = Resolver::new(&bundle, contract)
        .with_context(|| format!("{}: cannot resolve with this bundle", args.bundle.display()))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut one = |ctx: &Map<String, Value>, at: &str| -> Result<()> {
        let r = resolver.resolve(ctx).with_context(|| at.to_owned())?;
        let mut v = r.to_json();
        if args.distributions {
            let ds = distributions(&resolver, ctx)?;
            v.as_object_mut()
                .expect("a resolution is an object")
                .insert("distributions".into(), Value::Array(ds));
        }
        serde_json::to_writer(&mut out, &v)?;
        out.write_all(b"\n")?;
        Ok(())
    };
    if let Some(text) = &args.context {
        one(&parse_context(text, "--context")?, "--context")?;
    } else if let Some(path) = &args.contexts {
        let reader: Box<dyn BufRead> = if path == Path::new("-") {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(std::io::BufReader::new(
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
            ))
        };
        for (i, line) in reader.lines().enumerate() {
            let at = format!("{}:{}", path.display(), i + 1);
            let line = line.with_context(|| at.clone())?;
            if line.trim().is_empty() {
                continue;
            }
            one(&parse_context(&line, &at)?, &at)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Each layer's distribution over its allocations in `ctx`, as JSON: layer, policy,
/// kind, probabilities, and the scores, draw and choice where the kind has them.
fn distributions(resolver: &Resolver<'_>, ctx: &Map<String, Value>) -> Result<Vec<Value>> {
    let mut ds = Vec::new();
    for (li, layer) in resolver.bundle().layers.iter().enumerate() {
        let Some(d) = resolver.distribution(li, ctx, &Default::default())? else {
            continue;
        };
        let mut m = Map::new();
        m.insert("layerId".into(), layer.id.clone().into());
        m.insert("policyId".into(), d.policy_id.into());
        m.insert(
            "kind".into(),
            match d.kind {
                bandit_engine::sdk::DistributionKind::BucketShares => "bucketShares",
                bandit_engine::sdk::DistributionKind::Contextual => "contextual",
                bandit_engine::sdk::DistributionKind::EntityWeights => "entityWeights",
            }
            .into(),
        );
        m.insert("probabilities".into(), d.probabilities.into());
        if let Some(s) = d.scores {
            m.insert("scores".into(), s.into());
        }
        if let Some(r) = d.draw {
            m.insert("draw".into(), r.into());
        }
        if let Some(c) = d.chosen {
            m.insert("chosen".into(), c.into());
        }
        ds.push(Value::Object(m));
    }
    Ok(ds)
}

/// The per-entity weights of `--entity-weights`, for a bundle that carries none.
fn read_entity_weights<T: serde::de::DeserializeOwned>(w: &Path) -> Result<T> {
    let text = std::fs::read_to_string(w).with_context(|| format!("reading {}", w.display()))?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        anyhow::anyhow!(
            "{}: {}: {} (expected policyId → {{\"_global\": {{entityId, weights, computedAt}}, \"entities\": {{…}}}})",
            w.display(),
            e.path(),
            e.inner()
        )
    })
}

/// Runs `conformance`.
pub fn conformance(args: &ConformanceArgs, quiet: bool) -> Result<ExitCode> {
    let reports = run_directory(&args.dir, args.hash.into())?;
    if reports.is_empty() {
        bail!(
            "{}: no expected_*.json files (point at a test-vectors fixtures directory)",
            args.dir.display()
        );
    }
    let (mut passed, mut failed) = (0, 0);
    for r in &reports {
        passed += r.passed();
        failed += r.failed();
        for c in r.cases.iter().filter(|c| !c.passed()) {
            for f in &c.failures {
                println!("FAIL {} {}: {f}", r.file.display(), c.name);
            }
        }
        if !quiet {
            eprintln!(
                "{}: {} passed, {} failed",
                r.file.display(),
                r.passed(),
                r.failed()
            );
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
