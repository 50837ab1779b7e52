//! The model manifest (`models/manifest.toml`): which models exist, their files, hashes and
//! preprocessing. Model choice is data, not code.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde::Deserialize;
use sha2::{Digest, Sha256};

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
    /// Several templates per student (recognizers): a student with k templates is scored by
    /// the cosine to their templates' L2-normalised mean, less `centroid_offset * (1 - 1/k)`,
    /// so that the thresholds, measured with one template, keep their false-accept rate
    /// (see `crate::matching`). 0 when absent (not calibrated for this model).
    #[serde(default)]
    pub centroid_offset: Option<f32>,
    /// ONNX Runtime graph optimisation for this model; `all` (ONNX Runtime's default) unless
    /// measured otherwise. Which level is fastest depends on the CPU: on a 2-core AMD EPYC
    /// (AVX-512) `all` is the fastest for every model here (see README, Benchmarks), while an
    /// earlier figure from another CPU had `all` slow the faceplugin recognizer 3x.
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

/// How an upstream set is packaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArchiveKind {
    /// A gzip-compressed tarball (npm packages).
    Tgz,
    /// A zip archive (InsightFace model packs).
    Zip,
    /// The download is the model file itself.
    File,
}

/// One `[[set]]` entry: where `rollcall models fetch` downloads a group of model files from.
#[derive(Debug, Clone, Deserialize)]
pub struct SetSpec {
    /// Name used on the command line, e.g. `faceplugin`.
    pub name: String,
    /// Upstream URL of the archive (or of the file itself).
    pub url: String,
    /// How the download is packaged.
    pub archive: ArchiveKind,
    /// Lower-case hex sha1 of the archive, when upstream publishes one (npm's `shasum`).
    #[serde(default)]
    pub sha1: Option<String>,
    /// Lower-case hex sha256 of the archive, when known.
    #[serde(default)]
    pub archive_sha256: Option<String>,
    /// Path inside the archive -> model file path (relative to the model directory).
    pub files: BTreeMap<String, String>,
}

