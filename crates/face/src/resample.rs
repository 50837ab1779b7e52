//! Image resampling (SIMD, via `fast_image_resize`) and tensor packing.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

use crate::error::FaceError;
use crate::manifest::ColorOrder;

/// A source rectangle in image pixels (may extend past the image only if clamped first).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

/// Resamples the `src` rectangle of `image` to `dst_w` x `dst_h` (convolution with a filter
/// whose support grows with the downscale factor, so 12 MP -> 640 px does not alias).
pub fn resize_region(
    image: &RgbImage,
    src: Rect,
    dst_w: u32,
    dst_h: u32,
) -> Result<RgbImage, FaceError> {
    let (w, h) = image.dimensions();
    let view = ImageRef::new(w, h, image.as_raw(), PixelType::U8x3).map_err(FaceError::runtime)?;
    let mut dst = Image::new(dst_w.max(1), dst_h.max(1), PixelType::U8x3);
    let x = src.x.clamp(0.0, f64::from(w));
    let y = src.y.clamp(0.0, f64::from(h));
    let cw = src.w.min(f64::from(w) - x).max(1e-3);
    let ch = src.h.min(f64::from(h) - y).max(1e-3);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
        .crop(x, y, cw, ch);
    Resizer::new()
        .resize(&view, &mut dst, &options)
        .map_err(FaceError::runtime)?;
    let (dw, dh) = (dst.width(), dst.height());
    RgbImage::from_raw(dw, dh, dst.into_vec())
        .ok_or_else(|| FaceError::Runtime("resized buffer has the wrong size".into()))
}

/// Per-model pixel normalisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    /// Channel order of the tensor.
    pub color: ColorOrder,
    /// Subtracted from each 0..255 value.
    pub mean: f32,
    /// Divides after subtraction.
    pub std: f32,
}

impl Normalize {
    fn apply(&self, v: u8) -> f32 {
        (f32::from(v) - self.mean) / self.std
    }
}

/// Writes `image` into one NCHW plane set (`out` is 3 x `canvas_w` x `canvas_h`) at
/// (`off_x`, `off_y`); the rest of the canvas keeps its value.
pub fn pack_chw(
    image: &RgbImage,
    out: &mut [f32],
    canvas_w: usize,
    canvas_h: usize,
    off_x: usize,
    off_y: usize,
    norm: Normalize,
) {
    let plane = canvas_w * canvas_h;
    let (iw, ih) = (image.width() as usize, image.height() as usize);
    if iw == 0 || ih == 0 || plane == 0 {
        return;
    }
    let copy_w = iw.min(canvas_w.saturating_sub(off_x));
    let copy_h = ih.min(canvas_h.saturating_sub(off_y));
    let (c0, c2) = match norm.color {
        ColorOrder::Rgb => (0, 2),
        ColorOrder::Bgr => (2, 0),
    };
    let (planes_a, rest) = out.split_at_mut(plane.min(out.len()));
    let (planes_b, planes_c) = rest.split_at_mut(plane.min(rest.len()));
    let mut planes: [&mut [f32]; 3] = [planes_a, planes_b, planes_c];
    let raw = image.as_raw();
    for (row_idx, row) in raw.chunks_exact(iw * 3).take(copy_h).enumerate() {
        let start = (off_y + row_idx) * canvas_w + off_x;
        let end = start + copy_w;
        let pixels = row.chunks_exact(3).take(copy_w);
        let [p0, p1, p2] = &mut planes;
        let (Some(d0), Some(d1), Some(d2)) = (
            p0.get_mut(start..end),
            p1.get_mut(start..end),
            p2.get_mut(start..end),
        ) else {
            continue;
        };
        for (((px, a), b), c) in pixels
            .zip(d0.iter_mut())
            .zip(d1.iter_mut())
            .zip(d2.iter_mut())
        {
            if let [r, g, bl] = *px {
                let rgb = [r, g, bl];
                *a = norm.apply(rgb.get(c0).copied().unwrap_or(0));
                *b = norm.apply(g);
                *c = norm.apply(rgb.get(c2).copied().unwrap_or(0));
            }
        }
    }
}
