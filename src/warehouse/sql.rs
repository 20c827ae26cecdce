//! Writing SQL: a list of common table expressions, and the multi-touch weights as
//! window aggregates (the same staged steps as `attribution::relational::touch`).

use super::dialect::Dialect;
use crate::attribution::TouchModel;

/// Common table expressions in the order they are defined.
#[derive(Default)]
pub(super) struct Ctes {
    /// Name, the dialect's keyword to compute it once (or empty), body.
    items: Vec<(String, &'static str, String)>,
}

impl Ctes {
    /// Adds `name AS (body)`.
    pub(super) fn push(&mut self, name: &str, body: &str) {
        self.items.push((name.to_owned(), "", body.to_owned()));
    }

    /// Adds `name AS (body)`, computed once where the dialect says how
    /// ([`Dialect::materialized`]).
    pub(super) fn push_materialized(&mut self, d: &dyn Dialect, name: &str, body: &str) {
        self.items
            .push((name.to_owned(), d.materialized(), body.to_owned()));
    }

    /// The `WITH` clause.
    pub(super) fn render(&self) -> String {
        let defs: Vec<String> = self
            .items
            .iter()
            .map(|(n, m, b)| {
                let m = if m.is_empty() {
                    String::new()
                } else {
                    format!("{m} ")
                };
                format!("{n} AS {m}(\n  {b}\n)")
            })
            .collect();
        format!("WITH\n{}", defs.join(",\n"))
    }
}

/// The exposure rows of `policy_id` (not decisions, not attribution-only layers), as
/// a filter on `bx`-shaped rows.
pub(super) fn exposure_filter(d: &dyn Dialect, policy_id: &str) -> String {
    format!(
        "kind = 'exposure' AND policy_id = {} AND allocation_name IS NOT NULL AND attribution_only = FALSE",
        d.string(policy_id)
    )
}

/// Adds `out`: the rows of `input` (touches of one policy, partitioned per event by
/// `tu, tn`) with `weight`, the model's share of each touch in its event's credit.
/// Exact ties in time share a position's credit equally.
pub(super) fn weigh(d: &dyn Dialect, model: TouchModel, input: &str, out: &str, ctes: &mut Ctes) {
    let per = "OVER (PARTITION BY tu, tn)";
    let one = d.to_float("1");
    let end_share = |agg: &str, ctes: &mut Ctes| {
        ctes.push(
            &format!("{out}_1"),
            &format!("SELECT k.*, CASE WHEN exposed_at = {agg}(exposed_at) {per} THEN 1 ELSE 0 END AS is_end FROM {input} k"),
        );
        ctes.push(
            out,
            &format!("SELECT k.*, CASE WHEN is_end = 1 THEN {one} / SUM(is_end) {per} ELSE 0 END AS weight FROM {out}_1 k"),
        );
    };
    match model {
        TouchModel::FirstTouch => end_share("MIN", ctes),
        TouchModel::LastTouch => end_share("MAX", ctes),
        TouchModel::Linear => ctes.push(
            out,
            &format!("SELECT k.*, {one} / COUNT(*) {per} AS weight FROM {input} k"),
        ),
        TouchModel::TimeDecay { half_life_ms } => {
            let age =
                d.to_float("CASE WHEN event_ts > exposed_at THEN event_ts - exposed_at ELSE 0 END");
            ctes.push(
                &format!("{out}_1"),
                &format!("SELECT k.*, POWER(0.5, {age} / {half_life_ms:?}) AS raw FROM {input} k"),
            );
            ctes.push(
                out,
                &format!("SELECT k.*, raw / SUM(raw) {per} AS weight FROM {out}_1 k"),
            );
        }
        TouchModel::PositionBased { first, last } => {
            position_based(d, (first, last), input, out, ctes);
        }
    }
}

/// The position-based weights: `first` to the first touch, `last` to the last, the
/// rest shared by the middle ones (with none, the ends split everything in the ratio
/// first : last); ties at an end share its part.
fn position_based(d: &dyn Dialect, (f, l): (f64, f64), input: &str, out: &str, ctes: &mut Ctes) {
    let per = "OVER (PARTITION BY tu, tn)";
    let (f2, l2) = if f + l > 0.0 {
        (f / (f + l), l / (f + l))
    } else {
        (0.5, 0.5)
    };
    let mid = 1.0 - f - l;
    let fl = |x: f64| d.to_float(&format!("{x:?}"));
    ctes.push(
        &format!("{out}_1"),
        &format!("SELECT k.*,\n    CASE WHEN exposed_at = MIN(exposed_at) {per} THEN 1 ELSE 0 END AS is_first,\n    CASE WHEN exposed_at = MAX(exposed_at) {per} THEN 1 ELSE 0 END AS is_last,\n    COUNT(*) {per} AS n\n  FROM {input} k"),
    );
    ctes.push(
        &format!("{out}_2"),
        &format!("SELECT k.*, SUM(is_first) {per} AS n_first, SUM(is_last) {per} AS n_last FROM {out}_1 k"),
    );
    let one = d.to_float("1");
    ctes.push(
        out,
        &format!(
            "SELECT k.*, CASE\n    WHEN is_first = 1 AND is_last = 1 THEN {one} / n\n    WHEN is_first = 1 AND n = n_first + n_last THEN {f2} / n_first\n    WHEN is_last = 1 AND n = n_first + n_last THEN {l2} / n_last\n    WHEN is_first = 1 THEN {f} / n_first\n    WHEN is_last = 1 THEN {l} / n_last\n    ELSE {m} / (n - n_first - n_last) END AS weight\n  FROM {out}_2 k",
            f2 = fl(f2),
            l2 = fl(l2),
            f = fl(f),
            l = fl(l),
            m = fl(mid),
        ),
    );
}
