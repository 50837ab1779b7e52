//! The model manifest (`models/manifest.toml`): which models exist, their files, hashes and
//! preprocessing. Model choice is data, not code.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde::Deserialize;

use crate::error::FaceError;

/// The manifest shipped with the crate (`models/manifest.toml` at the workspace root).
pub const DEFAULT_MANIFEST: &str = include_str!("../../../models/manifest.toml");

/// What a model does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Face detector with five keypoints.
    Detector,
    /// Face recognizer producing an embedding.
    Recognizer,
    /// Head-pose estimator.
    Pose,
}

/// Network family, which decides the decoding of the outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// InsightFace SCRFD (3 strides, 2 anchors per cell).
    Scrfd,
    /// OpenCV YuNet (3 strides, 1 anchor per cell, cls x obj).
    Yunet,
    /// ArcFace-style recognizer on a 112x112 aligned crop.
    Arcface,
    /// Hopenet-style head pose, 66 bins of 3 degrees per angle.
    Hopenet66,
}

/// Channel order the network expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColorOrder {
    /// Red, green, blue.
    Rgb,
    /// Blue, green, red.
    Bgr,
}

/// One `[[model]]` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelSpec {
    /// Stable id, used in configuration and stored next to embeddings.
    pub id: String,
    /// What it does.
    pub role: Role,
    /// Output decoding family.
    pub arch: Arch,
    /// Path relative to the model directory.
    pub file: String,
    /// File size in bytes.
    pub bytes: u64,
    /// Pinned sha256 of the file (lower-case hex).
    pub sha256: String,
    /// Input (width, height) of one pass.
    pub input_size: [u32; 2],
    /// Channel order.
    pub color: ColorOrder,
    /// Subtracted from every 0..255 pixel value.
    pub mean: f32,
    /// Divides every pixel value after the mean is subtracted.
    pub std: f32,
    /// Embedding length (recognizers).
    #[serde(default)]
    pub embedding_size: Option<usize>,
    /// Fixed batch size, 0 for dynamic (recognizers).
    #[serde(default)]
    pub batch: Option<usize>,
    /// Five-point alignment template in the 112x112 crop (recognizers).
    #[serde(default)]
    pub template: Option<[[f32; 2]; 5]>,
    /// Cosine similarity at which two faces are taken for the same person (recognizers):
    /// the floor for a suggestion in attendance.
    #[serde(default)]
    pub threshold: Option<f32>,
    /// Cosine similarity at which attendance marks a student present without asking
    /// (recognizers); `threshold` when absent.
    #[serde(default)]
    pub present_threshold: Option<f32>,
    /// ONNX Runtime graph optimisation for this model. Measured, not assumed: the
    /// faceplugin recognizer runs about 3x slower with `all` than with `basic`.
    #[serde(default)]
    pub optimization: Optimization,
    /// Upstream set that provides the file.
    pub set: String,
    /// Licence note.
    #[serde(default)]
    pub licence: String,
}

/// ONNX Runtime graph optimisation level of a model (`optimization` in the manifest).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimization {
    /// No graph rewrites.
    Disabled,
    /// Constant folding and redundant-node elimination only.
    Basic,
    /// Basic plus complex node fusions.
    Extended,
    /// Everything, including layout optimisations (ONNX Runtime's default).
    #[default]
    All,
}

/// One `[[set]]` entry: where `rollcall models fetch` downloads a set from.
#[derive(Debug, Clone, Deserialize)]
pub struct SetSpec {
    /// Set name.
    pub name: String,
    /// Download URL.
    pub url: String,
    /// Archive kind: `tgz`, `zip` or `file`.
    pub archive: String,
    /// npm shasum of the archive, when known.
    #[serde(default)]
    pub sha1: Option<String>,
    /// sha256 of the archive, when known.
    #[serde(default)]
    pub archive_sha256: Option<String>,
    /// Path inside the archive -> model file path.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

/// The parsed manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// All known models.
    #[serde(rename = "model", default)]
    pub models: Vec<ModelSpec>,
    /// Upstream download sets.
    #[serde(rename = "set", default)]
    pub sets: Vec<SetSpec>,
}

