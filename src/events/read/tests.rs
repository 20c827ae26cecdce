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
    let whole =
        only_part(|each| read_csv_blocks(&csv, &file, &keep, &NoProgress, None, each)).unwrap();
    let mut parts = Vec::new();
    read_csv_blocks(&csv, &file, &keep, &NoProgress, Some(4096), &mut |p| {
        parts.push(p);
        Ok(())
    })
    .unwrap();
    assert_eq!(whole.rejected.len(), 2, "{:?}", places(&whole.rejected));
    assert_parts_join_to_whole(parts, whole, &keep);
}

/// A refused record's line, field and reason.
fn places(r: &[Rejected]) -> Vec<(u64, String, String)> {
    r.iter()
        .map(|r| (r.line, r.field.clone(), r.reason.clone()))
        .collect()
}

/// Parts (more than 20 of them) joined give what the whole read gives: the same
/// refused records in order, counts and tables.
fn assert_parts_join_to_whole(parts: Vec<Part>, whole: Part, keep: &Projection) {
    assert!(parts.len() > 20, "{} parts", parts.len());
    let joined: Vec<Rejected> = parts.iter().flat_map(|p| p.rejected.clone()).collect();
    assert_eq!(places(&joined), places(&whole.rejected));
    assert_eq!(parts.iter().map(|p| p.read).sum::<u64>(), whole.read);
    let tables = |chunks: Vec<super::super::table::Chunk>| {
        super::super::table::finish_all(chunks, keep).unwrap()
    };
    let a = tables(whole.tables);
    let b = tables(parts.into_iter().flat_map(|p| p.tables).collect());
    assert!(a.exposures.equals_missing(&b.exposures));
    assert!(a.tracks.equals_missing(&b.tracks));
    assert!(a.exposures.height() > 1000);
}

/// An ndjson file read in small blocks gives, blocks joined, what its bytes give whole:
/// the same tables, the same refused records at the same lines (a block's lines are
/// numbered from the file's, across blocks), the same counts. Loads read ndjson in
/// blocks whether or not they are batched.
#[test]
fn an_ndjson_file_in_blocks_gives_what_it_gives_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ndjson");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo/events.ndjson");
    let text = std::fs::read_to_string(demo).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // Refused lines in the middle, a blank one, and a bad last line without its newline.
    lines[300] = "{\"type\":\"exposure\"".into();
    lines[301] = String::new();
    lines[777].insert(0, 'x');
    lines.push("{\"type\":\"track\",\"event\":3}".into());
    std::fs::write(&path, lines.join("\n")).unwrap();
    let file = path.display().to_string();
    let keep = Projection::all();
    let whole = ndjson_part(&std::fs::read(&path).unwrap(), &file, &keep, &NoProgress);
    let mut parts = Vec::new();
    read_ndjson_blocks(&path, &file, &keep, &NoProgress, 4096, &mut |p| {
        parts.push(p);
        Ok(())
    })
    .unwrap();
    let refused: Vec<u64> = whole.rejected.iter().map(|r| r.line).collect();
    // The demo log's own bad records, and those made here (a blank line is skipped).
    for line in [301, 778, text.lines().count() as u64 + 1] {
        assert!(
            refused.contains(&line),
            "line {line} not refused: {refused:?}"
        );
    }
    assert!(!refused.contains(&302), "{refused:?}");
    assert!(refused.len() > 5, "{refused:?}");
    assert_parts_join_to_whole(parts, whole, &keep);
}
