//! Face alignment: a 2-D similarity transform (Umeyama, no reflection) from the five
//! keypoints to the recognizer's template, and a bilinear warp to the crop.

use image::{Rgb, RgbImage};

use crate::geometry::Point;

/// A 2-D similarity `dst = [a -b; b a] * src + [tx ty]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// scale * cos(angle).
    pub a: f32,
    /// scale * sin(angle).
    pub b: f32,
    /// Horizontal translation.
    pub tx: f32,
    /// Vertical translation.
    pub ty: f32,
}

impl Similarity {
    /// Least-squares similarity mapping `src` onto `dst` (Umeyama 1991, 2-D closed form).
    /// Returns `None` for degenerate input (all source points equal).
    pub fn estimate(src: &[Point], dst: &[Point]) -> Option<Self> {
        let n = src.len().min(dst.len());
        if n < 2 {
            return None;
        }
        let nf = n as f64;
        let mean = |pts: &[Point]| {
            let (sx, sy) = pts.iter().take(n).fold((0.0f64, 0.0f64), |(x, y), p| {
                (x + f64::from(p.x), y + f64::from(p.y))
            });
            (sx / nf, sy / nf)
        };
        let (msx, msy) = mean(src);
        let (mdx, mdy) = mean(dst);
        // Covariance terms and source variance.
        let (mut sxx, mut sxy, mut syx, mut syy, mut var) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (s, d) in src.iter().zip(dst.iter()).take(n) {
            let (x, y) = (f64::from(s.x) - msx, f64::from(s.y) - msy);
            let (u, v) = (f64::from(d.x) - mdx, f64::from(d.y) - mdy);
            sxx += u * x;
            sxy += u * y;
            syx += v * x;
            syy += v * y;
            var += x * x + y * y;
        }
        if var <= f64::EPSILON {
            return None;
        }
        // For 2-D, the optimal rotation+scale without reflection is
        // a = (sxx + syy) / var, b = (syx - sxy) / var.
        let a = (sxx + syy) / var;
        let b = (syx - sxy) / var;
        let tx = mdx - (a * msx - b * msy);
        let ty = mdy - (b * msx + a * msy);
        Some(Self {
            a: a as f32,
            b: b as f32,
            tx: tx as f32,
            ty: ty as f32,
        })
    }

    /// Applies the transform to a point.
    pub fn apply(&self, p: Point) -> Point {
        Point {
            x: self.a * p.x - self.b * p.y + self.tx,
            y: self.b * p.x + self.a * p.y + self.ty,
        }
    }

    /// The inverse transform, `None` when singular.
    pub fn inverse(&self) -> Option<Self> {
        let det = self.a * self.a + self.b * self.b;
        if det <= f32::EPSILON {
            return None;
        }
        let (a, b) = (self.a / det, -self.b / det);
        Some(Self {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        })
    }
}

/// Warps `image` into a `size` x `size` crop where the five `landmarks` land on `template`.
/// Pixels outside the image are black. Returns `None` for degenerate landmarks.
pub fn align(
    image: &RgbImage,
    landmarks: &[Point; 5],
    template: &[[f32; 2]; 5],
    size: u32,
) -> Option<RgbImage> {
    let dst = template.map(|[x, y]| Point { x, y });
    let forward = Similarity::estimate(landmarks, &dst)?;
    let inverse = forward.inverse()?;
    Some(warp(image, &inverse, size, size))
}

/// Samples `out(x, y) = image(inverse(x, y))` bilinearly.
pub fn warp(image: &RgbImage, inverse: &Similarity, out_w: u32, out_h: u32) -> RgbImage {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let raw = image.as_raw();
    let stride = (w as usize) * 3;
    let fetch = |x: i64, y: i64| -> [f32; 3] {
        if x < 0 || y < 0 || x >= w || y >= h {
            return [0.0; 3];
        }
        let i = y as usize * stride + x as usize * 3;
        match raw.get(i..i + 3) {
            Some(&[r, g, b]) => [f32::from(r), f32::from(g), f32::from(b)],
            _ => [0.0; 3],
        }
    };
    let mut out = RgbImage::new(out_w, out_h);
    for (ox, oy, px) in out.enumerate_pixels_mut() {
        let s = inverse.apply(Point {
            x: ox as f32,
            y: oy as f32,
        });
        let (x0, y0) = (s.x.floor(), s.y.floor());
        let (fx, fy) = (s.x - x0, s.y - y0);
        let (xi, yi) = (x0 as i64, y0 as i64);
        let p00 = fetch(xi, yi);
        let p10 = fetch(xi + 1, yi);
        let p01 = fetch(xi, yi + 1);
        let p11 = fetch(xi + 1, yi + 1);
        let mut c = [0u8; 3];
        for (k, v) in c.iter_mut().enumerate() {
            let top = p00[k] + (p10[k] - p00[k]) * fx;
            let bottom = p01[k] + (p11[k] - p01[k]) * fx;
            *v = (top + (bottom - top) * fy).round().clamp(0.0, 255.0) as u8;
        }
        *px = Rgb(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_known_similarity() {
        let t = Similarity {
            a: 0.8,
            b: 0.3,
            tx: 5.0,
            ty: -7.0,
        };
        let src = [
            Point { x: 10.0, y: 20.0 },
            Point { x: 50.0, y: 22.0 },
            Point { x: 30.0, y: 40.0 },
            Point { x: 15.0, y: 60.0 },
            Point { x: 45.0, y: 61.0 },
        ];
        let dst = src.map(|p| t.apply(p));
        let e = Similarity::estimate(&src, &dst).unwrap();
        assert!((e.a - t.a).abs() < 1e-4 && (e.b - t.b).abs() < 1e-4);
        assert!((e.tx - t.tx).abs() < 1e-3 && (e.ty - t.ty).abs() < 1e-3);
        let inv = e.inverse().unwrap();
        let back = inv.apply(e.apply(src[2]));
        assert!((back.x - src[2].x).abs() < 1e-3 && (back.y - src[2].y).abs() < 1e-3);
    }
}
