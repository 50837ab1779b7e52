//! The one error type of the fetch layer.

use std::io;
use std::path::PathBuf;

use crate::manifest::ManifestError;

/// Why reading the manifest, downloading a set or installing its files failed.
///
/// Every variant names what it was working on (the manifest, the URL, the archive entry or the
/// model file) so that the message alone tells an operator what to look at.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The manifest cannot be read, is invalid, or lacks the requested set.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The base URL override is unusable (it must be an http:// or https:// URL).
    #[error("invalid base URL override {0:?}: expected an http:// or https:// URL")]
    BadBaseUrl(String),
    /// The HTTP request failed before a complete response arrived (DNS, connect, TLS, timeout).
    #[error("download of {url} failed: {source}")]
    Http {
        /// The URL requested.
        url: String,
        /// The HTTP client's error.
        source: Box<ureq::Error>,
    },
    /// The server answered with a status other than 2xx.
    #[error("download of {url} failed: the server answered HTTP {status}")]
    HttpStatus {
        /// The URL requested.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The response body is larger than the fetcher accepts.
    #[error("download of {url} refused: the body is larger than {limit} bytes")]
    TooLarge {
        /// The URL requested.
        url: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// The downloaded archive does not match the checksum pinned in the manifest.
    #[error("archive {url} has the wrong {algorithm}: expected {expected}, got {actual}")]
    ArchiveChecksum {
        /// The URL the archive came from.
        url: String,
        /// "sha1" or "sha256".
        algorithm: &'static str,
        /// The checksum the manifest pins (hex).
        expected: String,
        /// The checksum of what was downloaded (hex).
        actual: String,
    },
    /// The archive cannot be read (not a gzip/tar/zip, truncated, corrupt).
    #[error("archive {url} is unreadable: {reason}")]
    BadArchive {
        /// The URL the archive came from.
        url: String,
        /// What the archive reader reported.
        reason: String,
    },
    /// An archive entry has an absolute path or one that climbs out with `..`.
    #[error("archive {url} refused: entry {entry:?} has an unsafe path")]
    UnsafeEntry {
        /// The URL the archive came from.
        url: String,
        /// The entry's path as written in the archive.
        entry: String,
    },
    /// A listed entry is missing from the archive, or is not a regular file.
    #[error("archive {url} has no regular file {entry:?} (needed for {file})")]
    MissingEntry {
        /// The URL the archive came from.
        url: String,
        /// The path inside the archive the manifest lists.
        entry: String,
        /// The model file it should become.
        file: String,
    },
    /// An extracted model file does not have the byte size the manifest pins.
    #[error("{file} (from {url}) has the wrong size: expected {expected} bytes, got {actual}")]
    FileSize {
        /// The model file (relative to the model directory).
        file: String,
        /// The URL it came from.
        url: String,
        /// The size the manifest pins.
        expected: u64,
        /// The size received (reading stops one byte past the expected size).
        actual: u64,
    },
    /// An extracted model file does not have the sha256 the manifest pins.
    #[error("{file} (from {url}) has the wrong sha256: expected {expected}, got {actual}")]
    FileChecksum {
        /// The model file (relative to the model directory).
        file: String,
        /// The URL it came from.
        url: String,
        /// The sha256 the manifest pins (hex).
        expected: String,
        /// The sha256 of what was received (hex).
        actual: String,
    },
    /// A local filesystem operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("cannot create", "cannot rename into", ...).
        action: &'static str,
        /// The local path involved.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },
}

impl FetchError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
