//! The enrolment quality gate: every failed check is reported with its measured value and
//! the configured limit.

use image::RgbImage;
use serde::Serialize;

use crate::config::QualityConfig;
use crate::geometry::DetectedFace;
pub use crate::issue::{QualityIssue, ReasonCode};
use crate::pose::HeadPose;

/// Everything the gate measured on the enrolled face.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct QualityMetrics {
    /// Faces counted as significant (see [`QualityConfig::other_face_min_ratio`]).
    pub significant_faces: usize,
    /// All faces detected.
    pub detected_faces: usize,
    /// Face box width in pixels.
    pub face_width: f32,
    /// Fraction of the box size outside the image (0 when inside).
    pub cut_off: f32,
    /// Head pose from the pose model (zero when no pose model is loaded).
    pub pose: HeadPose,
    /// Roll of the eye line in degrees.
    pub eye_roll: f32,
    /// Yaw from the keypoints ([`landmark_yaw`]).
    pub landmark_yaw: f32,
    /// Variance of the Laplacian of the aligned grey face.
    pub sharpness: f32,
    /// Mean grey level of the aligned face.
    pub brightness: f32,
    /// Mean grey level of the whole photo.
    pub image_brightness: f32,
    /// Detection score.
    pub score: f32,
}

/// The gate's verdict.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct QualityReport {
    /// Measurements.
    pub metrics: QualityMetrics,
    /// Failed checks (empty: accepted).
    pub issues: Vec<QualityIssue>,
}

impl QualityReport {
    /// True when no check failed.
    pub fn passed(&self) -> bool {
        self.issues.is_empty()
    }
}

/// Faces that count for MULTIPLE_FACES: the largest, and others not much smaller, confidently
/// detected and not cut by the border (a passer-by half out of the picture does not count).
pub fn significant_faces<'a>(
    faces: &'a [DetectedFace],
    image_size: (u32, u32),
    cfg: &QualityConfig,
) -> Vec<&'a DetectedFace> {
    let Some(primary) = primary_face(faces) else {
        return Vec::new();
    };
    let largest = faces.get(primary).map(|f| f.bbox.w).unwrap_or(0.0);
    faces
        .iter()
        .enumerate()
        .filter(|&(i, f)| {
            i == primary
                || (f.bbox.w >= largest * cfg.other_face_min_ratio
                    && f.score >= cfg.other_face_min_score
                    && cut_off(f, image_size.0, image_size.1) <= cfg.other_face_max_cut_off)
        })
        .map(|(_, f)| f)
        .collect()
}

/// Yaw estimated from the five keypoints: how far the nose sits from the middle of the eyes,
/// along the eye line, relative to half the eye distance, as `asin` in degrees (0 frontal,
/// 90 when the nose is in line with an eye). Coarse, but independent of the pose model.
pub fn landmark_yaw(face: &DetectedFace) -> f32 {
    let [l, r, nose, ..] = face.landmarks;
    let (ex, ey) = (r.x - l.x, r.y - l.y);
    let dist = (ex * ex + ey * ey).sqrt();
    if dist <= f32::EPSILON {
        return 90.0;
    }
    let (mx, my) = ((l.x + r.x) / 2.0, (l.y + r.y) / 2.0);
    let along = ((nose.x - mx) * ex + (nose.y - my) * ey) / dist;
    (along / (dist / 2.0)).clamp(-1.0, 1.0).asin().to_degrees()
}

/// Index of the face to enrol: the largest.
pub fn primary_face(faces: &[DetectedFace]) -> Option<usize> {
    faces
        .iter()
        .enumerate()
        .max_by(|(_, a), (_, b)| a.bbox.area().total_cmp(&b.bbox.area()))
        .map(|(i, _)| i)
}

/// Fraction of the face box outside the image (largest over the four sides).
pub fn cut_off(face: &DetectedFace, width: u32, height: u32) -> f32 {
    let b = face.bbox;
    let (w, h) = (width as f32, height as f32);
    let left = (-b.x).max(0.0) / b.w.max(1.0);
    let top = (-b.y).max(0.0) / b.h.max(1.0);
    let right = (b.x2() - w).max(0.0) / b.w.max(1.0);
    let bottom = (b.y2() - h).max(0.0) / b.h.max(1.0);
    left.max(top).max(right).max(bottom)
}

/// Grey levels (BT.601) of an RGB image.
fn grey(image: &RgbImage) -> Vec<f32> {
    image
        .as_raw()
        .chunks_exact(3)
        .map(|p| match *p {
            [r, g, b] => 0.299 * f32::from(r) + 0.587 * f32::from(g) + 0.114 * f32::from(b),
            _ => 0.0,
        })
        .collect()
}

