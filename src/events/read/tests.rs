use super::*;

/// A csv file read in small parts gives, parts joined, what it gives whole: the
/// same tables, the same refused records at the same lines, the same counts.
#[test]
fn a_csv_file_in_parts_gives_what_it_gives_whole() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("events.csv");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo/events.ndjson");
    super::super::stream::convert_events(
        &[demo],
        &csv,
        &dir.path().join("q.ndjson"),
        LoadOptions::default(),
        &NoProgress,
    )
    .unwrap();
    // Two refused records among the others: one with a cell too many in the middle,
    // one with too few at the end.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[500].push_str(",extra");
    lines.push("only,three,cells".into());
    std::fs::write(&csv, lines.join("\n") + "\n").unwrap();
    let file = csv.display().to_string();
    let keep = Projection::all();
    let whole = read_csv(&csv, &file, &keep, &NoProgress).unwrap();
    let mut parts = Vec::new();
    read_csv_blocks(&csv, &file, &keep, &NoProgress, Some(4096), &mut |p| {
        parts.push(p);
        Ok(())
    })
    .unwrap();
    assert!(parts.len() > 20, "{} parts", parts.len());
    let lines = |r: &[Rejected]| -> Vec<(u64, String, String)> {
        r.iter()
            .map(|r| (r.line, r.field.clone(), r.reason.clone()))
            .collect()
    };
    let joined: Vec<Rejected> = parts.iter().flat_map(|p| p.rejected.clone()).collect();
    assert_eq!(lines(&joined), lines(&whole.rejected));
    assert_eq!(whole.rejected.len(), 2, "{:?}", lines(&whole.rejected));
    assert_eq!(parts.iter().map(|p| p.read).sum::<u64>(), whole.read);
    let tables = |chunks: Vec<super::super::table::Chunk>| {
        super::super::table::finish_all(chunks, &keep).unwrap()
    };
    let a = tables(whole.tables);
    let b = tables(parts.into_iter().flat_map(|p| p.tables).collect());
    assert!(a.exposures.equals_missing(&b.exposures));
    assert!(a.tracks.equals_missing(&b.tracks));
    assert!(a.exposures.height() > 1000);
}
