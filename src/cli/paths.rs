//! The files a command writes: checked before any work is done (a wrong `--out` must
//! not cost a whole fit first), never one of the command's inputs, and written whole.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Whether two paths name one file: equal once made absolute and resolved (the
/// parent directory of a file that does not exist yet), or the same inode.
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    let resolve = |p: &Path| -> Option<PathBuf> {
        if let Ok(c) = p.canonicalize() {
            return Some(c);
        }
        let parent = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Some(parent.canonicalize().ok()?.join(p.file_name()?))
    };
    #[cfg(unix)]
    if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        use std::os::unix::fs::MetadataExt;
        if (x.dev(), x.ino()) == (y.dev(), y.ino()) {
            return true;
        }
    }
    matches!((resolve(a), resolve(b)), (Some(x), Some(y)) if x == y)
}

/// Refuses an output file path before the command reads anything: a directory, a
/// path under something that is not a directory, or one of the inputs (writing it
/// would destroy the input).
pub(crate) fn check_output_file(flag: &str, out: &Path, inputs: &[&Path]) -> Result<()> {
    if out.is_dir() {
        bail!(
            "{flag} {} is a directory; give the path of a file to write",
            out.display()
        );
    }
    let mut up = out.parent();
    while let Some(dir) = up.filter(|d| !d.as_os_str().is_empty()) {
        if dir.exists() {
            if !dir.is_dir() {
                bail!(
                    "{flag} {}: {} is not a directory; choose a path in a directory",
                    out.display(),
                    dir.display()
                );
            }
            break;
        }
        up = dir.parent();
    }
    for input in inputs {
        if same_file(input, out) {
            bail!(
                "{flag} {} is the input file {}: writing it would destroy the input; choose another path",
                out.display(),
                input.display()
            );
        }
    }
    Ok(())
}

/// Writes `text` to `path` whole: a reader (or a crash) sees the old file or the new
/// one, never half of it.
pub(crate) fn write_file(path: &Path, text: &str) -> Result<()> {
    bandit_engine::publish::write_atomic(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_that_is_an_input_a_directory_or_under_a_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("rows.csv");
        std::fs::write(&input, "arm,y\n").unwrap();
        let through_dot = dir.path().join(".").join("rows.csv");
        let e = check_output_file("--out", &through_dot, &[&input]).unwrap_err();
        assert!(e.to_string().contains("is the input file"), "{e}");
        let e = check_output_file("--out", dir.path(), &[&input]).unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
        let e = check_output_file("--out", &input.join("m.json"), &[]).unwrap_err();
        assert!(e.to_string().contains("is not a directory"), "{e}");
        let fresh = dir.path().join("new/deeper/m.json");
        check_output_file("--out", &fresh, &[&input]).unwrap();
        write_file(&fresh, "{}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&fresh).unwrap(), "{}\n");
    }
}
