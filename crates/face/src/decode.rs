//! Upload decoding: format sniffing, size limits before decoding, EXIF orientation, RGB output.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, RgbImage};

use crate::config::Limits;
use crate::error::{FaceError, SizeKind};

/// Decodes an uploaded photo into upright 8-bit RGB.
///
/// The format is sniffed from the content (JPEG, PNG, WebP, BMP, GIF, TIFF). The byte limit is
/// checked first, then the pixel limit from the header alone, so a decompression bomb is
/// refused before any pixel buffer is allocated. EXIF orientation is applied; grey images are
/// expanded and transparent ones composited over white.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<RgbImage, FaceError> {
    let image = decode_dynamic(bytes, limits)?;
    Ok(to_rgb(image))
}

/// Like [`decode`] but keeps the decoded pixel format.
pub fn decode_dynamic(bytes: &[u8], limits: &Limits) -> Result<DynamicImage, FaceError> {
    if bytes.is_empty() {
        return Err(FaceError::invalid("the file is empty"));
    }
    let len = bytes.len() as u64;
    if len > limits.max_bytes {
        return Err(FaceError::TooLarge {
            kind: SizeKind::Bytes,
            value: len,
            limit: limits.max_bytes,
        });
    }

    let (width, height) = reader(bytes)?.into_dimensions().map_err(|e| describe(&e))?;
    check_pixels(width, height, limits)?;

    let mut reader = reader(bytes)?;
    if reader.format() == Some(image::ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        // The JPEG decoder pads a cut-off scan with grey instead of failing.
        return Err(FaceError::invalid(
            "the file is truncated (JPEG without an end-of-image marker)",
        ));
    }
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(width);
    image_limits.max_image_height = Some(height);
    // RGBA at 16 bits per channel plus decoder scratch space.
    image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(64 << 20));
    reader.limits(image_limits);
    let mut decoder = reader.into_decoder().map_err(|e| describe(&e))?;
    let (w, h) = decoder.dimensions();
    check_pixels(w, h, limits)?;
    let orientation = decoder.orientation().map_err(|e| describe(&e))?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| describe(&e))?;
    image.apply_orientation(orientation);
    if image.width() == 0 || image.height() == 0 {
        return Err(FaceError::invalid("the image has no pixels"));
    }
    Ok(image)
}

fn reader(bytes: &[u8]) -> Result<ImageReader<Cursor<&[u8]>>, FaceError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| FaceError::invalid(format!("cannot read the file: {e}")))?;
    match reader.format() {
        Some(
            image::ImageFormat::Jpeg
            | image::ImageFormat::Png
            | image::ImageFormat::WebP
            | image::ImageFormat::Bmp
            | image::ImageFormat::Gif
            | image::ImageFormat::Tiff,
        ) => {}
        Some(other) => {
            return Err(FaceError::invalid(format!(
                "unsupported image format {other:?}; use JPEG, PNG, WebP, BMP, GIF or TIFF"
            )));
        }
        None => {
            return Err(FaceError::invalid(
                "not a recognised image format (JPEG, PNG, WebP, BMP, GIF or TIFF)",
            ));
        }
    }
    reader.no_limits();
    Ok(reader)
}

/// True when an end-of-image marker (FF D9) follows the last start-of-scan marker (FF DA).
/// Data appended after the image (camera trailers) is allowed; a cut-off scan is not.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    let last_eoi = bytes.windows(2).rposition(|w| w == [0xFF, 0xD9]);
    match (last_sos, last_eoi) {
        (Some(sos), Some(eoi)) => eoi > sos,
        _ => false,
    }
}

fn check_pixels(width: u32, height: u32, limits: &Limits) -> Result<(), FaceError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels == 0 {
        return Err(FaceError::invalid("the image has no pixels"));
    }
    if pixels > limits.max_pixels {
        return Err(FaceError::TooLarge {
            kind: SizeKind::Pixels,
            value: pixels,
            limit: limits.max_pixels,
        });
    }
    Ok(())
}

fn describe(err: &ImageError) -> FaceError {
    let reason = match err {
        ImageError::Decoding(e) => format!("corrupt or truncated image data ({e})"),
        ImageError::Unsupported(e) => format!("unsupported image variant ({e})"),
        ImageError::Limits(e) => format!("image exceeds decoder limits ({e})"),
        ImageError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the file is truncated".to_owned()
        }
        ImageError::IoError(e) => format!("cannot read the image ({e})"),
        ImageError::Parameter(e) => format!("invalid image ({e})"),
        ImageError::Encoding(e) => format!("invalid image ({e})"),
    };
    FaceError::invalid(reason)
}

/// Converts any decoded image to 8-bit RGB; transparency is composited over white.
pub fn to_rgb(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = Vec::with_capacity(rgba.as_raw().len() / 4 * 3);
    for px in rgba.as_raw().chunks_exact(4) {
        if let [r, g, b, a] = *px {
            let a = u32::from(a);
            let blend = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
            out.extend_from_slice(&[blend(r), blend(g), blend(b)]);
        }
    }
    RgbImage::from_raw(w, h, out).unwrap_or_else(|| RgbImage::new(w, h))
}