/// Why a manifest could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The manifest file could not be read.
    #[error("cannot read the model manifest {path}: {source}")]
    Read {
        /// The manifest path.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The manifest is not valid TOML or does not have the expected shape.
    #[error("cannot parse the model manifest ({origin}): {source}")]
    Parse {
        /// Where the manifest came from (a path, or "built-in").
        origin: String,
        /// The parser's error.
        source: Box<toml::de::Error>,
    },
    /// The manifest parses but is inconsistent (duplicate id, unsafe path, bad checksum,
    /// dangling reference, zero normalisation).
    #[error("invalid model manifest ({origin}): {reason}")]
    Invalid {
        /// Where the manifest came from (a path, or "built-in").
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// No `[[set]]` of that name in the manifest.
    #[error("unknown model set {set:?}; the manifest has: {known}")]
    UnknownSet {
        /// The requested set.
        set: String,
        /// The names of the sets the manifest has, comma-separated.
        known: String,
    },
}

impl From<ManifestError> for FaceError {
    fn from(e: ManifestError) -> Self {
        FaceError::Config(e.to_string())
    }
}

#[derive(Deserialize)]
struct RawManifest {
    #[serde(default)]
    model: Vec<ModelSpec>,
    #[serde(default)]
    set: Vec<SetSpec>,
}

/// A validated model manifest: the models (how to run them, and their pinned files) and the
/// upstream sets their files come from. The one reader of `models/manifest.toml`, for the
/// engine and for `rollcall models`.
///
/// Built only by [`Manifest::embedded`], [`Manifest::load`], [`Manifest::from_path`] or
/// [`Manifest::from_toml`], which check that ids are unique, every path is a safe relative
/// path, every checksum is well-formed hex, and every file a set provides is a model the
/// manifest pins.
#[derive(Debug, Clone)]
pub struct Manifest {
    models: Vec<ModelSpec>,
    sets: Vec<SetSpec>,
}

impl Manifest {
    /// The manifest compiled into the crate (the repository's `models/manifest.toml`).
    pub fn embedded() -> Result<Self, ManifestError> {
        Self::from_toml(DEFAULT_MANIFEST, "built-in")
    }

    /// The manifest at `path` when one is given (e.g. from `ROLLCALL_MANIFEST`), else the
    /// embedded one.
    pub fn load(path: Option<&Path>) -> Result<Self, ManifestError> {
        path.map_or_else(Self::embedded, Self::from_path)
    }

    /// Reads and validates a manifest file (for deployments that pin their own models).
    pub fn from_path(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses and validates manifest text; `origin` names it in error messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|source| ManifestError::Parse {
            origin: origin.to_owned(),
            source: Box::new(source),
        })?;
        let manifest = Self {
            models: raw.model,
            sets: raw.set,
        };
        manifest
            .validate()
            .map_err(|reason| ManifestError::Invalid {
                origin: origin.to_owned(),
                reason,
            })?;
        Ok(manifest)
    }

    /// Every `[[model]]` entry, in manifest order.
    pub fn models(&self) -> &[ModelSpec] {
        &self.models
    }

    /// Every `[[set]]` entry, in manifest order.
    pub fn sets(&self) -> &[SetSpec] {
        &self.sets
    }

    /// The set of that name.
    pub fn set(&self, name: &str) -> Result<&SetSpec, ManifestError> {
        self.sets
            .iter()
            .find(|set| set.name == name)
            .ok_or_else(|| ManifestError::UnknownSet {
                set: name.to_owned(),
                known: self
                    .sets
                    .iter()
                    .map(|set| set.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The model entry for a file path (relative to the model directory).
    pub fn model_for_file(&self, file: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|model| model.file == file)
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

    fn validate(&self) -> Result<(), String> {
        let mut ids = HashSet::new();
        if let Some(model) = self.models.iter().find(|m| !ids.insert(m.id.as_str())) {
            return Err(format!("model id {} appears twice", model.id));
        }
        for model in &self.models {
            if model.std == 0.0 || model.input_size.contains(&0) {
                return Err(format!("model {} has a zero std or input size", model.id));
            }
            if !is_safe_relative(&model.file) {
                return Err(format!(
                    "model {}: file {:?} must be a relative path without '..'",
                    model.id, model.file
                ));
            }
            if !is_hex(&model.sha256, 64) {
                return Err(format!(
                    "model {}: sha256 {:?} is not 64 lower-case hex digits",
                    model.id, model.sha256
                ));
            }
            if self.models.iter().filter(|m| m.file == model.file).count() > 1 {
                return Err(format!("file {:?} is listed by two models", model.file));
            }
        }
        for set in &self.sets {
            if !(set.url.starts_with("https://") || set.url.starts_with("http://")) {
                return Err(format!(
                    "set {}: url {:?} is not http(s)",
                    set.name, set.url
                ));
            }
            if let Some(sha1) = &set.sha1
                && !is_hex(sha1, 40)
            {
                return Err(format!(
                    "set {}: sha1 {sha1:?} is not 40 hex digits",
                    set.name
                ));
            }
            if let Some(sha256) = &set.archive_sha256
                && !is_hex(sha256, 64)
            {
                return Err(format!(
                    "set {}: archive_sha256 {sha256:?} is not 64 hex digits",
                    set.name
                ));
            }
            if set.files.is_empty() {
                return Err(format!("set {}: lists no files", set.name));
            }
            if set.archive == ArchiveKind::File && set.files.len() != 1 {
                return Err(format!(
                    "set {}: an archive = \"file\" set provides exactly one file",
                    set.name
                ));
            }
            for (entry, file) in &set.files {
                if !is_safe_relative(entry) {
                    return Err(format!(
                        "set {}: archive entry {entry:?} must be a relative path without '..'",
                        set.name
                    ));
                }
                if self.model_for_file(file).is_none() {
                    return Err(format!(
                        "set {}: file {file:?} is not the file of any [[model]]",
                        set.name
                    ));
                }
            }
        }
        Ok(())
    }
}

/// True when `path` is non-empty, relative, and made only of normal components (no `..`, no
/// root, no drive prefix), so joining it to a directory stays inside that directory.
pub(crate) fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\\')
        && !path.contains('\0')
        && Path::new(path)
            .components()
            .all(|component| matches!(component, Component::Normal(_) | Component::CurDir))
        && Path::new(path)
            .components()
            .any(|component| matches!(component, Component::Normal(_)))
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
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
    match file_sha256(path) {
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

/// The sha256 and size of a file on disk, or `None` when it does not exist.
pub(crate) fn file_sha256(path: &Path) -> io::Result<Option<(String, u64)>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let mut hasher = Sha256::new();
    let bytes = io::copy(&mut file, &mut hasher)?;
    Ok(Some((hex::encode(hasher.finalize()), bytes)))
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
        assert!(m.sets().iter().any(|s| s.name == "faceplugin"));
    }

    /// A valid `[[model]]` entry with `extra` lines appended (later keys win in tests that
    /// need them; TOML refuses duplicates, so callers only add new keys).
    fn model_entry(sha256: &str) -> String {
        format!(
            r#"
            [[model]]
            id = "m"
            role = "detector"
            arch = "scrfd"
            file = "m.onnx"
            bytes = 1
            sha256 = "{sha256}"
            input_size = [640, 640]
            color = "rgb"
            mean = 127.5
            std = 128.0
            set = "s"
            "#
        )
    }

    #[test]
    fn sets_and_files_are_consistent() {
        let manifest = Manifest::embedded().unwrap();
        let faceplugin = manifest.set("faceplugin").unwrap();
        assert_eq!(faceplugin.archive, ArchiveKind::Tgz);
        assert_eq!(faceplugin.files.len(), 2);
        assert!(manifest.model_for_file("scrfd/det_2.5g.onnx").is_some());
        let message = manifest.set("nope").unwrap_err().to_string();
        assert!(message.contains("faceplugin"), "{message}");
    }

    #[test]
    fn unsafe_paths_are_rejected() {
        for bad in ["", "../x.onnx", "/etc/passwd", "a/../../b", "a\\..\\b", "."] {
            assert!(!is_safe_relative(bad), "{bad:?}");
        }
        for good in [
            "a.onnx",
            "scrfd/det_2.5g.onnx",
            "package/model/fr_feature.onnx",
        ] {
            assert!(is_safe_relative(good), "{good:?}");
        }
    }

    #[test]
    fn load_reads_an_override_and_names_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.toml");
        std::fs::write(&path, DEFAULT_MANIFEST).unwrap();
        let loaded = Manifest::load(Some(&path)).unwrap();
        assert_eq!(
            loaded.models().len(),
            Manifest::load(None).unwrap().models().len()
        );
        let missing = dir.path().join("nope.toml");
        let error = Manifest::load(Some(&missing)).unwrap_err();
        assert!(matches!(error, ManifestError::Read { .. }), "{error:?}");
        assert!(error.to_string().contains("nope.toml"), "{error}");
    }

    #[test]
    fn malformed_toml_bad_checksums_and_duplicates_are_rejected() {
        let error = Manifest::from_toml("[[model]]\nid = ", "broken").unwrap_err();
        assert!(matches!(error, ManifestError::Parse { .. }), "{error:?}");
        let good = "a".repeat(64);
        assert!(Manifest::from_toml(&model_entry(&good), "test").is_ok());
        let error = Manifest::from_toml(&model_entry("ABC"), "test")
            .unwrap_err()
            .to_string();
        assert!(error.contains("sha256"), "{error}");
        let twice = format!("{}{}", model_entry(&good), model_entry(&good));
        let error = Manifest::from_toml(&twice, "test").unwrap_err().to_string();
        assert!(error.contains("twice"), "{error}");
    }

    #[test]
    fn dangling_set_file_is_rejected() {
        let text = r#"
            [[set]]
            name = "x"
            url = "https://example.org/x.zip"
            archive = "zip"
            files = { "a.onnx" = "x/a.onnx" }
        "#;
        let error = Manifest::from_toml(text, "test").unwrap_err().to_string();
        assert!(error.contains("x/a.onnx"), "{error}");
    }
}
