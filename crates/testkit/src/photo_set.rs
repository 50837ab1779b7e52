//! The photo set the accuracy figures were measured on, pinned.
//!
//! The face tests assert floors at the figures measured on one set of photos. A changed
//! `../shared/faces` (a photo added, removed or replaced, a label edited) would shift those
//! figures silently; [`verify`] makes it fail loudly instead: the `MANIFEST.tsv` and the
//! label files must have the pinned SHA-256, every photo must have the SHA-256 its manifest
//! row gives, and no other file may sit beside them.

use std::io::Read as _;
use std::path::Path;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// SHA-256 of `MANIFEST.tsv` when the figures were measured.
pub const MANIFEST_SHA256: &str =
    "2c041179d6991c9e3396c5a27d5652e63fabb508c7cbfe2a7dce5d30b12b5eed";

/// Photos listed in `MANIFEST.tsv` (identities/ 368, groups/ 28, hard/ 31).
pub const PHOTOS: usize = 427;

/// The label files and their SHA-256.
pub const LABELS: [(&str, &str); 3] = [
    (
        "groups/labels.tsv",
        "d2a5a793ec9de2674146950c63409319f27c77dbcb296f84a2eb51fd124fb126",
    ),
    (
        "groups/labels.json",
        "eec9fd93cc30fc1a4218b31279464719f7ebe7a9cbb81be0a97b85d71ae6e891",
    ),
    (
        "hard/labels.tsv",
        "981df521fb358052b2456d161a7ad38e08c8f6a63cbef4521bf2862c7e6f0d17",
    ),
];

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Every file under `dir`, as paths relative to it with `/` separators.
fn files_under(dir: &Path, prefix: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.file_type()?.is_dir() {
            files_under(&entry.path(), &format!("{name}/"), out)?;
        } else {
            out.push(name);
        }
    }
    Ok(())
}

/// What differs between `dir` and the pinned photo set (empty: the same set).
pub fn differences(dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let manifest_path = dir.join("MANIFEST.tsv");
    match sha256_file(&manifest_path) {
        Ok(h) if h == MANIFEST_SHA256 => {}
        Ok(h) => problems.push(format!(
            "MANIFEST.tsv has SHA-256 {h}, the figures were measured with {MANIFEST_SHA256}"
        )),
        Err(e) => problems.push(format!("cannot read {}: {e}", manifest_path.display())),
    }
    for (file, pinned) in LABELS {
        match sha256_file(&dir.join(file)) {
            Ok(h) if h == pinned => {}
            Ok(h) => problems.push(format!("{file} has SHA-256 {h}, pinned {pinned}")),
            Err(e) => problems.push(format!("cannot read {file}: {e}")),
        }
    }
    let manifest = std::fs::read_to_string(&manifest_path).unwrap_or_default();
    let mut listed = Vec::new();
    for line in manifest.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (Some(&file), Some(&sha)) = (cols.first(), cols.get(4)) else {
            problems.push(format!("MANIFEST.tsv: malformed row {line:?}"));
            continue;
        };
        listed.push(file.to_owned());
        match sha256_file(&dir.join(file)) {
            Ok(h) if h == sha => {}
            Ok(h) => problems.push(format!("{file} has SHA-256 {h}, MANIFEST.tsv says {sha}")),
            Err(e) => problems.push(format!("{file} (in MANIFEST.tsv): {e}")),
        }
    }
    if listed.len() != PHOTOS {
        problems.push(format!(
            "MANIFEST.tsv lists {} photos, the figures were measured on {PHOTOS}",
            listed.len()
        ));
    }
    let mut present = Vec::new();
    for sub in ["identities", "groups", "hard"] {
        if let Err(e) = files_under(&dir.join(sub), &format!("{sub}/"), &mut present) {
            problems.push(format!("cannot list {sub}/: {e}"));
        }
    }
    for file in present {
        if !listed.contains(&file) && !LABELS.iter().any(|(l, _)| *l == file) {
            problems.push(format!("{file} is not in MANIFEST.tsv"));
        }
    }
    problems
}

/// Panics, listing what changed, unless `dir` holds the pinned photo set. Checked once per
/// process.
///
/// # Panics
/// When the photo set differs from the pinned one.
pub fn verify(dir: &Path) {
    static CHECKED: OnceLock<Vec<String>> = OnceLock::new();
    let problems = CHECKED.get_or_init(|| differences(dir));
    assert!(
        problems.is_empty(),
        "the photos in {} are not the set the accuracy figures were measured on (update the \
         figures, the floors of the face tests and testkit/src/photo_set.rs together):\n{}",
        dir.display(),
        problems.join("\n")
    );
}
