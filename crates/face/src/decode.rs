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
///
/// Memory: the output is 3 bytes per pixel. A JPEG over `limits.full_decode_pixels` (24 MP)
/// is decoded at 1/2 of its width and height (1/4, 1/8 if still over) by DCT scaling, so
/// only the smaller image is ever allocated: a 36 MP JPEG peaks at +52 MiB instead of +117 MiB
/// (progressive JPEGs also keep their DCT coefficients, 2 bytes per sample). The detector
/// then finds faces from 32 pixels of the decoded image, i.e. 64 of the photo. Non-interlaced
/// PNGs (16-bit ones included) are decoded row by row straight into 8-bit RGB, so they never
/// need more than the output plus one row; other formats decode at their native depth first
/// (a 16-bit RGBA TIFF or interlaced PNG: up to 8 bytes per pixel), then convert. With the
/// default limits a photo thus needs at most about 69 MiB (JPEG), 115 MiB (non-interlaced
/// PNG) or 440 MiB (16-bit RGBA interlaced PNG or TIFF).
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<RgbImage, FaceError> {
    check_bytes(bytes, limits)?;
    if bytes.starts_with(PNG_SIGNATURE)
        && let Some(image) = decode_png_rows(bytes, limits)?
    {
        return Ok(image);
    }
    if bytes.starts_with(JPEG_SOI)
        && let Some(image) = decode_jpeg_scaled(bytes, limits)?
    {
        return Ok(image);
    }
    let image = decode_dynamic(bytes, limits)?;
    Ok(to_rgb(image))
}

const PNG_SIGNATURE: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
const JPEG_SOI: &[u8] = &[0xFF, 0xD8];

fn check_bytes(bytes: &[u8], limits: &Limits) -> Result<(), FaceError> {
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
    Ok(())
}

/// A non-interlaced PNG decoded row by row into 8-bit RGB (16-bit samples stripped,
/// palettes and grey expanded, transparency composited over white), with EXIF orientation.
/// `Ok(None)` for the PNGs this path does not take (interlaced): the caller falls back to
/// the general decoder.
fn decode_png_rows(bytes: &[u8], limits: &Limits) -> Result<Option<RgbImage>, FaceError> {
    let png_error = |e: png::DecodingError| match e {
        png::DecodingError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            FaceError::invalid("the file is truncated")
        }
        png::DecodingError::LimitsExceeded => FaceError::invalid("image exceeds decoder limits"),
        other => FaceError::invalid(format!("corrupt or truncated image data ({other})")),
    };
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let (width, height) = {
        let info = decoder.read_header_info().map_err(png_error)?;
        (info.width, info.height)
    };
    check_pixels(width, height, limits)?;
    let mut reader = decoder.read_info().map_err(png_error)?;
    if reader.info().interlaced {
        return Ok(None);
    }
    let (color, depth) = reader.output_color_type();
    if depth != png::BitDepth::Eight {
        return Ok(None);
    }
    let channels = match color {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Ok(None),
    };
    let (w, h) = (width as usize, height as usize);
    let mut out: Vec<u8> = Vec::new();
    out.try_reserve_exact(w * h * 3)
        .map_err(|_| FaceError::invalid("not enough memory for the image"))?;
    let blend = |c: u8, a: u8| -> u8 {
        let a = u32::from(a);
        ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8
    };
    while let Some(row) = reader.next_row().map_err(png_error)? {
        let data = row.data();
        if data.len() < w * channels {
            return Err(FaceError::invalid("corrupt image data (short row)"));
        }
        for px in data.chunks_exact(channels).take(w) {
            match *px {
                [g] => out.extend_from_slice(&[g, g, g]),
                [g, a] => {
                    let g = blend(g, a);
                    out.extend_from_slice(&[g, g, g]);
                }
                [r, g, b] => out.extend_from_slice(&[r, g, b]),
                [r, g, b, a] => out.extend_from_slice(&[blend(r, a), blend(g, a), blend(b, a)]),
                _ => {}
            }
        }
        if out.len() >= w * h * 3 {
            break;
        }
    }
    if out.len() != w * h * 3 {
        return Err(FaceError::invalid("the file is truncated"));
    }
    let orientation = reader
        .info()
        .exif_metadata
        .as_deref()
        .and_then(image::metadata::Orientation::from_exif_chunk);
    let image = RgbImage::from_raw(width, height, out)
        .ok_or_else(|| FaceError::invalid("the image has no pixels"))?;
    Ok(Some(oriented(image, orientation)))
}

/// The frame header of a JPEG: the first SOF marker's fields.
#[derive(Debug, Clone, Copy)]
struct JpegFrame {
    /// The marker: 0xC0 baseline, 0xC1 extended, 0xC2 progressive (DCT); others lossless,
    /// arithmetic-coded or hierarchical.
    marker: u8,
    precision: u8,
    width: u32,
    height: u32,
    components: u8,
}

