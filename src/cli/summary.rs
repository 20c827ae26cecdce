//! The one-screen summary of a retrain, as `retrain` and `publish` print it.
//! Presentation, so it lives in the binary: a job embedding the library reads the
//! report itself.

use std::fmt::Write;

use bandit_engine::engine::{
    HealthStatus, PolicyReport, Published, RetrainOutcome, RunReport, RunStatus,
};

fn pct(x: f64) -> String {
    format!("{:5.1}%", 100.0 * x)
}

/// Renders the summary: load counts and warnings, then per policy its status,
/// reason and a table of allocations with statistics, old and new shares and ranges.
#[must_use]
pub(crate) fn render(o: &RetrainOutcome, p: &Published) -> String {
    render_with(o, Some(p))
}

/// The summary of a run that was not published (`retrain --dry-run`).
#[must_use]
pub(crate) fn render_dry_run(o: &RetrainOutcome) -> String {
    render_with(o, None)
}

fn render_with(o: &RetrainOutcome, p: Option<&Published>) -> String {
    let r = &o.report;
    let mut s = String::new();
    header(&mut s, r, p);
    for pol in &r.policies {
        policy(&mut s, pol);
    }
    footer(&mut s, r, p);
    s
}

/// The run, the load counts and warnings, and what enforcement did.
fn header(s: &mut String, r: &RunReport, p: Option<&Published>) {
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
        if let (true, Some(p)) = (r.events_quarantined > 0, p) {
            format!(" (see {})", p.quarantine.display())
        } else {
            String::new()
        }
    );
    for (w, n) in &r.warnings {
        let _ = writeln!(s, "  warning: {n} accepted records with {w}");
    }
    if let Some(w) = &r.state_warning {
        let _ = writeln!(s, "warning: {w}");
    }
    s.push_str(&r.enforcement.summary());
    if let (false, Some(p)) = (r.enforcement.discovered.is_empty(), p) {
        let _ = writeln!(s, "  described in {}", p.discovered.display());
    }
}

/// One policy: its status line, notes, allocation table, entities and health.
fn policy(s: &mut String, pol: &PolicyReport) {
    let _ = writeln!(
        s,
        "\n{} ({}, {})  {}",
        pol.policy_id,
        pol.layer_id,
        pol.algorithm,
        pol.status.as_str()
    );
    notes(s, pol);
    allocations(s, pol);
    if let Some(e) = &pol.entities {
        let global: Vec<String> = e
            .global_weights
            .iter()
            .map(|w| format!("{:.1}%", 100.0 * w))
            .collect();
        let _ = writeln!(
            s,
            "  entities: {} with data ({} this run), {} published, {} on _global [{}]",
            e.entities,
            e.active,
            e.published,
            e.below_minimum,
            global.join(", ")
        );
    }
    health(s, pol);
}

/// Why the policy has its status, goal values it could not use, the cap, and the
/// exposures held back as immature.
fn notes(s: &mut String, pol: &PolicyReport) {
    if let Some(reason) = &pol.reason {
        let _ = writeln!(s, "  {reason}");
    }
    if let Some(g) = &pol.goal {
        let without = g.values.missing_values + g.values.non_numeric_values;
        if without > 0 {
            let _ = writeln!(
                s,
                "  {without} goal events without a usable {} ({}; first at {})",
                g.values.source,
                g.values.without_value,
                g.values.first_without_value.as_deref().unwrap_or("?")
            );
        }
        if let Some(c) = &g.cap {
            let _ = writeln!(
                s,
                "  rewards capped at {:.4} (quantile {}): {} units",
                c.value, c.quantile, c.capped_units
            );
        }
    }
    if pol.immature_exposures > 0 {
        let _ = writeln!(
            s,
            "  {} exposures after {} held back as immature; a later run counts them",
            pol.immature_exposures,
            pol.matured_through.as_deref().unwrap_or("?")
        );
    }
    if let Some(w) = &pol.maturity_warning {
        let _ = writeln!(s, "  warning: {w}");
    }
}

/// The table of allocations: statistics, old and new shares and ranges.
fn allocations(s: &mut String, pol: &PolicyReport) {
    let _ = writeln!(
        s,
        "  {:<14} {:>9} {:>8} {:>7} {:>7}  {:>7} → {:<7} {:>13} → {:<13}",
        "allocation", "exposures", "reward", "mean", "P(best)", "share", "share", "range", "range"
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

/// The health checks that warn or fail, or how many pass when none does.
fn health(s: &mut String, pol: &PolicyReport) {
    let problems: Vec<String> = pol
        .health
        .iter()
        .filter(|h| matches!(h.status, HealthStatus::Warn | HealthStatus::Fail))
        .map(|h| format!("{} {}: {}", h.check, h.status.as_str(), h.detail))
        .collect();
    if problems.is_empty() {
        let passed = pol
            .health
            .iter()
            .filter(|h| h.status == HealthStatus::Pass)
            .count();
        let _ = writeln!(s, "  health: {passed} checks pass");
    } else {
        for p in problems {
            let _ = writeln!(s, "  health: {p}");
        }
    }
}

/// How many policies were (or would be) updated, and where the outputs went.
fn footer(s: &mut String, r: &RunReport, p: Option<&Published>) {
    let updated = r
        .policies
        .iter()
        .filter(|p| p.status == RunStatus::Updated)
        .count();
    match p {
        Some(p) => {
            let _ = writeln!(
                s,
                "\n{} of {} policies updated; bundle version {} → {} (version {} of the output directory)",
                updated,
                r.policies.len(),
                r.bundle_version,
                p.bundle.display(),
                p.version
            );
            let _ = writeln!(s, "state: {}", p.state.display());
            let _ = writeln!(s, "report: {}", p.report.display());
            if let Some(w) = &p.entity_weights {
                let _ = writeln!(s, "entity weights: {}", w.display());
            }
        }
        None => {
            let _ = writeln!(
                s,
                "\n{} of {} policies would be updated; bundle version would be {} (dry run: nothing written)",
                updated,
                r.policies.len(),
                r.bundle_version
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use bandit_engine::{Engine, RetrainInputs, RetrainOptions};

    fn demo() -> bandit_engine::RetrainOutcome {
        let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo");
        let inputs = RetrainInputs::from_paths(
            demo.join(".traffical/config.yaml"),
            demo.join("bundle.json"),
            &[demo.join("events.ndjson")],
        );
        Engine::new(RetrainOptions::default())
            .retrain(&inputs)
            .unwrap()
    }

    #[test]
    fn the_summary_names_every_policy_and_says_what_was_held_back() {
        let mut o = demo();
        let text = super::render_dry_run(&o);
        for p in &o.report.policies {
            assert!(text.contains(&p.policy_id), "{text}");
        }
        assert!(!text.contains("held back as immature"), "{text}");
        let p = &mut o.report.policies[0];
        p.immature_exposures = 12;
        p.matured_through = Some("2026-01-02T00:00:00.000Z".into());
        p.maturity_warning = Some("this run's first exposure is late".into());
        let text = super::render_dry_run(&o);
        assert!(
            text.contains("12 exposures after 2026-01-02T00:00:00.000Z held back as immature"),
            "{text}"
        );
        assert!(
            text.contains("warning: this run's first exposure is late"),
            "{text}"
        );
    }
}
