//! Rollcall's face engine. Knows nothing of HTTP or databases.
//!
//! Pipeline: [`decode`](decode::decode) (limits, EXIF) -> [`detect`](detect::Detector)
//! (passes planned from the photo, NMS) -> [`align`](align::align) -> [`embed`](embed::Recognizer) ->
//! [`quality`] gate (enrolment) -> [`matching`] (Hungarian + margin). [`Engine`] ties them
//! together with models loaded once from the [`manifest`].

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod align;
pub mod bench;
pub mod config;
pub mod decode;
pub mod detect;
pub mod embed;
pub mod engine;
pub mod error;
#[cfg(feature = "fetch")]
pub mod fetch;
pub mod geometry;
pub mod issue;
pub mod manifest;
pub mod matching;
pub mod pose;
pub mod quality;
pub mod resample;
pub mod runtime;
pub mod synth;

pub use config::{DetectConfig, EngineConfig, Limits, MatchConfig, QualityConfig};
pub use engine::{Analysis, Assessment, Engine, Enrolment, FaceEmbedding};
pub use error::{FaceError, SizeKind};
pub use geometry::{BBox, DetectedFace, Point};
pub use matching::{FaceMatch, MatchParams, RosterItem, Suggestion, match_faces};
pub use pose::HeadPose;
pub use quality::{QualityIssue, QualityReport, ReasonCode};
