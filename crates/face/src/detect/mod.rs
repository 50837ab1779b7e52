//! Face detection: a whole-image pass plus, for large images, overlapping tiles; merged by NMS.
//!
//! Tiling. A classroom photo is ~12 MP with faces down to ~32 px, while one pass of the
//! detector at 640 px on the long side shrinks such a face to ~5 px, below what any of the
//! detectors find. So, besides the whole-image pass (which finds the large faces, and sees a
//! face that fills a tight crop thanks to a margin), the image is downscaled so that the
//! smallest wanted face (`min_face_px`, 32) keeps `min_face_in_model_px` (16) pixels, and cut
//! into tiles of the detector's input size that overlap by more than the largest face the
//! whole-image pass could miss. A detection touching an inner tile edge is dropped (the
//! overlapping tile sees that face whole). Cost is bounded by `max_tiles` (16 by default, i.e.
//! 12 tiles for 4000x3000): when more would be needed, the tile pass works on a smaller image.

mod scrfd;
mod yunet;

use std::sync::Mutex;

use image::RgbImage;
use ort::session::Session;
use ort::value::TensorRef;

use crate::config::DetectConfig;
use crate::error::FaceError;
use crate::geometry::{DetectedFace, nms};
use crate::manifest::{Arch, ModelSpec};
use crate::resample::{Normalize, Rect, pack_chw, resize_region};
use scrfd::Output;

/// A loaded face detector (SCRFD or YuNet).
pub struct Detector {
    spec: ModelSpec,
    session: Mutex<Session>,
    /// Input size when the graph has fixed spatial dimensions.
    fixed: Option<(usize, usize)>,
}

/// One detector pass: a source rectangle resampled into a canvas of the model's input size.
#[derive(Debug, Clone, Copy)]
pub struct Pass {
    /// Source rectangle in image pixels.
    pub src: Rect,
    /// Size of the resampled region in the canvas.
    pub dst: (u32, u32),
    /// Where the region sits in the canvas.
    pub offset: (u32, u32),
    /// Canvas (model input) size.
    pub canvas: (u32, u32),
    /// Which canvas edges (left, top, right, bottom) cut through the image: detections
    /// touching them are dropped.
    pub inner_edges: [bool; 4],
}

impl Detector {
    /// Loads the detector model at `path`.
    pub fn load(
        spec: &ModelSpec,
        path: &std::path::Path,
        threads: usize,
    ) -> Result<Self, FaceError> {
        if !matches!(spec.arch, Arch::Scrfd | Arch::Yunet) {
            return Err(FaceError::Config(format!(
                "model {} is not a detector",
                spec.id
            )));
        }
        let session = crate::runtime::session(path, spec.optimization, threads)?;
        let fixed = session.inputs().first().and_then(|input| {
            let shape = input.dtype().tensor_shape()?;
            match shape.iter().as_slice() {
                [_, _, h, w] if *h > 0 && *w > 0 => Some((*w as usize, *h as usize)),
                _ => None,
            }
        });
        Ok(Self {
            spec: spec.clone(),
            session: Mutex::new(session),
            fixed,
        })
    }

    /// The model id.
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    fn input_size(&self) -> (u32, u32) {
        match self.fixed {
            Some((w, h)) => (w as u32, h as u32),
            None => (self.spec.input_size[0], self.spec.input_size[1]),
        }
    }

    /// The passes [`Detector::detect`] runs on a `width` x `height` image.
    pub fn plan(&self, width: u32, height: u32, cfg: &DetectConfig) -> Vec<Pass> {
        plan(width, height, self.input_size(), self.fixed.is_none(), cfg)
    }

    /// Detects faces in the whole image; boxes and keypoints are in image pixels, sorted by
    /// descending score.
    pub fn detect(
        &self,
        image: &RgbImage,
        cfg: &DetectConfig,
    ) -> Result<Vec<DetectedFace>, FaceError> {
        let mut faces = Vec::new();
        for pass in self.plan(image.width(), image.height(), cfg) {
            faces.extend(self.run_pass(image, &pass, cfg.score_threshold)?);
        }
        Ok(nms(faces, cfg.nms_iou))
    }

