use super::*;

#[test]
fn track_rows_are_numbered_up_to_u32_max() {
    assert_eq!(track_rows(0).unwrap(), 0);
    assert_eq!(track_rows(u32::MAX as usize).unwrap(), u32::MAX);
}

#[cfg(target_pointer_width = "64")]
#[test]
fn track_rows_refuse_2_pow_32_rows_with_an_error() {
    let err = track_rows(1 << 32).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::TooManyRows {
                what: "track events",
                rows: 4_294_967_296,
                limit: 4_294_967_295
            }
        ),
        "{err:?}"
    );
}

#[test]
fn finish_all_numbers_track_rows_across_builders() {
    let track = || {
        let mut e = Event::new(EventType::Track, "u", 0);
        e.event = Some("purchase".into());
        e
    };
    let mut a = TableBuilder::default();
    a.push(track());
    a.push(track());
    let mut b = TableBuilder::default();
    b.push(track());
    let tables = finish_all(
        vec![Chunk::Rows(Box::new(a)), Chunk::Rows(Box::new(b))],
        &Projection::all(),
    )
    .unwrap();
    let rows = tables
        .tracks
        .column("track_row")
        .unwrap()
        .u32()
        .unwrap()
        .clone();
    let rows: Vec<Option<u32>> = (0..rows.len()).map(|i| rows.get(i)).collect();
    assert_eq!(rows, [Some(0), Some(1), Some(2)]);
}
