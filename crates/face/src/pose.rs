//! Head pose (yaw, pitch, roll) with the Hopenet-style `fr_pose` model: 66 bins of 3 degrees
//! per angle, softmax expectation * 3 - 99.
//!
//! Crop rule (from `lib/fr_pose.js` of `faceplugin-face-recognition-js@0.0.1`): the face box
//! enlarged by a quarter of its size on every side, clamped to the image, resized to 224x224,
//! normalised with the ImageNet mean and standard deviation.

use std::sync::Mutex;

use image::RgbImage;
use ort::session::Session;
use ort::value::TensorRef;
use serde::Serialize;

use crate::error::FaceError;
use crate::geometry::BBox;
use crate::manifest::{Arch, ColorOrder, ModelSpec};
use crate::resample::{Rect, resize_region};

const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
const BINS: usize = 66;

/// Head orientation in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct HeadPose {
    /// Left/right turn.
    pub yaw: f32,
    /// Up/down.
    pub pitch: f32,
    /// In-plane tilt.
    pub roll: f32,
}

/// A loaded head-pose model.
pub struct PoseEstimator {
    spec: ModelSpec,
    session: Mutex<Session>,
}

impl PoseEstimator {
    /// Loads the pose model at `path`.
    pub fn load(
        spec: &ModelSpec,
        path: &std::path::Path,
        threads: usize,
    ) -> Result<Self, FaceError> {
        if spec.arch != Arch::Hopenet66 {
            return Err(FaceError::Config(format!(
                "model {} is not a head-pose model",
                spec.id
            )));
        }
        Ok(Self {
            spec: spec.clone(),
            session: Mutex::new(crate::runtime::session(
                path,
                spec.optimization,
                threads,
                false,
            )?),
        })
    }

    /// The crop the model sees for a face box.
    pub fn crop_rect(image: &RgbImage, bbox: &BBox) -> Rect {
        let (w, h) = (f64::from(image.width()), f64::from(image.height()));
        let x1 = (f64::from(bbox.x) - f64::from(bbox.w) / 4.0).max(0.0);
        let y1 = (f64::from(bbox.y) - f64::from(bbox.h) / 4.0).max(0.0);
        let x2 = (f64::from(bbox.x2()) + f64::from(bbox.w) / 4.0).min(w);
        let y2 = (f64::from(bbox.y2()) + f64::from(bbox.h) / 4.0).min(h);
        Rect {
            x: x1,
            y: y1,
            w: (x2 - x1).max(1.0),
            h: (y2 - y1).max(1.0),
        }
    }

    /// Estimates the head pose of the face in `bbox`.
    pub fn estimate(&self, image: &RgbImage, bbox: &BBox) -> Result<HeadPose, FaceError> {
        let (w, h) = (self.spec.input_size[0], self.spec.input_size[1]);
        let crop = resize_region(image, Self::crop_rect(image, bbox), w, h)?;
        let plane = (w * h) as usize;
        let mut input = vec![0.0f32; 3 * plane];
        let order: [usize; 3] = match self.spec.color {
            ColorOrder::Rgb => [0, 1, 2],
            ColorOrder::Bgr => [2, 1, 0],
        };
        for (i, px) in crop.as_raw().chunks_exact(3).enumerate() {
            for (c, &src) in order.iter().enumerate() {
                let v = f32::from(px.get(src).copied().unwrap_or(0)) / 255.0;
                if let (Some(dst), Some(m), Some(s)) = (
                    input.get_mut(c * plane + i),
                    IMAGENET_MEAN.get(c),
                    IMAGENET_STD.get(c),
                ) {
                    *dst = (v - m) / s;
                }
            }
        }
        let tensor =
            TensorRef::from_array_view(([1usize, 3, h as usize, w as usize], input.as_slice()))?;
        let mut session = self
            .session
            .lock()
            .map_err(|_| FaceError::Runtime("pose session lock poisoned".into()))?;
        let outputs = session.run(ort::inputs![tensor])?;
        let mut angles = Vec::with_capacity(3);
        for (_, value) in outputs.iter() {
            let (_, data) = value.try_extract_tensor::<f32>()?;
            if data.len() != BINS {
                return Err(FaceError::Runtime(format!(
                    "pose output has {} bins, expected {BINS}",
                    data.len()
                )));
            }
            angles.push(expected_angle(data));
        }
        match angles.as_slice() {
            [yaw, pitch, roll] => Ok(HeadPose {
                yaw: *yaw,
                pitch: *pitch,
                roll: *roll,
            }),
            _ => Err(FaceError::Runtime(
                "pose model must have three outputs".into(),
            )),
        }
    }
}

/// Softmax expectation over 66 bins, in degrees.
fn expected_angle(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    let expectation: f32 = exps
        .iter()
        .enumerate()
        .map(|(i, e)| i as f32 * e)
        .sum::<f32>()
        / sum;
    expectation * 3.0 - 99.0
}
