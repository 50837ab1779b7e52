//! The engine: models loaded once, the public pipeline entry points.

use image::{DynamicImage, RgbImage};
use serde::Serialize;

use crate::config::{EngineConfig, MatchConfig};
use crate::decode::{decode, to_rgb};
use crate::detect::Detector;
use crate::embed::Recognizer;
use crate::error::FaceError;
use crate::geometry::{BBox, DetectedFace, Point};
use crate::manifest::{Manifest, ModelSpec, Role, verify_model_file};
use crate::matching::{FaceMatch, MatchParams, RosterItem, match_faces};
use crate::pose::{HeadPose, PoseEstimator};
use crate::quality::{self, QualityReport};
use crate::runtime::default_threads;

/// A face found by [`Engine::analyze`], with its embedding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaceEmbedding {
    /// Face box in original-image pixels.
    pub bbox: BBox,
    /// Detector confidence.
    pub score: f32,
    /// Five keypoints in original-image pixels.
    pub landmarks: [Point; 5],
    /// L2-normalised embedding.
    pub embedding: Vec<f32>,
}

/// All faces of a photo.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// Image width after EXIF orientation.
    pub width: u32,
    /// Image height after EXIF orientation.
    pub height: u32,
    /// Faces, by descending detection score.
    pub faces: Vec<FaceEmbedding>,
}

/// A photo accepted for enrolment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Enrolment {
    /// L2-normalised embedding of the enrolled face.
    pub embedding: Vec<f32>,
    /// The enrolled face.
    pub face: DetectedFace,
    /// What the quality gate measured.
    pub quality: QualityReport,
    /// The face aligned to the recognizer's template (what was embedded), e.g. 112x112.
    #[serde(skip)]
    pub aligned: RgbImage,
}

/// The quality gate's findings on a photo, before any decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    /// What was measured and which checks failed.
    pub report: QualityReport,
    /// The face that would be enrolled (the largest), when there is one.
    pub face: Option<DetectedFace>,
    /// Its embedding.
    pub embedding: Option<Vec<f32>>,
    /// Its aligned crop (what was embedded).
    #[serde(skip)]
    pub aligned: Option<RgbImage>,
}

/// The face engine. `Send + Sync`; models are loaded once and shared.
pub struct Engine {
    config: EngineConfig,
    detector: Detector,
    recognizer: Recognizer,
    pose: Option<PoseEstimator>,
}

impl Engine {
    /// Loads and verifies the configured models.
    pub fn load(config: &EngineConfig) -> Result<Self, FaceError> {
        let manifest = manifest(config)?;
        let threads = config.threads.unwrap_or_else(default_threads).max(1);
        let det_spec = manifest.model(&config.detector, Role::Detector)?;
        let rec_spec = manifest.model(&config.recognizer, Role::Recognizer)?;
        let pose_spec = config
            .pose
            .as_deref()
            .map(|id| manifest.model(id, Role::Pose))
            .transpose()?;
        // Verify every file before loading any, so one error lists the first missing file.
        let det_path = verify_model_file(&config.model_dir, det_spec)?;
        let rec_path = verify_model_file(&config.model_dir, rec_spec)?;
        let pose_path = pose_spec
            .map(|spec| verify_model_file(&config.model_dir, spec))
            .transpose()?;
        let detector = Detector::load(det_spec, &det_path, threads)?;
        let recognizer = Recognizer::load(rec_spec, &rec_path, threads)?;
        let pose = match (pose_spec, pose_path) {
            (Some(spec), Some(path)) => Some(PoseEstimator::load(spec, &path, threads)?),
            _ => None,
        };
        tracing::info!(
            detector = detector.id(),
            recognizer = recognizer.id(),
            pose = pose.is_some(),
            threads,
            "face engine loaded"
        );
        Ok(Self {
            config: config.clone(),
            detector,
            recognizer,
            pose,
        })
    }

    /// The recognizer model id, to store next to embeddings.
    pub fn recognizer_id(&self) -> &str {
        self.recognizer.id()
    }

    /// The detector model id.
    pub fn detector_id(&self) -> &str {
        self.detector.id()
    }

    /// The configuration the engine was loaded with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The detector.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// The recognizer.
    pub fn recognizer(&self) -> &Recognizer {
        &self.recognizer
    }

    /// Stage 1: decodes an upload within the configured limits.
    pub fn decode(&self, bytes: &[u8]) -> Result<RgbImage, FaceError> {
        decode(bytes, &self.config.limits)
    }