impl Manifest {
    /// Parses manifest text.
    pub fn parse(text: &str) -> Result<Self, FaceError> {
        let manifest: Self = toml::from_str(text)
            .map_err(|e| FaceError::Config(format!("invalid model manifest: {e}")))?;
        let mut seen = HashSet::new();
        for model in &manifest.models {
            if !seen.insert(model.id.as_str()) {
                return Err(FaceError::Config(format!(
                    "model id {} appears twice in the manifest",
                    model.id
                )));
            }
            if model.std == 0.0 || model.input_size.contains(&0) {
                return Err(FaceError::Config(format!(
                    "model {} has a zero std or input size",
                    model.id
                )));
            }
        }
        Ok(manifest)
    }

    /// The manifest embedded in the crate.
    pub fn embedded() -> Result<Self, FaceError> {
        Self::parse(DEFAULT_MANIFEST)
    }

    /// Reads and parses a manifest file.
    pub fn from_path(path: &Path) -> Result<Self, FaceError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            FaceError::Config(format!(
                "cannot read model manifest {}: {e}",
                path.display()
            ))
        })?;
        Self::parse(&text)
    }

    /// Looks a model up by id and checks its role.
    pub fn model(&self, id: &str, role: Role) -> Result<&ModelSpec, FaceError> {
        let spec = self
            .models
            .iter()
            .find(|m| m.id == id)
            .ok_or_else(|| FaceError::Config(format!("unknown model id {id:?}")))?;
        if spec.role != role {
            return Err(FaceError::Config(format!(
                "model {id} is a {:?}, not a {role:?}",
                spec.role
            )));
        }
        Ok(spec)
    }
}

/// Files already verified in this process: (path, sha256).
fn verified() -> &'static Mutex<HashSet<(PathBuf, String)>> {
    static VERIFIED: OnceLock<Mutex<HashSet<(PathBuf, String)>>> = OnceLock::new();
    VERIFIED.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Checks that `spec`'s file exists under `model_dir` with the pinned sha256, and returns its
/// path. A file is hashed at most once per process.
pub fn verify_model_file(model_dir: &Path, spec: &ModelSpec) -> Result<PathBuf, FaceError> {
    let path = model_dir.join(&spec.file);
    let key = (path.clone(), spec.sha256.to_ascii_lowercase());
    if verified()
        .lock()
        .map(|set| set.contains(&key))
        .unwrap_or(false)
    {
        return Ok(path);
    }
    if !path.is_file() {
        return Err(FaceError::ModelMissing {
            path,
            set: spec.set.clone(),
        });
    }
    let actual = sha256_file(&path)?;
    if actual != key.1 {
        return Err(FaceError::ModelChecksum {
            path,
            expected: spec.sha256.clone(),
            actual,
        });
    }
    if let Ok(mut set) = verified().lock() {
        set.insert(key);
    }
    Ok(path)
}

/// sha256 of a file, lower-case hex (the same hashing as `rollcall models fetch`).
pub fn sha256_file(path: &Path) -> Result<String, FaceError> {
    match crate::fetch::file_sha256(path) {
        Ok(Some((sha256, _bytes))) => Ok(sha256),
        Ok(None) => Err(FaceError::Config(format!(
            "{} does not exist",
            path.display()
        ))),
        Err(e) => Err(FaceError::Config(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_manifest_parses_with_defaults() {
        let m = Manifest::embedded().unwrap();
        assert!(m.model("scrfd_2.5g", Role::Detector).is_ok());
        let r = m
            .model("faceplugin_fr_feature_512", Role::Recognizer)
            .unwrap();
        assert_eq!(r.embedding_size, Some(512));
        assert!(r.template.is_some());
        assert!(m.model("faceplugin_fr_pose", Role::Pose).is_ok());
        assert!(m.model("scrfd_2.5g", Role::Recognizer).is_err());
        assert!(m.sets.iter().any(|s| s.name == "faceplugin"));
    }
}
