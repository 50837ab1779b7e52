//! Boxes, points, detected faces and non-maximum suppression.

use serde::Serialize;

/// An axis-aligned box in original-image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BBox {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl BBox {
    /// Box from two corners.
    pub fn from_corners(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self {
            x: x1,
            y: y1,
            w: (x2 - x1).max(0.0),
            h: (y2 - y1).max(0.0),
        }
    }

    /// Right edge.
    pub fn x2(&self) -> f32 {
        self.x + self.w
    }

    /// Bottom edge.
    pub fn y2(&self) -> f32 {
        self.y + self.h
    }

    /// Area.
    pub fn area(&self) -> f32 {
        self.w * self.h
    }

    /// Centre point.
    pub fn center(&self) -> Point {
        Point {
            x: self.x + self.w / 2.0,
            y: self.y + self.h / 2.0,
        }
    }

    /// Intersection over union.
    pub fn iou(&self, other: &Self) -> f32 {
        let iw = (self.x2().min(other.x2()) - self.x.max(other.x)).max(0.0);
        let ih = (self.y2().min(other.y2()) - self.y.max(other.y)).max(0.0);
        let inter = iw * ih;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// The box scaled about the origin and shifted: `p * scale + offset`.
    pub fn map(&self, scale: f32, dx: f32, dy: f32) -> Self {
        Self {
            x: self.x * scale + dx,
            y: self.y * scale + dy,
            w: self.w * scale,
            h: self.h * scale,
        }
    }
}

/// A 2-D point in original-image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Point {
    /// Horizontal position.
    pub x: f32,
    /// Vertical position.
    pub y: f32,
}

/// One detected face: box, confidence and five keypoints (left eye, right eye, nose, left
/// mouth corner, right mouth corner, from the viewer's side).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DetectedFace {
    /// Face box.
    pub bbox: BBox,
    /// Detector confidence in 0..1.
    pub score: f32,
    /// Five keypoints.
    pub landmarks: [Point; 5],
}

impl DetectedFace {
    /// The face mapped by `p * scale + offset` (model input -> original image).
    pub fn map(&self, scale: f32, dx: f32, dy: f32) -> Self {
        Self {
            bbox: self.bbox.map(scale, dx, dy),
            score: self.score,
            landmarks: self.landmarks.map(|p| Point {
                x: p.x * scale + dx,
                y: p.y * scale + dy,
            }),
        }
    }

    /// Roll angle of the eye line, in degrees (positive: clockwise in the image).
    pub fn eye_roll_degrees(&self) -> f32 {
        let [l, r, ..] = self.landmarks;
        (r.y - l.y).atan2(r.x - l.x).to_degrees()
    }
}

/// Greedy non-maximum suppression: keeps the best-scoring face of every group overlapping by
/// more than `iou`. Returns faces sorted by descending score.
pub fn nms(mut faces: Vec<DetectedFace>, iou: f32) -> Vec<DetectedFace> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<DetectedFace> = Vec::with_capacity(faces.len());
    for face in faces {
        if kept.iter().all(|k| k.bbox.iou(&face.bbox) <= iou) {
            kept.push(face);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, s: f32, score: f32) -> DetectedFace {
        DetectedFace {
            bbox: BBox { x, y, w: s, h: s },
            score,
            landmarks: [Point::default(); 5],
        }
    }

    #[test]
    fn iou_of_identical_and_disjoint_boxes() {
        let a = BBox {
            x: 0.0,
            y: 0.0,
            w: 10.0,
            h: 10.0,
        };
        assert!((a.iou(&a) - 1.0).abs() < 1e-6);
        let b = BBox {
            x: 20.0,
            y: 0.0,
            w: 10.0,
            h: 10.0,
        };
        assert_eq!(a.iou(&b), 0.0);
        let c = BBox {
            x: 5.0,
            y: 0.0,
            w: 10.0,
            h: 10.0,
        };
        assert!((a.iou(&c) - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn nms_keeps_best_of_overlapping() {
        let kept = nms(
            vec![
                face(0.0, 0.0, 10.0, 0.6),
                face(1.0, 1.0, 10.0, 0.9),
                face(50.0, 50.0, 10.0, 0.7),
            ],
            0.4,
        );
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].score, 0.9);
        assert_eq!(kept[1].score, 0.7);
    }
}
