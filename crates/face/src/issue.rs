//! Why a photo fails the enrolment gate: a leaf module, so that [`crate::error`] can name
//! the issues without depending on the gate itself.

use serde::{Deserialize, Serialize};

/// Why a photo fails the enrolment gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReasonCode {
    /// No face found.
    NoFace,
    /// More than one significant face.
    MultipleFaces,
    /// The face is too small.
    FaceTooSmall,
    /// The face box touches or crosses the image border.
    FaceCutOff,
    /// Head turned left/right (yaw).
    HeadTurned,
    /// Head tilted sideways (roll).
    HeadTilted,
    /// Head looking up or down (pitch).
    HeadUpDown,
    /// The face is blurry.
    TooBlurry,
    /// The face is too dark.
    TooDark,
    /// The face is overexposed.
    TooBright,
    /// The detector is not confident it is a face.
    LowDetectionScore,
}

impl ReasonCode {
    /// The code as serialised (`NO_FACE`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::NoFace => "NO_FACE",
            Self::MultipleFaces => "MULTIPLE_FACES",
            Self::FaceTooSmall => "FACE_TOO_SMALL",
            Self::FaceCutOff => "FACE_CUT_OFF",
            Self::HeadTurned => "HEAD_TURNED",
            Self::HeadTilted => "HEAD_TILTED",
            Self::HeadUpDown => "HEAD_UP_DOWN",
            Self::TooBlurry => "TOO_BLURRY",
            Self::TooDark => "TOO_DARK",
            Self::TooBright => "TOO_BRIGHT",
            Self::LowDetectionScore => "LOW_DETECTION_SCORE",
        }
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failed check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QualityIssue {
    /// What failed.
    pub code: ReasonCode,
    /// The measured value.
    pub value: f32,
    /// The configured limit it crossed.
    pub limit: f32,
}
