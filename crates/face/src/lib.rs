//! Rollcall's face engine. Knows nothing of HTTP or databases.
//!
//! Pipeline: [`decode`] (limits, EXIF) -> [`Detector`] (passes planned from the photo, NMS)
//! -> alignment -> [`Recognizer`] (embedding) -> [`quality`] gate (enrolment) ->
//! [`matching`] (Hungarian + margin). [`Engine`] ties them together with models loaded once
//! from the [`manifest`].
//!
//! The stages' modules are private; what callers need is re-exported here. Public modules
//! are the gate ([`quality`]), the matcher ([`matching`]), the model catalogue
//! ([`manifest`]), and the tools behind features: `fetch` (downloading model sets),
//! `bench` (the engine benchmark) and `synth` (composed classroom scenes for tests and
//! benchmarks). The fuzz build turns all three off.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod align;
#[cfg(feature = "bench")]
pub mod bench;
mod config;
mod decode;
mod detect;
mod embed;
mod engine;
mod error;
#[cfg(feature = "fetch")]
pub mod fetch;
mod geometry;
mod issue;
pub mod manifest;
pub mod matching;
mod pose;
pub mod quality;
mod resample;
mod runtime;
#[cfg(feature = "synth")]
pub mod synth;

pub use config::{DetectConfig, EngineConfig, Limits, MatchConfig, QualityConfig};
pub use decode::{decode, decode_dynamic, to_rgb};
pub use detect::{Detector, Pass, plan};
pub use embed::{ARCFACE_TEMPLATE, Recognizer, cosine, l2_normalize};
pub use engine::{Analysis, Assessment, Engine, Enrolment, FaceEmbedding};
pub use error::{FaceError, SizeKind};
pub use geometry::{BBox, DetectedFace, Point, nms};
pub use matching::{FaceMatch, MatchParams, RosterItem, Suggestion, match_faces};
pub use pose::HeadPose;
pub use quality::{QualityIssue, QualityReport, ReasonCode};
pub use resample::{Rect, resize_region};
pub use runtime::{default_threads, dylib_path};
