//! YuNet output decoding, as OpenCV's `FaceDetectorYN`: one anchor per cell,
//! score = sqrt(cls * obj), box centre offsets and log sizes in stride units.

use super::scrfd::Output;
use crate::geometry::{BBox, DetectedFace, Point};

const STRIDES: [usize; 3] = [8, 16, 32];

/// Decodes YuNet outputs (given with their names) for a `width` x `height` input.
pub(crate) fn decode(
    outputs: &[(String, Output)],
    width: usize,
    height: usize,
    threshold: f32,
) -> Vec<DetectedFace> {
    let mut faces = Vec::new();
    for stride in STRIDES {
        let cols = width / stride;
        let rows = height / stride;
        let n = cols * rows;
        let find = |prefix: &str, k: usize| {
            let name = format!("{prefix}_{stride}");
            outputs
                .iter()
                .find(|(o, t)| *o == name && t.data.len() == n * k)
                .map(|(_, t)| t)
        };
        let (Some(cls), Some(obj), Some(bbox), Some(kps)) = (
            find("cls", 1),
            find("obj", 1),
            find("bbox", 4),
            find("kps", 10),
        ) else {
            continue;
        };
        let s = stride as f32;
        for (i, (&c, &o)) in cls.data.iter().zip(obj.data.iter()).enumerate() {
            let score = (c.clamp(0.0, 1.0) * o.clamp(0.0, 1.0)).sqrt();
            if score < threshold {
                continue;
            }
            let col = (i % cols) as f32;
            let row = (i / cols) as f32;
            let (Some(&[bx, by, bw, bh]), Some(&[k0, k1, k2, k3, k4, k5, k6, k7, k8, k9])) = (
                bbox.data.get(i * 4..i * 4 + 4),
                kps.data.get(i * 10..i * 10 + 10),
            ) else {
                continue;
            };
            let cx = (col + bx) * s;
            let cy = (row + by) * s;
            let w = bw.exp() * s;
            let h = bh.exp() * s;
            let p = |kx: f32, ky: f32| Point {
                x: (kx + col) * s,
                y: (ky + row) * s,
            };
            faces.push(DetectedFace {
                bbox: BBox {
                    x: cx - w / 2.0,
                    y: cy - h / 2.0,
                    w,
                    h,
                },
                score,
                landmarks: [p(k0, k1), p(k2, k3), p(k4, k5), p(k6, k7), p(k8, k9)],
            });
        }
    }
    faces
}
