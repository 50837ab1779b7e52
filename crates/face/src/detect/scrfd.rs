//! SCRFD output decoding: three strides, two anchors per cell, distances and keypoint offsets
//! in stride units.

use crate::geometry::{BBox, DetectedFace, Point};

/// One raw output tensor: shape and data.
pub(crate) struct Output {
    pub shape: Vec<i64>,
    pub data: Vec<f32>,
}

impl Output {
    fn last_dim(&self) -> usize {
        self.shape.last().map(|&d| d.max(0) as usize).unwrap_or(0)
    }
}

const STRIDES: [usize; 3] = [8, 16, 32];
const ANCHORS: usize = 2;

/// Decodes SCRFD outputs for an input of `width` x `height` into faces in input pixels.
pub(crate) fn decode(
    outputs: &[Output],
    width: usize,
    height: usize,
    threshold: f32,
) -> Vec<DetectedFace> {
    let mut faces = Vec::new();
    for stride in STRIDES {
        let cols = width / stride;
        let rows = height / stride;
        let n = cols * rows * ANCHORS;
        let find = |k: usize| {
            outputs
                .iter()
                .find(|o| o.last_dim() == k && o.data.len() == n * k)
        };
        let (Some(scores), Some(boxes), Some(kps)) = (find(1), find(4), find(10)) else {
            continue;
        };
        let s = stride as f32;
        for (i, &score) in scores.data.iter().enumerate() {
            if score < threshold {
                continue;
            }
            let cell = i / ANCHORS;
            let cx = (cell % cols) as f32 * s;
            let cy = (cell / cols) as f32 * s;
            let (Some(d), Some(k)) = (
                boxes.data.get(i * 4..i * 4 + 4),
                kps.data.get(i * 10..i * 10 + 10),
            ) else {
                continue;
            };
            let (&[l, t, r, b], &[k0, k1, k2, k3, k4, k5, k6, k7, k8, k9]) = (d, k) else {
                continue;
            };
            let p = |dx: f32, dy: f32| Point {
                x: cx + dx * s,
                y: cy + dy * s,
            };
            faces.push(DetectedFace {
                bbox: BBox::from_corners(cx - l * s, cy - t * s, cx + r * s, cy + b * s),
                score,
                landmarks: [p(k0, k1), p(k2, k3), p(k4, k5), p(k6, k7), p(k8, k9)],
            });
        }
    }
    faces
}
