//! Decoding: every container format, EXIF orientation, broken files, size limits.

use crate::common;

use std::io::Cursor;

use image::{DynamicImage, ImageEncoder, ImageFormat, RgbImage};
use rollcall_face::cosine;
use rollcall_face::decode;
use rollcall_face::{FaceError, Limits, SizeKind};

fn portrait() -> RgbImage {
    decode(
        &common::read("identities/barack_obama/1.jpg"),
        &Limits::default(),
    )
    .unwrap()
}

/// A minimal little-endian Exif (TIFF) block with one Orientation entry.
fn exif_orientation(value: u16) -> Vec<u8> {
    let mut v = vec![0x49, 0x49, 42, 0, 8, 0, 0, 0];
    v.extend_from_slice(&1u16.to_le_bytes()); // one entry
    v.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
    v.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    v.extend_from_slice(&1u32.to_le_bytes()); // count
    v.extend_from_slice(&value.to_le_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    v
}

#[test]
fn exif_orientation_is_applied() {
    let upright = portrait();
    // Store the photo turned 90 degrees counter-clockwise and tag it "rotate 90 CW to display".
    let stored = image::imageops::rotate270(&upright);
    let mut bytes = Vec::new();
    let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95);
    encoder.set_exif_metadata(exif_orientation(6)).unwrap();
    encoder
        .write_image(
            stored.as_raw(),
            stored.width(),
            stored.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();

    let decoded = decode(&bytes, &Limits::default()).unwrap();
    assert_eq!(
        decoded.dimensions(),
        upright.dimensions(),
        "orientation not applied"
    );

    let engine = common::engine();
    let a = engine.enrol_rgb(&upright).unwrap();
    let b = engine
        .enrol(&bytes)
        .expect("the tagged, rotated JPEG enrols once turned upright");
    let sim = cosine(&a.embedding, &b.embedding);
    eprintln!("upright vs EXIF-rotated similarity {sim:.3}");
    assert!(sim > 0.8, "similarity {sim}");
}

#[test]
fn every_container_format_decodes_to_the_same_picture() {
    let base = portrait();
    let (w, h) = base.dimensions();
    for format in [
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::WebP,
        ImageFormat::Bmp,
        ImageFormat::Gif,
        ImageFormat::Tiff,
    ] {
        let mut bytes = Vec::new();
        DynamicImage::ImageRgb8(base.clone())
            .write_to(&mut Cursor::new(&mut bytes), format)
            .unwrap();
        let decoded =
            decode(&bytes, &Limits::default()).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!(decoded.dimensions(), (w, h), "{format:?}");
    }
    // Grey and grey+alpha become RGB.
    let grey = DynamicImage::ImageRgb8(base.clone()).into_luma_alpha8();
    let mut bytes = Vec::new();
    DynamicImage::ImageLumaA8(grey)
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .unwrap();
    let decoded = decode(&bytes, &Limits::default()).unwrap();
    let px = decoded.get_pixel(w / 2, h / 2);
    assert_eq!(px[0], px[1]);
    assert_eq!(px[1], px[2]);
}

#[test]
fn transparent_pixels_become_white() {
    let rgba = image::RgbaImage::from_pixel(4, 4, image::Rgba([10, 20, 30, 0]));
    let mut bytes = Vec::new();
    DynamicImage::ImageRgba8(rgba)
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .unwrap();
    let decoded = decode(&bytes, &Limits::default()).unwrap();
    assert_eq!(decoded.get_pixel(1, 1).0, [255, 255, 255]);
}

/// PNGs take a row-by-row path straight to 8-bit RGB (bounded memory); every PNG colour
/// type and depth gives the same picture as the general decoder (within one level: 16-bit
/// samples are truncated rather than rounded).
#[test]
fn png_rows_match_the_general_decoder() {
    let base = DynamicImage::ImageRgb8(portrait());
    let mut rgba = base.to_rgba8();
    for (i, px) in rgba.pixels_mut().enumerate() {
        px[3] = (i % 256) as u8;
    }
    let variants = [
        ("rgb8", base.clone()),
        ("rgb16", DynamicImage::ImageRgb16(base.to_rgb16())),
        ("rgba8", DynamicImage::ImageRgba8(rgba.clone())),
        (
            "rgba16",
            DynamicImage::ImageRgba16(DynamicImage::ImageRgba8(rgba).to_rgba16()),
        ),
        ("luma8", DynamicImage::ImageLuma8(base.to_luma8())),
        ("luma16", DynamicImage::ImageLuma16(base.to_luma16())),
        ("lumaA8", DynamicImage::ImageLumaA8(base.to_luma_alpha8())),
    ];
    for (name, image) in variants {
        let mut bytes = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .unwrap();
        let rows = decode(&bytes, &Limits::default()).unwrap();
        let general = rollcall_face::to_rgb(
            rollcall_face::decode_dynamic(&bytes, &Limits::default()).unwrap(),
        );
        assert_eq!(rows.dimensions(), general.dimensions(), "{name}");
        let worst = rows
            .as_raw()
            .iter()
            .zip(general.as_raw())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= 1, "{name}: a channel differs by {worst}");
    }
    // A truncated PNG is an invalid image, not a panic or a partial picture.
    let mut bytes = Vec::new();
    base.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .unwrap();
    bytes.truncate(bytes.len() / 2);
    assert!(matches!(
        decode(&bytes, &Limits::default()),
        Err(FaceError::InvalidImage { .. })
    ));
}

#[test]
fn broken_files_are_invalid_images() {
    for file in [
        "hard/broken_files/truncated.jpg",
        "hard/broken_files/corrupted.png",
        "hard/broken_files/empty.png",
    ] {
        let err = decode(&common::read(file), &Limits::default()).unwrap_err();
        assert!(
            matches!(err, FaceError::InvalidImage { .. }),
            "{file}: {err}"
        );
        eprintln!("{file}: {err}");
    }
    // A valid JPEG cut in half.
    let full = common::read("identities/barack_obama/1.jpg");
    let half = full.get(..full.len() / 2).unwrap();
    let err = decode(half, &Limits::default()).unwrap_err();
    assert!(matches!(err, FaceError::InvalidImage { .. }), "{err}");
    // Not an image at all.
    let err = decode(b"hello, this is text", &Limits::default()).unwrap_err();
    assert!(matches!(err, FaceError::InvalidImage { .. }), "{err}");
}

/// A PNG whose header declares `w` x `h` pixels, with one tiny (invalid) data chunk.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        out.extend_from_slice(&crc_input);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    }
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &[0x78, 0x9C, 0x03, 0x00]);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn decompression_bomb_is_refused_before_decoding() {
    let bomb = png_header_only(100_000, 100_000);
    let err = decode(&bomb, &Limits::default()).unwrap_err();
    match &err {
        FaceError::TooManyPixels {
            width,
            height,
            limit,
        } => {
            assert_eq!((*width, *height), (100_000, 100_000));
            assert_eq!(*limit, 40_000_000);
        }
        other => panic!("expected TooManyPixels, got {other}"),
    }
    assert_eq!(
        err.to_string(),
        "photo is 100000x100000, the limit is 40 megapixels"
    );
}

#[test]
fn byte_limit_is_enforced() {
    let bytes = common::read("identities/barack_obama/1.jpg");
    let limits = Limits {
        max_bytes: 1000,
        ..Limits::default()
    };
    let err = decode(&bytes, &limits).unwrap_err();
    assert!(
        matches!(
            err,
            FaceError::TooLarge {
                kind: SizeKind::Bytes,
                limit: 1000,
                ..
            }
        ),
        "{err}"
    );
}