    /// Runs one pass and maps its detections back to image pixels.
    pub fn run_pass(
        &self,
        image: &RgbImage,
        pass: &Pass,
        threshold: f32,
    ) -> Result<Vec<DetectedFace>, FaceError> {
        let region = resize_region(image, pass.src, pass.dst.0, pass.dst.1)?;
        let (cw, ch) = (pass.canvas.0 as usize, pass.canvas.1 as usize);
        let norm = Normalize {
            color: self.spec.color,
            mean: self.spec.mean,
            std: self.spec.std,
        };
        let pad = (0.0 - norm.mean) / norm.std;
        let mut input = vec![pad; 3 * cw * ch];
        pack_chw(
            &region,
            &mut input,
            cw,
            ch,
            pass.offset.0 as usize,
            pass.offset.1 as usize,
            norm,
        );
        let raw = self.infer(&input, cw, ch, threshold)?;
        let scale = (pass.src.w / f64::from(pass.dst.0.max(1))) as f32;
        let (ox, oy) = (pass.offset.0 as f32, pass.offset.1 as f32);
        let (dw, dh) = (pass.dst.0 as f32, pass.dst.1 as f32);
        let margin = 2.0;
        let [left, top, right, bottom] = pass.inner_edges;
        let faces = raw
            .into_iter()
            .filter(|f| {
                let b = f.bbox;
                !((left && b.x <= ox + margin)
                    || (top && b.y <= oy + margin)
                    || (right && b.x2() >= ox + dw - margin)
                    || (bottom && b.y2() >= oy + dh - margin))
            })
            .map(|f| {
                f.map(1.0, -ox, -oy)
                    .map(scale, pass.src.x as f32, pass.src.y as f32)
            })
            .collect();
        Ok(faces)
    }

    fn infer(
        &self,
        input: &[f32],
        w: usize,
        h: usize,
        threshold: f32,
    ) -> Result<Vec<DetectedFace>, FaceError> {
        let tensor = TensorRef::from_array_view(([1usize, 3, h, w], input))?;
        let mut session = self
            .session
            .lock()
            .map_err(|_| FaceError::Runtime("detector session lock poisoned".into()))?;
        let outputs = session.run(ort::inputs![tensor])?;
        let mut named = Vec::with_capacity(outputs.len());
        for (name, value) in outputs.iter() {
            let (shape, data) = crate::runtime::extract(&value)?;
            named.push((name.to_owned(), Output { shape, data }));
        }
        drop(outputs);
        drop(session);
        Ok(match self.spec.arch {
            Arch::Yunet => yunet::decode(&named, w, h, threshold),
            _ => {
                let outs: Vec<Output> = named.into_iter().map(|(_, o)| o).collect();
                scrfd::decode(&outs, w, h, threshold)
            }
        })
    }
}

