//! Synthetic classroom scenes for tests and benchmarks: faces cropped from real portraits,
//! scaled to varied sizes and placed without overlap on a large canvas, with the layout kept
//! as ground truth. Deterministic (xorshift PRNG with a fixed seed).

use std::path::{Path, PathBuf};

use image::RgbImage;

use crate::engine::Engine;
use crate::error::FaceError;
use crate::geometry::{BBox, DetectedFace};
use crate::quality::primary_face;
use crate::resample::{Rect, resize_region};

/// A tiny xorshift64* generator (deterministic, not cryptographic).
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from a seed (0 is replaced by a constant).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next_f32()
    }
}

/// People under an `identities/` folder (one sub-folder per person), with their photos, both
/// sorted by name.
pub fn identities(dir: &Path) -> std::io::Result<Vec<(String, Vec<PathBuf>)>> {
    let mut people = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let mut photos: Vec<PathBuf> = std::fs::read_dir(entry.path())?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        photos.sort();
        if !photos.is_empty() {
            people.push((entry.file_name().to_string_lossy().into_owned(), photos));
        }
    }
    people.sort();
    Ok(people)
}

/// A photo of one person with its detected (largest) face.
#[derive(Debug, Clone)]
pub struct FaceSource {
    /// Who it is.
    pub person: String,
    /// The decoded photo.
    pub image: RgbImage,
    /// The face in it.
    pub face: DetectedFace,
}

impl FaceSource {
    /// Decodes a photo and finds its largest face; `Ok(None)` when it has none.
    pub fn load(engine: &Engine, person: &str, bytes: &[u8]) -> Result<Option<Self>, FaceError> {
        let image = engine.decode(bytes)?;
        let faces = engine.detect(&image)?;
        Ok(primary_face(&faces)
            .and_then(|i| faces.get(i))
            .map(|face| Self {
                person: person.to_owned(),
                image: image.clone(),
                face: *face,
            }))
    }
}

/// What to compose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SceneSpec {
    /// Canvas width.
    pub width: u32,
    /// Canvas height.
    pub height: u32,
    /// Faces wanted (sources are used in turn; fewer when they do not fit).
    pub faces: usize,
    /// Smallest face width in pixels.
    pub min_face: f32,
    /// Largest face width in pixels.
    pub max_face: f32,
    /// PRNG seed.
    pub seed: u64,
}

impl Default for SceneSpec {
    fn default() -> Self {
        Self {
            width: 4000,
            height: 3000,
            faces: 30,
            min_face: 40.0,
            max_face: 200.0,
            seed: 0x5EED,
        }
    }
}

/// One face placed in a scene (ground truth).
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedFace {
    /// Who it is.
    pub person: String,
    /// The face box in the scene (the source detection, scaled and moved).
    pub bbox: BBox,
}

/// A composed scene.
#[derive(Debug, Clone)]
pub struct Scene {
    /// The picture.
    pub image: RgbImage,
    /// Where each face is.
    pub faces: Vec<PlacedFace>,
}

/// Composes a scene: neutral noisy background, each face cropped generously (twice the face
/// box) from its source, scaled to a random width in `min_face..max_face` (log-uniform) and
/// placed where it overlaps nothing already placed.
pub fn compose(sources: &[FaceSource], spec: &SceneSpec) -> Result<Scene, FaceError> {
    let mut rng = XorShift::new(spec.seed);
    let (cw, ch) = (spec.width.max(1), spec.height.max(1));
    let mut canvas = RgbImage::new(cw, ch);
    for px in canvas.pixels_mut() {
        let base = 128.0 + rng.range(-14.0, 14.0);
        *px = image::Rgb([base as u8, (base + 4.0) as u8, (base - 6.0) as u8]);
    }
    let mut taken: Vec<BBox> = Vec::new();
    let mut placed = Vec::new();
    if sources.is_empty() {
        return Ok(Scene {
            image: canvas,
            faces: placed,
        });
    }
    let (lo, hi) = (
        spec.min_face.max(8.0).ln(),
        spec.max_face.max(spec.min_face).max(8.0).ln(),
    );
    for i in 0..spec.faces {
        let Some(src) = sources.get(i % sources.len()) else {
            break;
        };
        let fb = src.face.bbox;
        if fb.w < 4.0 || fb.h < 4.0 {
            continue;
        }
        // Generous crop: twice the face box, centred, clipped to the photo.
        let c = fb.center();
        let side = fb.w.max(fb.h) * 2.0;
        let (iw, ih) = (src.image.width() as f32, src.image.height() as f32);
        let x1 = (c.x - side / 2.0).max(0.0);
        let y1 = (c.y - side / 2.0).max(0.0);
        let x2 = (c.x + side / 2.0).min(iw);
        let y2 = (c.y + side / 2.0).min(ih);
        if x2 - x1 < 4.0 || y2 - y1 < 4.0 {
            continue;
        }
        let mut face_w = rng.range(lo, hi).exp();
        let mut spot = None;
        for attempt in 0..400 {
            if attempt > 0 && attempt % 100 == 0 {
                face_w = (face_w * 0.8).max(spec.min_face);
            }
            let scale = face_w / fb.w;
            let (pw, ph) = ((x2 - x1) * scale, (y2 - y1) * scale);
            if pw >= cw as f32 || ph >= ch as f32 {
                continue;
            }
            let px = rng.range(0.0, cw as f32 - pw).floor();
            let py = rng.range(0.0, ch as f32 - ph).floor();
            let rect = BBox {
                x: px,
                y: py,
                w: pw.ceil(),
                h: ph.ceil(),
            };
            let gap = 4.0;
            let padded = BBox {
                x: rect.x - gap,
                y: rect.y - gap,
                w: rect.w + 2.0 * gap,
                h: rect.h + 2.0 * gap,
            };
            if taken.iter().all(|t| t.iou(&padded) == 0.0) {
                spot = Some((rect, scale));
                break;
            }
        }
        let Some((rect, scale)) = spot else { continue };
        let patch = resize_region(
            &src.image,
            Rect {
                x: f64::from(x1),
                y: f64::from(y1),
                w: f64::from(x2 - x1),
                h: f64::from(y2 - y1),
            },
            rect.w as u32,
            rect.h as u32,
        )?;
        image::imageops::replace(
            &mut canvas,
            &patch,
            i64::from(rect.x as u32),
            i64::from(rect.y as u32),
        );
        taken.push(rect);
        placed.push(PlacedFace {
            person: src.person.clone(),
            bbox: fb.map(scale, rect.x - x1 * scale, rect.y - y1 * scale),
        });
    }
    Ok(Scene {
        image: canvas,
        faces: placed,
    })
}
