use super::*;
use crate::attribution::AttributionParams;
use crate::config::{DesiredDirection, Goal, GoalType, ValueSource};
use crate::warehouse::DialectName;

fn query(keys: &[&str], count_key: Option<&str>, allocations: &[&str]) -> EntityQuery {
    EntityQuery {
        query: PolicyQuery {
            policy_id: "pe".into(),
            goal: Goal {
                event: "purchase".into(),
                goal_type: GoalType::ConversionRate,
                value: ValueSource::Value,
                desired_direction: DesiredDirection::Increase,
                cap: None,
            },
            params: AttributionParams::default(),
            after: None,
            through: None,
        },
        keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        count_key: count_key.map(str::to_owned),
        allocations: allocations.iter().map(|a| (*a).to_owned()).collect(),
        saved: None,
    }
}

fn stats(n: u64, sum: f64) -> ArmStats {
    ArmStats {
        n,
        sum,
        sum_sq: sum,
    }
}

fn cells(values: &[Option<(&str, &str)>], count: Option<(u32, Millis)>) -> EntityCells {
    EntityCells {
        values: values
            .iter()
            .map(|v| v.map(|(k, t)| (k.to_owned(), t.to_owned())))
            .collect(),
        count: count.map(|c| c.0),
        count_at: count.map(|c| c.1),
    }
}

#[test]
fn spellings_of_one_id_merge_and_rows_without_an_entity_count_in_global_only() {
    let q = query(&["sku", "size"], None, &["a", "b"]);
    let three = cells(&[Some(("number", "3")), Some(("string", "L"))], None);
    let three_again = cells(&[Some(("number", "3.0")), Some(("string", "L"))], None);
    let text_three = cells(&[Some(("string", "3")), Some(("string", "L"))], None);
    let list = cells(
        &[Some(("other", "[1, \"x\"]")), Some(("boolean", "true"))],
        None,
    );
    let missing = cells(&[Some(("number", "3")), None], None);
    let rows = vec![
        ("a", stats(2, 1.0), &three),
        ("a", stats(3, 2.0), &three_again),
        ("b", stats(4, 0.0), &text_three),
        ("b", stats(1, 1.0), &list),
        ("a", stats(5, 1.0), &missing),
        ("gone", stats(7, 7.0), &three),
    ];
    let got = entity_totals(&q, rows).unwrap();
    assert_eq!(got.active, 2);
    assert_eq!(got.rows_without_entity, 5);
    assert_eq!(got.unknown_rows, 7);
    let t = &got.totals;
    assert_eq!(t.global.0, vec![stats(10, 4.0), stats(5, 1.0)]);
    assert_eq!(t.entities["3_L"].0, vec![stats(5, 3.0), stats(4, 0.0)]);
    assert_eq!(
        t.entities["1,x_true"].0,
        vec![ArmStats::default(), stats(1, 1.0)]
    );
    assert_eq!(t.entities.len(), 2);
    assert!(t.counts.is_empty());
}

#[test]
fn a_dynamic_entity_takes_the_count_of_its_latest_group() {
    let q = query(&["sku"], Some("n"), &[]);
    let early = cells(&[Some(("string", "p"))], Some((4, 100)));
    let late = cells(&[Some(("number", "1e0"))], Some((2, 300)));
    let other = cells(&[Some(("string", "p"))], Some((5, 200)));
    let none = cells(&[Some(("string", "q"))], None);
    let rows = vec![
        ("0", stats(1, 1.0), &early),
        ("1", stats(1, 0.0), &other),
        ("1", stats(2, 0.0), &none),
        // Not an index: not counted, its count not read.
        ("01", stats(1, 0.0), &late),
        ("2", stats(1, 1.0), &late),
    ];
    let got = entity_totals(&q, rows).unwrap();
    assert_eq!(got.unknown_rows, 1);
    assert_eq!(
        got.totals.counts,
        BTreeMap::from([("1".to_owned(), 2), ("p".to_owned(), 5)])
    );
    assert_eq!(got.totals.entities["1"].0.len(), 3, "arms by index");
    assert_eq!(
        got.totals.global.0,
        vec![stats(1, 1.0), stats(3, 0.0), stats(1, 1.0)]
    );
}

#[test]
fn rows_add_to_the_saved_statistics() {
    let mut q = query(&["sku"], None, &["a"]);
    let saved = EntityTotals {
        entity_keys: vec!["sku".into()],
        allocations: vec!["a".into()],
        global: crate::state::entity_totals::ArmRow(vec![stats(9, 1.0)]),
        entities: BTreeMap::from([(
            "p".to_owned(),
            crate::state::entity_totals::ArmRow(vec![stats(9, 1.0)]),
        )]),
        ..EntityTotals::default()
    };
    q.saved = Some(saved);
    let p = cells(&[Some(("string", "p"))], None);
    let got = entity_totals(&q, vec![("a", stats(1, 1.0), &p)]).unwrap();
    assert_eq!(got.totals.entities["p"].0, vec![stats(10, 2.0)]);
    assert_eq!(got.totals.global.0, vec![stats(10, 2.0)]);
    let none = entity_totals(&query(&["sku"], None, &["a", "b"]), Vec::new()).unwrap();
    assert_eq!(none.totals.global.0, vec![ArmStats::default(); 2]);
}

#[test]
fn cells_that_do_not_read_name_the_allocation() {
    let q = query(&["sku"], None, &["a"]);
    let bad = cells(&[Some(("number", "three"))], None);
    let err = entity_totals(&q, vec![("a", stats(1, 1.0), &bad)]).unwrap_err();
    assert_eq!(
        err,
        "a: entity key sku: \"three\" does not read as \"number\""
    );
    let short = cells(&[], None);
    assert!(entity_totals(&q, vec![("a", stats(1, 1.0), &short)]).is_err());
}

#[test]
fn the_statement_groups_by_each_keys_kind_and_text() {
    let d = DialectName::Postgres.dialect();
    let mut ctes = Ctes::default();
    let q = query(&["sku", "size"], Some("n"), &[]);
    let select = entity_part(d, &Relations::default(), &q, "e0", 3, &mut ctes);
    assert!(
        select.contains("GROUP BY allocation_name, k0, t0, k1, t1"),
        "{select}"
    );
    assert!(
        select.contains("CAST(NULL AS VARCHAR) AS entity_kind_2"),
        "{select}"
    );
    assert!(select.contains("AS entity_count_at"), "{select}");
    let sql = ctes.render();
    assert!(
        sql.contains("e0_x2 AS"),
        "the dynamic count's window: {sql}"
    );
    assert!(
        sql.contains("CAST((cj -> 'sku') AS VARCHAR)"),
        "arrays' JSON text: {sql}"
    );
}
