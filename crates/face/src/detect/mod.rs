//! Face detection planned from the photo; passes merged by NMS.
//!
//! A classroom photo is ~12 MP with faces down to ~32 px, while one pass of the detector at
//! 640 px on the long side shrinks such a face to ~5 px, below what any of the detectors find.
//! SCRFD is fully convolutional, so instead of tiles the photo is planned as:
//! - the *coarse* pass: the whole image plus a margin (`pad_fraction`), letterboxed into the
//!   model's input size; it finds the large faces, including one that fills a tight crop.
//!   When it already gives the smallest promised face (`min_face_px`, 32) its
//!   `min_face_in_model_px` (16, SCRFD's smallest anchor), it is the only pass.
//! - otherwise the *fine* scale is `min_face_in_model_px / min_face_px` (0.5): the photo gets
//!   the coarse pass plus one whole-image pass at the fine scale (canvas rounded up to
//!   multiples of 32: 2016x1504 for 4000x3000), cut into overlapping strips beyond
//!   `max_pass_pixels` (two strips of 2016x832 for 4000x3000, to bound memory). A model with a
//!   fixed input size gets tiles of that size instead. Strips and tiles overlap by more than
//!   the largest face the coarse pass could miss, and a detection touching an inner edge is
//!   dropped (the overlapping neighbour sees that face whole).
//!
//!   Medium photos (a little over 1066 px) keep both passes although one padded pass at the
//!   fine scale would cost fewer pixels: measured, that single pass lost a labelled person in
//!   `groups/friends_cast_poker.jpg` (the face was found, but its box and keypoints embedded
//!   below the review threshold), i.e. recall below the tiled detection's.
//!
//! Enrolment ([`plan_enrolment`]) runs one pass: a portrait's face must be at least the quality
//! gate's `min_face_width` (60 px) wide, so the fine pass alone does when the photo at the fine
//! scale fits the model's input (the same unpadded pass at the same scale that the tiled
//! detection, on which the gate was calibrated, ran on such photos besides the coarse one);
//! otherwise the photo is planned for 60 px faces (the coarse pass alone up to ~2000 px).
//! Measured: the gate's figures on `hard/` and `identities/` are unchanged (19/19, 10/12,
//! 336/368), and the pitched portrait of the enrolment tests keeps `HEAD_UP_DOWN`, which the
//! coarse pass alone lost (its box gave a pitch under the limit and a score of 0.645).

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
    /// A pass at the fine scale (small faces) rather than the coarse whole-image pass.
    pub fine: bool,
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
        let session = crate::runtime::session(path, spec.optimization, threads, true)?;
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

    /// The passes [`Detector::detect_enrolment`] runs on a `width` x `height` portrait.
    pub fn plan_enrolment(
        &self,
        width: u32,
        height: u32,
        cfg: &DetectConfig,
        min_face_width: f32,
    ) -> Vec<Pass> {
        plan_enrolment(
            width,
            height,
            self.input_size(),
            self.fixed.is_none(),
            cfg,
            min_face_width,
        )
    }

    /// Detects faces in the whole image; boxes and keypoints are in image pixels, sorted by
    /// descending score.
    pub fn detect(
        &self,
        image: &RgbImage,
        cfg: &DetectConfig,
    ) -> Result<Vec<DetectedFace>, FaceError> {
        let passes = self.plan(image.width(), image.height(), cfg);
        self.run_passes(image, &passes, cfg)
    }

    /// Detects the faces of an enrolment portrait, whose face the quality gate rejects under
    /// `min_face_width` pixels: one pass where one suffices ([`plan_enrolment`]).
    pub fn detect_enrolment(
        &self,
        image: &RgbImage,
        cfg: &DetectConfig,
        min_face_width: f32,
    ) -> Result<Vec<DetectedFace>, FaceError> {
        let passes = self.plan_enrolment(image.width(), image.height(), cfg, min_face_width);
        self.run_passes(image, &passes, cfg)
    }

    /// Runs `passes` and merges their detections by NMS.
    pub fn run_passes(
        &self,
        image: &RgbImage,
        passes: &[Pass],
        cfg: &DetectConfig,
    ) -> Result<Vec<DetectedFace>, FaceError> {
        let mut faces = Vec::new();
        for pass in passes {
            faces.extend(self.run_pass(image, pass, cfg.score_threshold)?);
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
    let (w, h) = (f64::from(width), f64::from(height));
    let pad = f64::from(cfg.pad_fraction.max(0.0));
    let long = w.max(h);
    let padded = long * (1.0 + 2.0 * pad);
    let (iw, ih) = (f64::from(input.0), f64::from(input.1));
    // The coarse pass: the image plus a margin, letterboxed into the input size. A model with
    // dynamic input gets a canvas fitted to the image, and small images are only brought up to
    // 320 px instead of the full input size.
    let mut coarse_scale = (iw / padded).min(ih / padded);
    if dynamic {
        coarse_scale = coarse_scale.min((320.0 / padded).max(1.0));
    }
    let min_face = f64::from(cfg.min_face_px.max(1.0));
    let want = f64::from(cfg.min_face_in_model_px.max(1.0));
    // The scale at which the smallest promised face reaches the smallest anchor.
    let fine_scale = want / min_face;
    if coarse_scale * min_face >= want * 0.999 {
        return vec![whole_pass(w, h, coarse_scale, pad, input, dynamic)];
    }
    // The coarse pass finds the large faces (comfortably from ~24 px in its input); the fine
    // passes cover the whole image at the fine scale, as one pass or as overlapping strips
    // (dynamic models) / tiles (fixed input) that overlap by more than the largest face the
    // coarse pass could miss. A detection touching an inner edge is dropped there: the
    // overlapping neighbour sees that face whole.
    let mut passes = vec![whole_pass(w, h, coarse_scale, pad, input, dynamic)];
    let (sw, sh) = (w * fine_scale, h * fine_scale);
    let (tile_w, tile_h) = if dynamic {
        let cw = f64::from(up32(sw));
        let rows = (cfg.max_pass_pixels as f64 / cw / 32.0).floor().max(4.0) * 32.0;
        (cw, rows)
    } else {
        (iw, ih)
    };
    let largest_missed = 24.0 / coarse_scale * fine_scale;
    let overlap = (largest_missed * 1.25).clamp(32.0, tile_w.min(tile_h) / 2.0);
    let xs = starts(sw, tile_w, overlap);
    let ys = starts(sh, tile_h, overlap);
    for (yi, &ty) in ys.iter().enumerate() {
        for (xi, &tx) in xs.iter().enumerate() {
            let tw = tile_w.min(sw - tx);
            let th = tile_h.min(sh - ty);
            let dst = (tw.round().max(1.0) as u32, th.round().max(1.0) as u32);
            passes.push(Pass {
                src: Rect {
                    x: tx / fine_scale,
                    y: ty / fine_scale,
                    w: tw / fine_scale,
                    h: th / fine_scale,
                },
                dst,
                offset: (0, 0),
                canvas: if dynamic {
                    (up32(f64::from(dst.0)), up32(f64::from(dst.1)))
                } else {
                    input
                },
                inner_edges: [xi > 0, yi > 0, xi + 1 < xs.len(), yi + 1 < ys.len()],
                fine: true,
            });
        }
    }
    passes
}

/// The passes for an enrolment portrait: a single pass wherever one suffices (see the module
/// documentation). `min_face_width`: the quality gate's smallest accepted face.
pub fn plan_enrolment(
    width: u32,
    height: u32,
    input: (u32, u32),
    dynamic: bool,
    cfg: &DetectConfig,
    min_face_width: f32,
) -> Vec<Pass> {
    let analysis = plan(width, height, input, dynamic, cfg);
    match analysis.as_slice() {
        [_] => analysis,
        [_, fine] if fine.canvas.0 <= input.0 && fine.canvas.1 <= input.1 => vec![*fine],
        _ => plan(
            width,
            height,
            input,
            dynamic,
            &DetectConfig {
                min_face_px: cfg.min_face_px.max(min_face_width),
                ..*cfg
            },
        ),
    }
}

/// `v` rounded up to a multiple of 32 (at least 32).
fn up32(v: f64) -> u32 {
    ((v / 32.0).ceil().max(1.0) as u32) * 32
}

/// Start offsets of windows of `tile` covering `len` with at least `overlap` in common.
fn starts(len: f64, tile: f64, overlap: f64) -> Vec<f64> {
    if len <= tile {
        return vec![0.0];
    }
    let n = ((len - overlap) / (tile - overlap)).ceil().max(2.0) as usize;
    let step = (len - tile) / (n - 1) as f64;
    (0..n).map(|i| (i as f64 * step).round()).collect()
}

/// The whole image at `scale` with a margin of `pad` x the long side, centred in a canvas of
/// `input` (a fixed-size model) or of the scaled image and margin rounded up to multiples of
/// 32, at most `input` (a dynamic model).
fn whole_pass(w: f64, h: f64, scale: f64, pad: f64, input: (u32, u32), dynamic: bool) -> Pass {
    let (dw, dh) = (
        ((w * scale).round() as u32).max(1),
        ((h * scale).round() as u32).max(1),
    );
    let canvas = if dynamic {
        let margin = 2.0 * pad * w.max(h) * scale;
        (
            up32(w * scale + margin).min(input.0),
            up32(h * scale + margin).min(input.1),
        )
    } else {
        input
    };
    Pass {
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
        fine: false,
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
    fn classroom_image_gets_a_coarse_pass_and_two_fine_strips() {
        let cfg = DetectConfig::default();
        let p = plan(4000, 3000, (640, 640), true, &cfg);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(!p[0].fine && p[1].fine && p[2].fine);
        // The strips span the whole width at the fine scale, rounded up to multiples of 32,
        // and overlap.
        assert_eq!((p[1].dst.0, p[1].canvas.0), (2000, 2016));
        assert!(p[1].canvas.0 as usize * p[1].canvas.1 as usize <= cfg.max_pass_pixels);
        assert_eq!(p[1].inner_edges, [false, false, false, true]);
        assert_eq!(p[2].inner_edges, [false, true, false, false]);
        assert!(p[2].src.y < p[1].src.y + p[1].src.h - 100.0);
        assert!((p[2].src.y + p[2].src.h - 3000.0).abs() < 2.0);
        // A 32 px face keeps 16 px.
        let s = f64::from(p[1].dst.0) / p[1].src.w;
        assert!(32.0 * s >= 15.9, "{s}");
        // Without the memory bound it is one pass over the whole photo.
        let one = DetectConfig {
            max_pass_pixels: 2016 * 1504,
            ..cfg
        };
        let p = plan(4000, 3000, (640, 640), true, &one);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!((p[1].dst, p[1].canvas), ((2000, 1500), (2016, 1504)));
    }

    #[test]
    fn medium_photo_gets_the_coarse_pass_and_one_fine_pass() {
        let p = plan(1280, 886, (640, 640), true, &DetectConfig::default());
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(!p[0].fine && p[1].fine);
        assert!(p[0].offset.0 > 0 && p[0].offset.1 > 0);
        assert_eq!(
            (p[1].dst, p[1].canvas, p[1].offset),
            ((640, 443), (640, 448), (0, 0))
        );
        assert_eq!(p[1].inner_edges, [false; 4]);
    }

    #[test]
    fn huge_photo_is_cut_into_overlapping_strips() {
        let cfg = DetectConfig::default();
        let p = plan(7300, 5475, (640, 640), true, &cfg);
        let strips = &p[1..];
        assert!(strips.len() >= 3, "{}", strips.len());
        for s in strips {
            assert!(
                s.canvas.0 as usize * s.canvas.1 as usize <= cfg.max_pass_pixels,
                "{s:?}"
            );
        }
        let bottom = strips.iter().map(|t| t.src.y + t.src.h).fold(0.0, f64::max);
        assert!((bottom - 5475.0).abs() < 2.0, "{bottom}");
        for pair in strips.windows(2) {
            assert!(pair[1].src.y < pair[0].src.y + pair[0].src.h - 32.0);
        }
    }

    #[test]
    fn fixed_input_model_gets_tiles_of_its_size() {
        let p = plan(4000, 3000, (640, 640), false, &DetectConfig::default());
        let tiles = &p[1..];
        assert!(tiles.len() > 1);
        assert!(tiles.iter().all(|t| t.canvas == (640, 640) && t.fine));
        let right = tiles.iter().map(|t| t.src.x + t.src.w).fold(0.0, f64::max);
        assert!((right - 4000.0).abs() < 2.0, "{right}");
    }

    #[test]
    fn enrolment_portrait_gets_one_pass() {
        // A 1000x1250 portrait: with the 10% margin a 32 px face would fall just under 16 px
        // in a 640 px pass, so analysis adds the fine pass (500x625); enrolment runs that
        // fine pass alone.
        let cfg = DetectConfig::default();
        let gate = crate::config::QualityConfig::default().min_face_width;
        let area = |p: &[Pass]| p.iter().map(|p| p.canvas.0 * p.canvas.1).sum::<u32>();
        let analysis = plan(1000, 1250, (640, 640), true, &cfg);
        assert_eq!(analysis.len(), 2, "{analysis:?}");
        let p = plan_enrolment(1000, 1250, (640, 640), true, &cfg, gate);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].fine && p[0].canvas == (512, 640), "{p:?}");
        // Small portraits: the single whole-image pass of analysis.
        let small = plan_enrolment(250, 250, (640, 640), true, &cfg, gate);
        assert_eq!(small.len(), 1);
        assert!(!small[0].fine);
        // Beyond the model's input at the fine scale: planned for 60 px faces, the coarse
        // pass alone up to ~2000 px, far fewer pixels than analysis on a 12 MP photo.
        let mid = plan_enrolment(1900, 1400, (640, 640), true, &cfg, gate);
        assert_eq!(mid.len(), 1, "{mid:?}");
        assert!(!mid[0].fine && mid[0].canvas.0 <= 640, "{mid:?}");
        let big = plan_enrolment(4000, 3000, (640, 640), true, &cfg, gate);
        assert!(area(&big) < area(&plan(4000, 3000, (640, 640), true, &cfg)) / 2);
    }
}
