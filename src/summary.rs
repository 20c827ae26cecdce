//! The one-screen summary of a retrain, as the CLI and the quickstart print it.

use std::fmt::Write;

use crate::engine::{Published, RetrainOutcome, RunStatus};

fn pct(x: f64) -> String {
    format!("{:5.1}%", 100.0 * x)
}

/// Renders the summary: load counts and warnings, then per policy its status,
/// reason and a table of allocations with statistics, old and new shares and ranges.
#[must_use]
pub fn render(o: &RetrainOutcome, p: &Published) -> String {
    let r = &o.report;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "bandit-engine retrain  as of {}  seed {}",
        r.as_of, r.seed
    );
    let _ = writeln!(
        s,
        "events: {} read, {} accepted, {} quarantined{}",
        r.events_read,
        r.events_accepted,
        r.events_quarantined,
        if r.events_quarantined > 0 {
            format!(" (see {})", p.quarantine.display())
        } else {
            String::new()
        }
    );
    for (w, n) in &r.warnings {
        let _ = writeln!(s, "  warning: {n} accepted records with {w}");
    }
    s.push_str(&r.enforcement.summary());
    if !r.enforcement.discovered.is_empty() {
        let _ = writeln!(s, "  described in {}", p.discovered.display());
    }
    for pol in &r.policies {
        let _ = writeln!(
            s,
            "\n{} ({}, {})  {}",
            pol.policy_id,
            pol.layer_id,
            pol.algorithm,
            pol.status.as_str()
        );
        if let Some(reason) = &pol.reason {
            let _ = writeln!(s, "  {reason}");
        }
        let _ = writeln!(
            s,
            "  {:<14} {:>9} {:>8} {:>7} {:>7}  {:>7} → {:<7} {:>13} → {:<13}",
            "allocation",
            "exposures",
            "reward",
            "mean",
            "P(best)",
            "share",
            "share",
            "range",
            "range"
        );
        for a in &pol.arms {
            let range = |r: [u32; 2]| format!("[{}, {}]", r[0], r[1]);
            let _ = writeln!(
                s,
                "  {:<14} {:>9} {:>8.0} {:>7} {:>7}  {} → {:<7} {:>13} → {:<13}",
                a.name,
                a.exposures,
                a.reward_sum,
                a.mean.map_or("-".into(), |m| format!("{:.4}", m)),
                a.probability_best
                    .map_or("-".into(), |m| format!("{:.3}", m)),
                pct(a.old_share),
                pct(a.new_share),
                range(a.old_range),
                range(a.new_range)
            );
        }
    }
    let updated = r
        .policies
        .iter()
        .filter(|p| p.status == RunStatus::Updated)
        .count();
    let _ = writeln!(
        s,
        "\n{} of {} policies updated; bundle version {} → {}",
        updated,
        r.policies.len(),
        r.bundle_version,
        p.bundle.display()
    );
    let _ = writeln!(s, "report: {}", p.report.display());
    s
}