    /// Stage 2: detects faces (passes planned from the photo's size), by descending score.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<DetectedFace>, FaceError> {
        self.detector.detect(image, &self.config.detect)
    }

    /// Stage 3: aligns and embeds faces.
    pub fn embed(
        &self,
        image: &RgbImage,
        faces: &[DetectedFace],
    ) -> Result<Vec<Vec<f32>>, FaceError> {
        self.recognizer.embed(image, faces)
    }

    /// Head pose of a face, when a pose model is loaded.
    pub fn head_pose(
        &self,
        image: &RgbImage,
        face: &DetectedFace,
    ) -> Result<Option<HeadPose>, FaceError> {
        self.pose
            .as_ref()
            .map(|p| p.estimate(image, &face.bbox))
            .transpose()
    }

    /// Matching thresholds: the configured ones, the recognizer's manifest thresholds
    /// otherwise. The suggestion floor never exceeds the match threshold.
    pub fn match_params(&self) -> MatchParams {
        match_params(&self.config.matching, self.recognizer.spec())
    }

    /// [`Engine::match_params`] of an engine `config` would load, from the manifest alone.
    pub fn match_params_of(config: &EngineConfig) -> Result<MatchParams, FaceError> {
        let manifest = manifest(config)?;
        let spec = manifest.model(&config.recognizer, Role::Recognizer)?;
        Ok(match_params(&config.matching, spec))
    }

    /// Stage 4: matches face embeddings against a roster.
    pub fn match_faces<F: AsRef<[f32]>>(
        &self,
        faces: &[F],
        roster: &[RosterItem<'_>],
    ) -> Vec<FaceMatch> {
        match_faces(faces, roster, &self.match_params())
    }

    /// Decodes a photo and returns every face with its embedding.
    pub fn analyze(&self, bytes: &[u8]) -> Result<Analysis, FaceError> {
        let image = self.decode(bytes)?;
        self.analyze_rgb(&image)
    }

    /// Like [`Engine::analyze`] for an already decoded image.
    pub fn analyze_image(&self, image: &DynamicImage) -> Result<Analysis, FaceError> {
        self.analyze_rgb(&to_rgb(image.clone()))
    }

    /// Like [`Engine::analyze`] for an RGB image.
    pub fn analyze_rgb(&self, image: &RgbImage) -> Result<Analysis, FaceError> {
        let faces = self.detect(image)?;
        let embeddings = self.embed(image, &faces)?;
        Ok(Analysis {
            width: image.width(),
            height: image.height(),
            faces: faces
                .into_iter()
                .zip(embeddings)
                .map(|(f, embedding)| FaceEmbedding {
                    bbox: f.bbox,
                    score: f.score,
                    landmarks: f.landmarks,
                    embedding,
                })
                .collect(),
        })
    }

    /// Decodes an enrolment photo, runs the quality gate and embeds the face.
    /// A failed gate is `Err(FaceError::Rejected(issues))`.
    pub fn enrol(&self, bytes: &[u8]) -> Result<Enrolment, FaceError> {
        let image = self.decode(bytes)?;
        self.enrol_rgb(&image)
    }

    /// Like [`Engine::enrol`] for an RGB image.
    pub fn enrol_rgb(&self, image: &RgbImage) -> Result<Enrolment, FaceError> {
        let Assessment {
            report,
            face,
            embedding,
            aligned,
        } = self.assess(image)?;
        match (face, embedding, aligned) {
            (Some(face), Some(embedding), Some(aligned)) if report.passed() => Ok(Enrolment {
                embedding,
                face,
                quality: report,
                aligned,
            }),
            _ => Err(FaceError::Rejected(report.issues)),
        }
    }

    /// The quality gate's findings on one of the `faces` found in `image` (aligns it, estimates
    /// its head pose, measures), and its aligned crop.
    pub fn assess_face(
        &self,
        image: &RgbImage,
        faces: &[DetectedFace],
        face: &DetectedFace,
    ) -> Result<(QualityReport, RgbImage), FaceError> {
        let aligned = self.recognizer.align(image, face)?;
        let pose = self.head_pose(image, face)?;
        let report = quality::assess(faces, face, image, pose, &aligned, &self.config.quality);
        Ok((report, aligned))
    }

    /// Runs the quality gate without deciding.
    pub fn assess(&self, image: &RgbImage) -> Result<Assessment, FaceError> {
        let faces = self.detector.detect_enrolment(
            image,
            &self.config.detect,
            self.config.quality.min_face_width,
        )?;
        let Some(face) = quality::primary_face(&faces)
            .and_then(|i| faces.get(i))
            .copied()
        else {
            return Ok(Assessment {
                report: quality::no_face(),
                face: None,
                embedding: None,
                aligned: None,
            });
        };
        let (report, aligned) = self.assess_face(image, &faces, &face)?;
        let embedding = self
            .recognizer
            .embed_aligned(std::slice::from_ref(&aligned))?
            .into_iter()
            .next()
            .ok_or_else(|| FaceError::Runtime("recognizer returned no embedding".into()))?;
        Ok(Assessment {
            report,
            face: Some(face),
            embedding: Some(embedding),
            aligned: Some(aligned),
        })
    }
}

/// The embedded manifest, or the one `config` names.
fn manifest(config: &EngineConfig) -> Result<Manifest, FaceError> {
    Ok(match &config.manifest_path {
        Some(path) => Manifest::from_path(path)?,
        None => Manifest::embedded()?,
    })
}

/// `matching`'s thresholds, else the recognizer's from the manifest: `threshold` (0.4 when
/// absent) for suggestions, `present_threshold` (never below it) for marking present.
fn match_params(matching: &MatchConfig, recognizer: &ModelSpec) -> MatchParams {
    let floor = recognizer.threshold.unwrap_or(0.4);
    let present = recognizer.present_threshold.unwrap_or(floor).max(floor);
    let threshold = matching.threshold.unwrap_or(present);
    MatchParams {
        threshold,
        review_threshold: matching.review_threshold.unwrap_or(floor).min(threshold),
        margin: matching.margin,
        centroid_offset: recognizer
            .centroid_offset
            .filter(|c| c.is_finite() && *c >= 0.0)
            .unwrap_or(0.0),
    }
}