/// Walks the marker segments from SOI to the first frame header (SOF); None when there is
/// none before the first scan or the data ends.
fn jpeg_frame(bytes: &[u8]) -> Option<JpegFrame> {
    let mut at = JPEG_SOI.len();
    loop {
        // Fill bytes (FF FF ...) may precede a marker.
        while bytes.get(at) == Some(&0xFF) && bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (&0xFF, &marker) = (bytes.get(at)?, bytes.get(at + 1)?) else {
            return None;
        };
        let length = usize::from(u16::from_be_bytes([
            *bytes.get(at + 2)?,
            *bytes.get(at + 3)?,
        ]));
        let segment = bytes.get(at + 4..at + 2 + length)?;
        match marker {
            // SOF0..SOF15 but DHT (C4), JPG (C8) and DAC (CC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                let [precision, h0, h1, w0, w1, components, ..] = *segment else {
                    return None;
                };
                return Some(JpegFrame {
                    marker,
                    precision,
                    height: u32::from(u16::from_be_bytes([h0, h1])),
                    width: u32::from(u16::from_be_bytes([w0, w1])),
                    components,
                });
            }
            // Start of scan before any frame header.
            0xDA => return None,
            _ => at += 2 + length,
        }
    }
}

/// A JPEG over `limits.full_decode_pixels`, decoded at 1/2, 1/4 or 1/8 of its width and
/// height (the first that brings it within that many pixels) by DCT scaling, with EXIF
/// orientation. `Ok(None)` for the JPEGs this path does not take (within the size, or not an
/// 8-bit grey or colour DCT image: CMYK, 12-bit, lossless, ...): the caller decodes them at
/// full size.
fn decode_jpeg_scaled(bytes: &[u8], limits: &Limits) -> Result<Option<RgbImage>, FaceError> {
    let Some(frame) = jpeg_frame(bytes) else {
        return Ok(None);
    };
    check_pixels(frame.width, frame.height, limits)?;
    let pixels = u64::from(frame.width) * u64::from(frame.height);
    if pixels <= limits.full_decode_pixels
        || !matches!(frame.marker, 0xC0..=0xC2)
        || frame.precision != 8
        || !matches!(frame.components, 1 | 3)
    {
        return Ok(None);
    }
    if !jpeg_is_complete(bytes) {
        return Err(FaceError::invalid(
            "the file is truncated (JPEG without an end-of-image marker)",
        ));
    }
    let mut factor: u32 = 2;
    while factor < 8
        && pixels
            > limits
                .full_decode_pixels
                .saturating_mul(u64::from(factor * factor))
    {
        factor *= 2;
    }
    let jpeg_error = |e: jpeg_decoder::Error| {
        FaceError::invalid(format!("corrupt or truncated image data ({e})"))
    };
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    // Room for a progressive image's coefficients (2 bytes per sample) and the output.
    let budget = limits.max_pixels.saturating_mul(8).saturating_add(64 << 20);
    decoder.set_max_decoding_buffer_size(usize::try_from(budget).unwrap_or(usize::MAX));
    let wanted = |v: u32| u16::try_from(v.div_ceil(factor)).unwrap_or(u16::MAX);
    let (width, height) = decoder
        .scale(wanted(frame.width), wanted(frame.height))
        .map_err(jpeg_error)?;
    let data = decoder.decode().map_err(jpeg_error)?;
    let (w, h) = (u32::from(width), u32::from(height));
    let n = usize::from(width) * usize::from(height);
    let rgb = match decoder.info().map(|i| i.pixel_format) {
        Some(jpeg_decoder::PixelFormat::RGB24) if data.len() == n * 3 => data,
        Some(jpeg_decoder::PixelFormat::L8) if data.len() == n => {
            data.iter().flat_map(|&g| [g, g, g]).collect()
        }
        _ => {
            return Err(FaceError::invalid(
                "corrupt image data (unexpected JPEG output)",
            ));
        }
    };
    let image = RgbImage::from_raw(w, h, rgb)
        .ok_or_else(|| FaceError::invalid("the image has no pixels"))?;
    let orientation = decoder
        .exif_data()
        .and_then(image::metadata::Orientation::from_exif_chunk);
    Ok(Some(oriented(image, orientation)))
}

/// `image` turned upright as its EXIF orientation says.
fn oriented(image: RgbImage, orientation: Option<image::metadata::Orientation>) -> RgbImage {
    match orientation {
        Some(orientation) if orientation != image::metadata::Orientation::NoTransforms => {
            let mut image = DynamicImage::ImageRgb8(image);
            image.apply_orientation(orientation);
            image.into_rgb8()
        }
        _ => image,
    }
}

/// Like [`decode`] but keeps the decoded pixel format.
pub fn decode_dynamic(bytes: &[u8], limits: &Limits) -> Result<DynamicImage, FaceError> {
    check_bytes(bytes, limits)?;

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
        return Err(FaceError::TooManyPixels {
            width,
            height,
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
