//! Engine configuration with defaults.

use std::path::PathBuf;

/// Upload limits, checked before any pixel is decoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Largest accepted file, in bytes.
    pub max_bytes: u64,
    /// Largest accepted image, in pixels (width x height).
    pub max_pixels: u64,
    /// Largest JPEG decoded at full size, in pixels; a larger one is decoded at 1/2 (1/4,
    /// 1/8) of its width and height by DCT scaling, to at most this many pixels (see
    /// [`crate::decode::decode`]).
    pub full_decode_pixels: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 15 * 1024 * 1024,
            max_pixels: 40_000_000,
            // 6000x4000: every phone photo (12 MP, 4032x3024), most cameras' too.
            full_decode_pixels: 24_000_000,
        }
    }
}

/// Detection settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectConfig {
    /// Minimum detector confidence for a face.
    pub score_threshold: f32,
    /// IoU above which overlapping detections are merged.
    pub nms_iou: f32,
    /// Margin added on every side of the image for the whole-image pass, as a fraction of the
    /// long side (lets the detector see a face that fills a tight crop).
    pub pad_fraction: f32,
    /// Smallest face width (original pixels) detection must find.
    pub min_face_px: f32,
    /// Width that smallest face must keep in the detector input (SCRFD's smallest anchor).
    pub min_face_in_model_px: f32,
    /// Largest detector input of one pass, in pixels: a larger fine pass is cut into
    /// overlapping strips. Bounds ONNX Runtime's memory: SCRFD-2.5G over 2016x1504 (a whole
    /// 4000x3000 photo at the fine scale) peaked ~290 MiB above the process, over 2016x832
    /// ~230 MiB; the default cuts a 12 MP photo into two such strips.
    pub max_pass_pixels: usize,
}

impl Default for DetectConfig {
    fn default() -> Self {
        Self {
            score_threshold: 0.5,
            nms_iou: 0.4,
            pad_fraction: 0.1,
            min_face_px: 32.0,
            min_face_in_model_px: 16.0,
            max_pass_pixels: 2016 * 832,
        }
    }
}

/// Enrolment quality gate thresholds.
///
/// The defaults were chosen with `examples/measure.rs` on `../shared/faces`: every `hard/`
/// photo labelled reject is rejected, the format variants are accepted, and 91% of the 368
/// `identities/` photos pass (the rest are mostly turned heads and real second people).
/// Measured on identities/ (95th percentile): |pose yaw| 25, |landmark yaw| 34, |eye roll| 11,
/// |pitch| 21; the pose model under-reads strong turns (a full profile reads ~46 degrees),
/// hence the keypoint-based yaw as a second opinion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityConfig {
    /// A second face counts only when at least this fraction of the largest face's width.
    pub other_face_min_ratio: f32,
    /// ... and at least this detection score.
    pub other_face_min_score: f32,
    /// ... and cut by the border by at most this fraction of its size.
    pub other_face_max_cut_off: f32,
    /// Smallest accepted face width, in original pixels.
    pub min_face_width: f32,
    /// How far (fraction of the box size) the face box may stick out of the image.
    pub max_cut_off: f32,
    /// Largest |yaw| in degrees (pose model).
    pub max_yaw: f32,
    /// Largest |yaw| estimated from the keypoints ([`crate::quality::landmark_yaw`]).
    pub max_landmark_yaw: f32,
    /// Largest |roll| of the eye line, in degrees.
    pub max_roll: f32,
    /// Largest |pitch| in degrees.
    pub max_pitch: f32,
    /// Smallest variance of the Laplacian of the aligned grey face.
    pub min_sharpness: f32,
    /// Smallest mean grey level (0..255) of the aligned face.
    pub min_brightness: f32,
    /// Smallest mean grey level (0..255) of the whole photo (a lit face in a dark scene).
    pub min_image_brightness: f32,
    /// Largest mean grey level (0..255) of the aligned face.
    pub max_brightness: f32,
    /// Smallest detection score of the enrolled face.
    pub min_detection_score: f32,
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self {
            other_face_min_ratio: 1.0 / 3.0,
            other_face_min_score: 0.75,
            other_face_max_cut_off: 0.1,
            min_face_width: 60.0,
            max_cut_off: 0.0,
            max_yaw: 28.0,
            max_landmark_yaw: 50.0,
            max_roll: 16.0,
            max_pitch: 30.0,
            min_sharpness: 40.0,
            min_brightness: 50.0,
            min_image_brightness: 27.0,
            max_brightness: 220.0,
            min_detection_score: 0.65,
        }
    }
}

/// Matching thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchConfig {
    /// Minimum cosine similarity for a match (a student marked present); `None` = the
    /// recognizer's manifest `present_threshold`.
    pub threshold: Option<f32>,
    /// Minimum cosine similarity for a suggestion: a face below the match threshold but at or
    /// above this one is reported with the student it most likely is, for the teacher to
    /// confirm; `None` = the recognizer's manifest `threshold` (its FAR 1e-3 point).
    pub review_threshold: Option<f32>,
    /// Minimum gap between the matched student and the face's best other student.
    pub margin: f32,
}

impl Default for MatchConfig {
    fn default() -> Self {
        Self {
            threshold: None,
            review_threshold: None,
            margin: 0.05,
        }
    }
}

/// Everything [`crate::Engine::load`] needs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Directory holding the model files named in the manifest.
    pub model_dir: PathBuf,
    /// Manifest file overriding the embedded one.
    pub manifest_path: Option<PathBuf>,
    /// Detector model id.
    pub detector: String,
    /// Recognizer model id.
    pub recognizer: String,
    /// Head-pose model id (`None`: roll from the eye line only, yaw and pitch unchecked).
    pub pose: Option<String>,
    /// ONNX Runtime intra-op threads per session (`None`: number of cores).
    pub threads: Option<usize>,
    /// Upload limits.
    pub limits: Limits,
    /// Detection settings.
    pub detect: DetectConfig,
    /// Enrolment quality gate.
    pub quality: QualityConfig,
    /// Matching thresholds.
    pub matching: MatchConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            model_dir: PathBuf::from("models"),
            manifest_path: None,
            detector: "scrfd_2.5g".to_owned(),
            recognizer: "faceplugin_fr_feature_512".to_owned(),
            pose: Some("faceplugin_fr_pose".to_owned()),
            threads: None,
            limits: Limits::default(),
            detect: DetectConfig::default(),
            quality: QualityConfig::default(),
            matching: MatchConfig::default(),
        }
    }
}