/// Variance of the 4-neighbour Laplacian and mean grey level over the central part of an
/// aligned face (the outer eighth is skipped: background and warp border).
pub fn sharpness_and_brightness(aligned: &RgbImage) -> (f32, f32) {
    let (w, h) = (aligned.width() as usize, aligned.height() as usize);
    let g = grey(aligned);
    let (x0, x1) = (w / 8, w - w / 8);
    let (y0, y1) = (h / 8, h - h / 8);
    let mut sum = 0.0f64;
    let mut sum_sq = 0.0f64;
    let mut lum = 0.0f64;
    let mut n = 0usize;
    for y in y0.max(1)..y1.min(h.saturating_sub(1)) {
        let (Some(up), Some(row), Some(down)) = (
            g.get((y - 1) * w..y * w),
            g.get(y * w..(y + 1) * w),
            g.get((y + 1) * w..(y + 2) * w),
        ) else {
            continue;
        };
        for x in x0.max(1)..x1.min(w.saturating_sub(1)) {
            let (Some(&c), Some(&l), Some(&r), Some(&u), Some(&d)) = (
                row.get(x),
                row.get(x - 1),
                row.get(x + 1),
                up.get(x),
                down.get(x),
            ) else {
                continue;
            };
            let lap = f64::from(l + r + u + d - 4.0 * c);
            sum += lap;
            sum_sq += lap * lap;
            lum += f64::from(c);
            n += 1;
        }
    }
    if n == 0 {
        return (0.0, 0.0);
    }
    let nf = n as f64;
    let mean = sum / nf;
    ((sum_sq / nf - mean * mean) as f32, (lum / nf) as f32)
}

/// Mean grey level of an image, sampled on a grid of at most ~65k pixels.
pub fn mean_brightness(image: &RgbImage) -> f32 {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let step = ((w * h) as f64 / 65_536.0).sqrt().ceil().max(1.0) as usize;
    let raw = image.as_raw();
    let (mut sum, mut n) = (0.0f64, 0usize);
    for y in (0..h).step_by(step) {
        for x in (0..w).step_by(step) {
            let i = (y * w + x) * 3;
            if let Some(&[r, g, b]) = raw.get(i..i + 3) {
                sum += 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b);
                n += 1;
            }
        }
    }
    if n == 0 { 0.0 } else { (sum / n as f64) as f32 }
}

/// Runs every check on the enrolled face and collects the failures.
pub fn assess(
    faces: &[DetectedFace],
    face: &DetectedFace,
    image: &RgbImage,
    pose: Option<HeadPose>,
    aligned: &RgbImage,
    cfg: &QualityConfig,
) -> QualityReport {
    let significant = significant_faces(faces, (image.width(), image.height()), cfg).len();
    let (sharpness, brightness) = sharpness_and_brightness(aligned);
    let metrics = QualityMetrics {
        significant_faces: significant,
        detected_faces: faces.len(),
        face_width: face.bbox.w,
        cut_off: cut_off(face, image.width(), image.height()),
        pose: pose.unwrap_or_default(),
        eye_roll: face.eye_roll_degrees(),
        landmark_yaw: landmark_yaw(face),
        sharpness,
        brightness,
        image_brightness: mean_brightness(image),
        score: face.score,
    };
    let mut issues = Vec::new();
    let mut check = |failed: bool, code, value: f32, limit: f32| {
        if failed {
            issues.push(QualityIssue { code, value, limit });
        }
    };
    check(
        significant > 1,
        ReasonCode::MultipleFaces,
        significant as f32,
        1.0,
    );
    check(
        metrics.face_width < cfg.min_face_width,
        ReasonCode::FaceTooSmall,
        metrics.face_width,
        cfg.min_face_width,
    );
    check(
        metrics.cut_off > cfg.max_cut_off,
        ReasonCode::FaceCutOff,
        metrics.cut_off,
        cfg.max_cut_off,
    );
    let lm_yaw = metrics.landmark_yaw;
    if lm_yaw.abs() > cfg.max_landmark_yaw {
        check(true, ReasonCode::HeadTurned, lm_yaw, cfg.max_landmark_yaw);
    } else if let Some(p) = pose {
        check(
            p.yaw.abs() > cfg.max_yaw,
            ReasonCode::HeadTurned,
            p.yaw,
            cfg.max_yaw,
        );
    }
    if let Some(p) = pose {
        check(
            p.pitch.abs() > cfg.max_pitch,
            ReasonCode::HeadUpDown,
            p.pitch,
            cfg.max_pitch,
        );
    }
    let roll = metrics.eye_roll;
    check(
        roll.abs() > cfg.max_roll,
        ReasonCode::HeadTilted,
        roll,
        cfg.max_roll,
    );
    check(
        sharpness < cfg.min_sharpness,
        ReasonCode::TooBlurry,
        sharpness,
        cfg.min_sharpness,
    );
    if brightness < cfg.min_brightness {
        check(true, ReasonCode::TooDark, brightness, cfg.min_brightness);
    } else {
        let scene = metrics.image_brightness;
        check(
            scene < cfg.min_image_brightness,
            ReasonCode::TooDark,
            scene,
            cfg.min_image_brightness,
        );
    }
    check(
        brightness > cfg.max_brightness,
        ReasonCode::TooBright,
        brightness,
        cfg.max_brightness,
    );
    check(
        face.score < cfg.min_detection_score,
        ReasonCode::LowDetectionScore,
        face.score,
        cfg.min_detection_score,
    );
    QualityReport { metrics, issues }
}

/// The report for a photo with no face at all.
pub fn no_face() -> QualityReport {
    QualityReport {
        metrics: QualityMetrics::default(),
        issues: vec![QualityIssue {
            code: ReasonCode::NoFace,
            value: 0.0,
            limit: 1.0,
        }],
    }
}
