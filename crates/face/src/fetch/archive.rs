//! Extraction of the listed entries of a downloaded archive into staged, verified files.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Component, Path};

use sha2::{Digest, Sha256};

use super::FetchError;
use super::staged::{FillError, StagedFile};

/// One file to take out of an archive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wanted<'a> {
    /// Path inside the archive.
    pub(crate) entry: &'a str,
    /// Model file path relative to the model directory (for messages).
    pub(crate) file: &'a str,
    /// Pinned size.
    pub(crate) bytes: u64,
    /// Pinned sha256 (lower-case hex).
    pub(crate) sha256: &'a str,
}

/// Extracts every wanted entry of a gzip-compressed tarball into staged files in `dir`, in the
/// order of `wanted`. Any entry with an unsafe path makes the whole archive refused.
pub(crate) fn extract_tgz(
    archive: File,
    url: &str,
    wanted: &[Wanted<'_>],
    dir: &Path,
) -> Result<Vec<StagedFile>, FetchError> {
    let bad = |error: std::io::Error| FetchError::BadArchive {
        url: url.to_owned(),
        reason: error.to_string(),
    };
    let gzip = flate2::read::GzDecoder::new(BufReader::new(archive));
    let mut tar = tar::Archive::new(gzip);
    let mut staged: Vec<Option<StagedFile>> = wanted.iter().map(|_| None).collect();
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if is_unsafe_entry(&name) {
            return Err(FetchError::UnsafeEntry {
                url: url.to_owned(),
                entry: name,
            });
        }
        let Some(index) = wanted.iter().position(|want| same_entry(want.entry, &name)) else {
            continue;
        };
        let (Some(want), Some(slot)) = (wanted.get(index), staged.get_mut(index)) else {
            continue;
        };
        if slot.is_some() || !entry.header().entry_type().is_file() {
            // A duplicate, or a link/directory under a wanted name: never follow it.
            continue;
        }
        *slot = Some(stage_entry(&mut entry, url, want, dir)?);
    }
    collect(staged, wanted, url)
}

/// Extracts every wanted entry of a zip archive into staged files in `dir`, in the order of
/// `wanted`. Any entry with an unsafe path makes the whole archive refused.
pub(crate) fn extract_zip(
    archive: File,
    url: &str,
    wanted: &[Wanted<'_>],
    dir: &Path,
) -> Result<Vec<StagedFile>, FetchError> {
    let bad = |error: zip::result::ZipError| FetchError::BadArchive {
        url: url.to_owned(),
        reason: error.to_string(),
    };
    let mut zip = zip::ZipArchive::new(BufReader::new(archive)).map_err(bad)?;
    if let Some(name) = zip.file_names().find(|name| is_unsafe_entry(name)) {
        return Err(FetchError::UnsafeEntry {
            url: url.to_owned(),
            entry: name.to_owned(),
        });
    }
    let mut staged: Vec<Option<StagedFile>> = Vec::with_capacity(wanted.len());
    for want in wanted {
        let index = (0..zip.len()).find(|&index| {
            zip.name_for_index(index)
                .is_some_and(|name| same_entry(want.entry, name))
        });
        let Some(index) = index else {
            staged.push(None);
            continue;
        };
        let mut entry = zip.by_index(index).map_err(bad)?;
        if !entry.is_file() || entry.is_symlink() {
            staged.push(None);
            continue;
        }
        staged.push(Some(stage_entry(&mut entry, url, want, dir)?));
    }
    collect(staged, wanted, url)
}

/// Copies one entry into a staged file, reading at most one byte past the pinned size (so a
/// decompression bomb costs nothing), then checks size and sha256.
pub(crate) fn stage_entry(
    reader: &mut dyn Read,
    url: &str,
    want: &Wanted<'_>,
    dir: &Path,
) -> Result<StagedFile, FetchError> {
    let mut staged = StagedFile::create_in(dir)?;
    let mut hasher = Sha256::new();
    let bytes = staged
        .fill_from(reader, want.bytes.saturating_add(1), &mut |chunk| {
            hasher.update(chunk)
        })
        .map_err(|error| match error {
            FillError::Read(error) => FetchError::BadArchive {
                url: url.to_owned(),
                reason: format!("entry {:?}: {error}", want.entry),
            },
            FillError::Write(error) => FetchError::io("cannot write", staged.path(), error),
        })?;
    check_file(url, want, bytes, &hex::encode(hasher.finalize()))?;
    staged.finish()?;
    Ok(staged)
}

/// Compares what was received for a model file with its pinned size and sha256.
pub(crate) fn check_file(
    url: &str,
    want: &Wanted<'_>,
    bytes: u64,
    sha256: &str,
) -> Result<(), FetchError> {
    if bytes != want.bytes {
        return Err(FetchError::FileSize {
            file: want.file.to_owned(),
            url: url.to_owned(),
            expected: want.bytes,
            actual: bytes,
        });
    }
    if sha256 != want.sha256 {
        return Err(FetchError::FileChecksum {
            file: want.file.to_owned(),
            url: url.to_owned(),
            expected: want.sha256.to_owned(),
            actual: sha256.to_owned(),
        });
    }
    Ok(())
}

fn collect(
    staged: Vec<Option<StagedFile>>,
    wanted: &[Wanted<'_>],
    url: &str,
) -> Result<Vec<StagedFile>, FetchError> {
    staged
        .into_iter()
        .zip(wanted)
        .map(|(file, want)| {
            file.ok_or_else(|| FetchError::MissingEntry {
                url: url.to_owned(),
                entry: want.entry.to_owned(),
                file: want.file.to_owned(),
            })
        })
        .collect()
}

/// Compares archive paths by their normal components, so `./package/a` matches `package/a`.
fn same_entry(listed: &str, found: &str) -> bool {
    fn normal(path: &str) -> impl Iterator<Item = Component<'_>> {
        Path::new(path)
            .components()
            .filter(|component| matches!(component, Component::Normal(_)))
    }
    normal(listed).eq(normal(found))
}

/// True when extracting an entry by its name could write outside the destination: an absolute
/// path, a drive prefix, or a `..` component (with `\\` read as a separator too, as Windows
/// tools write them).
fn is_unsafe_entry(name: &str) -> bool {
    let unified = name.replace('\\', "/");
    name.contains('\0')
        || Path::new(&unified).components().any(|component| {
            matches!(
                component,
                Component::ParentDir | Component::RootDir | Component::Prefix(_)
            )
        })
}
