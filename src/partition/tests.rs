use super::*;

#[test]
fn sizes_parse_in_binary_units() {
    assert_eq!(MemoryLimit::parse("4G"), Ok(MemoryLimit(4 << 30)));
    assert_eq!(MemoryLimit::parse("512M"), Ok(MemoryLimit(512 << 20)));
    assert_eq!(MemoryLimit::parse("1.5GiB"), Ok(MemoryLimit(3 << 29)));
    assert_eq!(MemoryLimit::parse("2048"), Ok(MemoryLimit(2048)));
    assert!(MemoryLimit::parse("4X").is_err());
    assert!(MemoryLimit::parse("-1G").is_err());
    assert!(MemoryLimit::parse("G").is_err());
}

#[test]
fn partition_of_is_fixed_and_spreads_keys() {
    // FNV-1a of "a" is 0xaf63dc4c8601ec8c
    assert_eq!(
        partition_of("a", 1000),
        (0xaf63_dc4c_8601_ec8c_u64 % 1000) as usize
    );
    let mut counts = [0usize; 8];
    for i in 0..8000 {
        counts[partition_of(&format!("user-{i}"), 8)] += 1;
    }
    assert!(
        counts.iter().all(|&c| (800..1200).contains(&c)),
        "{counts:?}"
    );
}

#[test]
fn a_parquet_log_is_estimated_by_its_rows_and_text_by_its_bytes() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo/events.ndjson");
    let loaded =
        crate::events::load_events(std::slice::from_ref(&demo), LoadOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("events.parquet");
    crate::events::convert_events(
        std::slice::from_ref(&demo),
        &parquet,
        &dir.path().join("q.ndjson"),
        LoadOptions::default(),
        &crate::progress::NoProgress,
    )
    .unwrap();
    let rows = (loaded.tables.exposures.height() + loaded.tables.tracks.height()) as u64;
    assert!(rows > 1000, "{rows}");
    let needed = |p: &Path, limit: u64| partitions_needed(&[p.to_path_buf()], MemoryLimit(limit));
    // Flat rows: one per exposure layer and per track event, as the tables hold.
    assert_eq!(needed(&parquet, 3 * PARQUET_ROW * rows).unwrap(), 1);
    assert_eq!(needed(&parquet, 3 * PARQUET_ROW * rows - 3).unwrap(), 2);
    let bytes = std::fs::metadata(&demo).unwrap().len();
    assert_eq!(needed(&demo, 3 * TEXT_BYTE * bytes).unwrap(), 1);
    assert_eq!(needed(&demo, 3 * TEXT_BYTE * bytes / 2).unwrap(), 2);
    assert!(needed(&dir.path().join("missing.parquet"), 1 << 30).is_err());
}

#[test]
fn detached_frames_keep_only_the_strings_they_show() {
    let keys: Vec<String> = (0..10_000).map(|i| format!("user-{i:020}")).collect();
    let df = DataFrame::new(10_000, vec![Column::new("unit_key".into(), keys)]).unwrap();
    let buffers = |df: &DataFrame| -> usize {
        df.column("unit_key")
            .unwrap()
            .str()
            .unwrap()
            .downcast_iter()
            .map(|a| a.total_buffer_len())
            .sum()
    };
    let few = df.slice(100, 10);
    assert!(buffers(&few) >= 250_000, "a slice keeps the buffers");
    let kept = detached(few.clone()).unwrap();
    assert!(buffers(&kept) < 1_000, "{}", buffers(&kept));
    assert!(kept.equals(&few));
    let none = detached(df.slice(0, 0)).unwrap();
    assert_eq!((none.height(), buffers(&none)), (0, 0));
    assert_eq!(none.schema(), df.schema());
    // A frame that shows most of its strings is left as it is.
    let most = df.slice(0, 9_000);
    assert_eq!(buffers(&detached(most).unwrap()), buffers(&df));
}

#[test]
fn held_bytes_count_views_and_shared_buffers_once() {
    // Strings over 12 bytes live in a data buffer; a slice keeps all of it.
    let keys: Vec<String> = (0..10_000).map(|i| format!("user-{i:020}")).collect();
    let df = DataFrame::new(10_000, vec![Column::new("unit_key".into(), keys)]).unwrap();
    let buffers: u64 = df
        .column("unit_key")
        .unwrap()
        .str()
        .unwrap()
        .downcast_iter()
        .flat_map(|a| a.data_buffers().iter().map(|b| b.len() as u64))
        .sum();
    assert!(buffers >= 250_000, "{buffers}");
    let mut seen = std::collections::HashSet::new();
    let head = df.slice(0, 10);
    assert!(head.estimated_size() < 1_000);
    assert_eq!(held_bytes(&head, &mut seen).unwrap(), 10 * 16 + buffers);
    // A second slice of the same column adds only its views.
    let tail = df.slice(5_000, 20);
    assert_eq!(held_bytes(&tail, &mut seen).unwrap(), 20 * 16);
}

#[test]
fn batches_held_or_written_one_by_one_give_the_same_partitions() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo/events.ndjson");
    let text = std::fs::read_to_string(&demo).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let dir = tempfile::tempdir().unwrap();
    // Three files: three batches.
    let files: Vec<PathBuf> = lines
        .chunks(lines.len().div_ceil(3))
        .enumerate()
        .map(|(i, part)| {
            let f = dir.path().join(format!("part{i}.ndjson"));
            std::fs::write(&f, part.join("\n") + "\n").unwrap();
            f
        })
        .collect();
    let spill = |limit: u64| {
        spill_events(
            &files,
            LoadOptions::default(),
            &Projection::run(false, true),
            4,
            Some(dir.path()),
            MemoryLimit(limit),
            &crate::progress::NoProgress,
        )
        .unwrap()
    };
    // A budget of 1 byte writes every batch at once; 1 GiB holds them all.
    let (each, held) = (spill(1), spill(1 << 30));
    assert_eq!(each.report, held.report);
    for p in 0..4 {
        let (a, b) = (each.spilled.read(p).unwrap(), held.spilled.read(p).unwrap());
        assert!(a.exposures.height() > 0 && a.tracks.height() > 0);
        assert!(a.exposures.equals_missing(&b.exposures), "{p}");
        assert!(a.tracks.equals_missing(&b.tracks), "{p}");
        assert!(a.attributions.equals_missing(&b.attributions), "{p}");
    }
}
