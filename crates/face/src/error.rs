//! The engine's error type.

use std::path::PathBuf;

use crate::issue::QualityIssue;

/// What a size limit was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SizeKind {
    /// The encoded file, in bytes.
    Bytes,
    /// The decoded image, in pixels (width x height).
    Pixels,
}

impl std::fmt::Display for SizeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Bytes => "bytes",
            Self::Pixels => "pixels",
        })
    }
}

/// Everything that can go wrong in the face engine.
#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    /// The upload is not a readable image (empty, truncated, unknown format, corrupt data).
    #[error("invalid image: {reason}")]
    InvalidImage {
        /// Human-readable reason, safe to show to the uploader.
        reason: String,
    },
    /// The upload exceeds a configured size limit.
    #[error("image too large: {value} {kind} (limit {limit})")]
    TooLarge {
        /// Which limit was exceeded.
        kind: SizeKind,
        /// The measured value.
        value: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The image's header declares more pixels than the limit (refused before decoding).
    #[error(
        "photo is {width}x{height}, the limit is {} megapixels",
        limit.div_ceil(1_000_000)
    )]
    TooManyPixels {
        /// Declared width (before EXIF orientation).
        width: u32,
        /// Declared height.
        height: u32,
        /// The configured limit, in pixels.
        limit: u64,
    },
    /// The photo is readable but fails the enrolment quality gate; every failed check is listed.
    #[error("photo rejected by the quality gate: {}", describe_issues(.0))]
    Rejected(Vec<QualityIssue>),
    /// A model file is missing from the model directory.
    #[error(
        "model file {path} is missing: run `rollcall models fetch {set}` or set ROLLCALL_MODEL_DIR"
    )]
    ModelMissing {
        /// Where the file was expected.
        path: PathBuf,
        /// The upstream set that provides it.
        set: String,
    },
    /// A model file does not have the sha256 pinned in the manifest.
    #[error("model file {path} has sha256 {actual}, expected {expected}")]
    ModelChecksum {
        /// The file.
        path: PathBuf,
        /// The pinned hash.
        expected: String,
        /// The hash of the file on disk.
        actual: String,
    },
    /// The engine configuration or the model manifest is invalid.
    #[error("face engine configuration: {0}")]
    Config(String),
    /// ONNX Runtime could not be loaded or failed while running a model (internal error).
    #[error("face engine runtime: {0}")]
    Runtime(String),
}

fn describe_issues(issues: &[QualityIssue]) -> String {
    issues
        .iter()
        .map(|i| {
            format!(
                "{} (value {:.3}, limit {:.3})",
                i.code.as_str(),
                i.value,
                i.limit
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl FaceError {
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Self::InvalidImage {
            reason: reason.into(),
        }
    }

    pub(crate) fn runtime(err: impl std::fmt::Display) -> Self {
        Self::Runtime(err.to_string())
    }

    /// True when the error is the caller's fault (bad upload or a failed quality gate), false
    /// for configuration and runtime failures.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::InvalidImage { .. } | Self::TooLarge { .. } | Self::Rejected(_)
        )
    }
}

impl<R> From<ort::Error<R>> for FaceError {
    fn from(err: ort::Error<R>) -> Self {
        Self::Runtime(err.to_string())
    }
}