/// Computes the detector passes for an image (see the module documentation).
/// `dynamic`: the model accepts any input size (multiples of 32).
pub fn plan(
    width: u32,
    height: u32,
    input: (u32, u32),
    dynamic: bool,
    cfg: &DetectConfig,
) -> Vec<Pass> {
    let (iw, ih) = (f64::from(input.0), f64::from(input.1));
    let (w, h) = (f64::from(width), f64::from(height));
    let pad = f64::from(cfg.pad_fraction.max(0.0));
    let long = w.max(h);
    // Whole-image pass: the image plus a margin, letterboxed into the input. A model with
    // dynamic input gets a canvas fitted to the image (multiples of 32), and small images are
    // only brought up to 320 px instead of the full input size.
    let padded = long * (1.0 + 2.0 * pad);
    let mut scale = (iw / padded).min(ih / padded);
    if dynamic {
        scale = scale.min((320.0 / padded).max(1.0));
    }
    let (dw, dh) = (
        ((w * scale).round() as u32).max(1),
        ((h * scale).round() as u32).max(1),
    );
    let canvas = if dynamic {
        let margin = 2.0 * pad * long * scale;
        let up32 = |v: f64| ((v / 32.0).ceil().max(1.0) as u32) * 32;
        (
            up32(w * scale + margin).min(input.0),
            up32(h * scale + margin).min(input.1),
        )
    } else {
        input
    };
    let mut passes = vec![Pass {
        src: Rect {
            x: 0.0,
            y: 0.0,
            w,
            h,
        },
        dst: (dw, dh),
        offset: (
            (canvas.0.saturating_sub(dw)) / 2,
            (canvas.1.saturating_sub(dh)) / 2,
        ),
        canvas,
        inner_edges: [false; 4],
    }];

    let min_face = f64::from(cfg.min_face_px.max(1.0));
    let want = f64::from(cfg.min_face_in_model_px.max(1.0));
    if scale * min_face >= want || cfg.max_tiles == 0 {
        return passes;
    }
    // Faces the whole-image pass sees with fewer than ~24 px need the tiles.
    let comfortable = 24.0;
    let mut tile_scale = (want / min_face).min(1.0);
    loop {
        let largest_missed = comfortable / scale * tile_scale;
        let overlap = (largest_missed * 1.25).clamp(32.0, iw.min(ih) / 2.0);
        let (sw, sh) = (w * tile_scale, h * tile_scale);
        let count = |len: f64, tile: f64| -> usize {
            if len <= tile {
                1
            } else {
                ((len - overlap) / (tile - overlap)).ceil().max(1.0) as usize
            }
        };
        let (nx, ny) = (count(sw, iw), count(sh, ih));
        if nx * ny <= cfg.max_tiles || tile_scale * long <= iw.max(ih) {
            let starts = |len: f64, tile: f64, n: usize| -> Vec<f64> {
                if n <= 1 {
                    return vec![0.0];
                }
                let step = (len - tile) / (n - 1) as f64;
                (0..n).map(|i| (i as f64 * step).round()).collect()
            };
            for (yi, &ty) in starts(sh, ih, ny).iter().enumerate() {
                for (xi, &tx) in starts(sw, iw, nx).iter().enumerate() {
                    let tw = iw.min(sw - tx);
                    let th = ih.min(sh - ty);
                    passes.push(Pass {
                        src: Rect {
                            x: tx / tile_scale,
                            y: ty / tile_scale,
                            w: tw / tile_scale,
                            h: th / tile_scale,
                        },
                        dst: (tw.round().max(1.0) as u32, th.round().max(1.0) as u32),
                        offset: (0, 0),
                        canvas: input,
                        inner_edges: [xi > 0, yi > 0, xi + 1 < nx, yi + 1 < ny],
                    });
                }
            }
            return passes;
        }
        tile_scale *= 0.9;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_image_gets_one_pass() {
        let p = plan(640, 480, (640, 640), true, &DetectConfig::default());
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn classroom_image_gets_bounded_overlapping_tiles() {
        let cfg = DetectConfig::default();
        let p = plan(4000, 3000, (640, 640), true, &cfg);
        let tiles = &p[1..];
        assert!(
            !tiles.is_empty() && tiles.len() <= cfg.max_tiles,
            "{}",
            tiles.len()
        );
        // Tiles cover the whole image.
        let right = tiles.iter().map(|t| t.src.x + t.src.w).fold(0.0, f64::max);
        let bottom = tiles.iter().map(|t| t.src.y + t.src.h).fold(0.0, f64::max);
        assert!((right - 4000.0).abs() < 2.0 && (bottom - 3000.0).abs() < 2.0);
        // A 32 px face keeps >= 16 px in a tile.
        let s = f64::from(tiles[0].dst.0) / tiles[0].src.w;
        assert!(32.0 * s >= 15.9, "{s}");
    }
}
