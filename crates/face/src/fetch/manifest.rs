//! The parts of `models/manifest.toml` the fetcher needs: each model file's pinned size and
//! sha256, and where each upstream set is downloaded from.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use serde::Deserialize;

use super::FetchError;

/// The manifest compiled into the binary (the repository's `models/manifest.toml`).
const BUILT_IN: &str = include_str!("../../../../models/manifest.toml");

/// A validated model manifest: the model files and the upstream sets they come from.
///
/// Built only by [`Manifest::built_in`], [`Manifest::from_path`] or [`Manifest::from_toml`], which
/// check that every path is a safe relative path, every checksum is well-formed hex, and every
/// file a set provides is a model the manifest pins.
#[derive(Debug, Clone)]
pub struct Manifest {
    models: Vec<ModelEntry>,
    sets: Vec<SetEntry>,
}

/// One `[[model]]` entry (only the fields the fetcher uses).
#[derive(Debug, Clone, Deserialize)]
pub struct ModelEntry {
    /// Stable identifier, e.g. `scrfd_2.5g`.
    pub id: String,
    /// Path of the file relative to the model directory, `/`-separated.
    pub file: String,
    /// Exact size in bytes.
    pub bytes: u64,
    /// Lower-case hex sha256 of the file.
    pub sha256: String,
    /// Name of the upstream set that provides the file.
    pub set: String,
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

/// One `[[set]]` entry: where a group of model files is downloaded from.
#[derive(Debug, Clone, Deserialize)]
pub struct SetEntry {
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

#[derive(Deserialize)]
struct RawManifest {
    #[serde(default)]
    model: Vec<ModelEntry>,
    #[serde(default)]
    set: Vec<SetEntry>,
}

impl Manifest {
    /// The manifest compiled into this library (the repository's `models/manifest.toml`).
    pub fn built_in() -> Result<Self, FetchError> {
        Self::from_toml(BUILT_IN, "built-in")
    }

    /// The manifest at `path` when one is given (e.g. from `ROLLCALL_MODEL_MANIFEST`), else the
    /// built-in one.
    pub fn load(path: Option<&Path>) -> Result<Self, FetchError> {
        path.map_or_else(Self::built_in, Self::from_path)
    }

    /// Reads and validates a manifest file (for deployments that pin their own models).
    pub fn from_path(path: &Path) -> Result<Self, FetchError> {
        let text = std::fs::read_to_string(path).map_err(|source| FetchError::ManifestRead {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses and validates manifest text; `origin` names it in error messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, FetchError> {
        let raw: RawManifest =
            toml::from_str(text).map_err(|source| FetchError::ManifestParse {
                origin: origin.to_owned(),
                source: Box::new(source),
            })?;
        let manifest = Self {
            models: raw.model,
            sets: raw.set,
        };
        manifest
            .validate()
            .map_err(|reason| FetchError::ManifestInvalid {
                origin: origin.to_owned(),
                reason,
            })?;
        Ok(manifest)
    }

    /// Every `[[model]]` entry, in manifest order.
    pub fn models(&self) -> &[ModelEntry] {
        &self.models
    }

    /// Every `[[set]]` entry, in manifest order.
    pub fn sets(&self) -> &[SetEntry] {
        &self.sets
    }

    /// The set of that name.
    pub fn set(&self, name: &str) -> Result<&SetEntry, FetchError> {
        self.sets
            .iter()
            .find(|set| set.name == name)
            .ok_or_else(|| FetchError::UnknownSet {
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
    pub fn model_for_file(&self, file: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|model| model.file == file)
    }

    fn validate(&self) -> Result<(), String> {
        for model in &self.models {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_manifest_is_valid_and_consistent() {
        let manifest = Manifest::built_in().unwrap();
        let faceplugin = manifest.set("faceplugin").unwrap();
        assert_eq!(faceplugin.archive, ArchiveKind::Tgz);
        assert_eq!(faceplugin.files.len(), 2);
        assert!(manifest.model_for_file("scrfd/det_2.5g.onnx").is_some());
    }

    #[test]
    fn unknown_set_lists_known_ones() {
        let manifest = Manifest::built_in().unwrap();
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
        std::fs::write(&path, BUILT_IN).unwrap();
        let loaded = Manifest::load(Some(&path)).unwrap();
        assert_eq!(
            loaded.models().len(),
            Manifest::load(None).unwrap().models().len()
        );

        let missing = dir.path().join("nope.toml");
        let error = Manifest::load(Some(&missing)).unwrap_err();
        assert!(
            matches!(error, FetchError::ManifestRead { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("nope.toml"), "{error}");
    }

    #[test]
    fn malformed_toml_and_bad_checksums_are_rejected() {
        let error = Manifest::from_toml("[[model]]\nid = ", "broken").unwrap_err();
        assert!(
            matches!(error, FetchError::ManifestParse { .. }),
            "{error:?}"
        );
        let text = r#"
            [[model]]
            id = "m"
            file = "m.onnx"
            bytes = 1
            sha256 = "ABC"
            set = "s"
        "#;
        let error = Manifest::from_toml(text, "test").unwrap_err().to_string();
        assert!(error.contains("sha256"), "{error}");
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
