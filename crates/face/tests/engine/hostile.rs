//! Regression corpus of hostile uploads (issue 10): files built in the test (nothing large
//! is committed) and run through the engine's decode entry point, as every upload is. Each
//! must give an image within the limits or a clear error, never a panic, and the one that
//! decodes near the pixel limit must stay within the documented memory bound.
//!
//! `ROLLCALL_WRITE_HOSTILE_CORPUS=<dir> cargo test -p rollcall-face --test engine hostile::` also
//! writes the small files (under 64 KiB) to `<dir>`: they seed the `decode` fuzz target
//! (`fuzz/corpus/decode`).

use crate::common;

use std::io::Cursor;

use image::{ImageFormat, RgbImage};
use rollcall_face::decode;
use rollcall_face::{FaceError, Limits};

/// A smooth 8-bit RGB picture (compresses well, like the files).
fn picture(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8])
    })
}

fn encode(image: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, format)
        .unwrap_or_else(|e| panic!("{format:?}: {e}"));
    out.into_inner()
}

/// A 16-bit RGBA PNG of `w` x `h`, rows streamed (the file is small, the image is not);
/// `interlaced`: only the header of an interlaced one.
fn png16_rgba(w: u32, h: u32, interlaced: bool) -> Vec<u8> {
    if interlaced {
        return header_only_png(w, h, 16, 6, 1);
    }
    /// A growing buffer the stream writer can own (it needs a `'static` writer).
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let out = Shared::default();
    let mut encoder = png::Encoder::new(out.clone(), w, h);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Sixteen);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder
        .write_header()
        .and_then(|w| w.into_stream_writer())
        .expect("png writer");
    let mut row = vec![0u8; w as usize * 8];
    for y in 0..h {
        // One colour per row (a vertical gradient): deflate shrinks it to a few hundred KB.
        let v = ((y * 10) % 65_536) as u16;
        for px in row.chunks_exact_mut(8) {
            for (i, c) in [v, v / 2, 65_535 - v, 40_000].iter().enumerate() {
                px[i * 2..i * 2 + 2].copy_from_slice(&c.to_be_bytes());
            }
        }
        std::io::Write::write_all(&mut writer, &row).expect("png row");
    }
    writer.finish().expect("png end");
    out.0.lock().map(|b| b.clone()).unwrap_or_default()
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

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    out.extend_from_slice(&crc_input);
    out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
}

/// A PNG whose header declares `w` x `h` (depth, colour type, interlace as given) with one
/// tiny, empty data stream.
fn header_only_png(w: u32, h: u32, depth: u8, color: u8, interlace: u8) -> Vec<u8> {
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[depth, color, 0, 0, interlace]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &[0x78, 0x9C, 0x03, 0x00]);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// `jpeg` with the frame header's dimensions replaced by `w` x `h`.
fn jpeg_claiming(jpeg: &[u8], w: u16, h: u16) -> Vec<u8> {
    let mut out = jpeg.to_vec();
    let sof = out
        .windows(2)
        .position(|m| m[0] == 0xFF && (0xC0..=0xC2).contains(&m[1]))
        .expect("a SOF marker");
    // FF Cx, length (2), precision (1), height (2), width (2).
    out[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    out[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    out
}

/// A BMP header (BITMAPINFOHEADER, 24-bit) claiming `w` x `h`, with a few bytes of pixels.
fn bmp_claiming(w: i32, h: i32) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"BM");
    out.extend_from_slice(&70u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&54u32.to_le_bytes());
    out.extend_from_slice(&40u32.to_le_bytes());
    out.extend_from_slice(&w.to_le_bytes());
    out.extend_from_slice(&h.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&24u16.to_le_bytes());
    out.extend_from_slice(&[0; 24]);
    out.extend_from_slice(&[0x7F; 16]);
    out
}

/// A GIF header (logical screen and one image) claiming `w` x `h`.
fn gif_claiming(w: u16, h: u16) -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    out.extend_from_slice(&w.to_le_bytes());
    out.extend_from_slice(&h.to_le_bytes());
    out.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 255, 255, 255]);
    out.push(0x2C);
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&w.to_le_bytes());
    out.extend_from_slice(&h.to_le_bytes());
    out.extend_from_slice(&[0, 2, 2, 0x4C, 0x01, 0, 0x3B]);
    out
}

/// A little-endian TIFF header claiming `w` x `h` 8-bit RGB with one tiny strip.
fn tiff_claiming(w: u32, h: u32) -> Vec<u8> {
    let entries: [(u16, u16, u32, u32); 8] = [
        (256, 4, 1, w),   // ImageWidth
        (257, 4, 1, h),   // ImageLength
        (258, 3, 1, 8),   // BitsPerSample
        (259, 3, 1, 1),   // Compression: none
        (262, 3, 1, 2),   // Photometric: RGB
        (273, 4, 1, 200), // StripOffsets
        (277, 3, 1, 3),   // SamplesPerPixel
        (279, 4, 1, 16),  // StripByteCounts
    ];
    let mut out = b"II*\0".to_vec();
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for (tag, kind, count, value) in entries {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out.resize(216, 0x40);
    out
}

/// What a hostile file must give.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Refused from the header: `photo is WxH, the limit is 40 megapixels`.
    TooManyPixels(u32, u32),
    /// Refused as not a readable image.
    Invalid,
    /// Either a clear refusal or an image of exactly these dimensions (decoders differ in
    /// whether they pad missing data).
    InvalidOr(u32, u32),
}

fn check(name: &str, bytes: &[u8], expect: Expect) {
    let result = std::panic::catch_unwind(|| decode(bytes, &Limits::default()))
        .unwrap_or_else(|_| panic!("{name}: the decoder panicked"));
    match (expect, &result) {
        (Expect::TooManyPixels(w, h), Err(e @ FaceError::TooManyPixels { width, height, .. })) => {
            assert_eq!((*width, *height), (w, h), "{name}");
            assert_eq!(
                e.to_string(),
                format!("photo is {w}x{h}, the limit is 40 megapixels"),
                "{name}"
            );
        }
        (Expect::Invalid | Expect::InvalidOr(..), Err(FaceError::InvalidImage { .. })) => {}
        (Expect::InvalidOr(w, h), Ok(image)) => {
            assert_eq!(image.dimensions(), (w, h), "{name}");
        }
        (expect, other) => panic!(
            "{name}: expected {expect:?}, got {:?}",
            other.as_ref().map(|i| i.dimensions())
        ),
    }
}

fn small_corpus() -> Vec<(String, Vec<u8>, Expect)> {
    let jpeg = encode(&picture(64, 48), ImageFormat::Jpeg);
    let png = encode(&picture(64, 48), ImageFormat::Png);
    let gif = encode(&picture(16, 12), ImageFormat::Gif);
    let bmp = encode(&picture(16, 12), ImageFormat::Bmp);
    let tiff = encode(&picture(16, 12), ImageFormat::Tiff);
    let webp = encode(&picture(16, 12), ImageFormat::WebP);
    let mut corpus: Vec<(String, Vec<u8>, Expect)> = vec![
        ("empty".into(), Vec::new(), Expect::Invalid),
        (
            "text".into(),
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            Expect::Invalid,
        ),
        (
            "png-signature-only".into(),
            png[..8].to_vec(),
            Expect::Invalid,
        ),
        (
            "png-100000x100000".into(),
            header_only_png(100_000, 100_000, 8, 2, 0),
            Expect::TooManyPixels(100_000, 100_000),
        ),
        (
            "png-1x40000001".into(),
            header_only_png(1, 40_000_001, 8, 2, 0),
            Expect::TooManyPixels(1, 40_000_001),
        ),
        (
            "png16-rgba-6400x6400-header".into(),
            header_only_png(6400, 6400, 16, 6, 0),
            Expect::TooManyPixels(6400, 6400),
        ),
        (
            "png16-rgba-interlaced-6000x6000-no-data".into(),
            png16_rgba(6000, 6000, true),
            Expect::Invalid,
        ),
        (
            "png-0x0".into(),
            header_only_png(0, 0, 8, 2, 0),
            Expect::Invalid,
        ),
        (
            "jpeg-claiming-7000x7000".into(),
            jpeg_claiming(&jpeg, 7000, 7000),
            Expect::TooManyPixels(7000, 7000),
        ),
        (
            // Over 24 MP: decoded at half size by DCT scaling (or refused: its data ends).
            "jpeg-claiming-6000x6000".into(),
            jpeg_claiming(&jpeg, 6000, 6000),
            Expect::InvalidOr(3000, 3000),
        ),
        (
            "jpeg-claiming-4000x3000".into(),
            jpeg_claiming(&jpeg, 4000, 3000),
            Expect::InvalidOr(4000, 3000),
        ),
        (
            "jpeg-claiming-0x0".into(),
            jpeg_claiming(&jpeg, 0, 0),
            Expect::Invalid,
        ),
        (
            "bmp-claiming-20000x20000".into(),
            bmp_claiming(20_000, 20_000),
            Expect::TooManyPixels(20_000, 20_000),
        ),
        (
            // Past the BMP decoder's own 65535 limit: refused as invalid.
            "bmp-claiming-100000x100000".into(),
            bmp_claiming(100_000, 100_000),
            Expect::Invalid,
        ),
        (
            "bmp-claiming-4000x-4000".into(),
            bmp_claiming(4000, -4000),
            Expect::InvalidOr(4000, 4000),
        ),
        (
            "gif-claiming-65535x65535".into(),
            gif_claiming(65_535, 65_535),
            Expect::TooManyPixels(65_535, 65_535),
        ),
        (
            "tiff-claiming-100000x100000".into(),
            tiff_claiming(100_000, 100_000),
            Expect::TooManyPixels(100_000, 100_000),
        ),
        (
            "tiff-claiming-5000x5000-tiny-strip".into(),
            tiff_claiming(5000, 5000),
            Expect::InvalidOr(5000, 5000),
        ),
    ];
    // Every format cut short at several places.
    for (format, bytes) in [
        ("jpeg", &jpeg),
        ("png", &png),
        ("gif", &gif),
        ("bmp", &bmp),
        ("tiff", &tiff),
        ("webp", &webp),
    ] {
        for cut in [1, 2, 3, 5, 9] {
            let at = bytes.len() * cut / 10;
            let expect = if format == "gif" || format == "bmp" || format == "tiff" {
                // These decoders may pad a short pixel stream.
                let (w, h) = (16, 12);
                Expect::InvalidOr(w, h)
            } else {
                Expect::Invalid
            };
            corpus.push((
                format!("{format}-truncated-{cut}0pct"),
                bytes[..at].to_vec(),
                expect,
            ));
        }
    }
    corpus
}

/// The two tests run one after the other, so that the memory measured is the decoder's alone.
static SEQUENTIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn small_hostile_files_are_refused_or_bounded() {
    let _one_at_a_time = SEQUENTIAL.lock().unwrap_or_else(|e| e.into_inner());
    let corpus = small_corpus();
    if let Some(dir) = std::env::var_os("ROLLCALL_WRITE_HOSTILE_CORPUS") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        for (name, bytes, _) in &corpus {
            if bytes.len() < 64 * 1024 {
                std::fs::write(dir.join(name), bytes).expect("corpus file");
            }
        }
    }
    for (name, bytes, expect) in &corpus {
        check(name, bytes, *expect);
    }
}

/// Resident memory of this process now (VmRSS), in MiB.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |pages| pages * 4096.0 / (1024.0 * 1024.0))
}

/// Runs `f` while sampling the resident memory every millisecond; returns its result and
/// the peak growth over the memory before it, in MiB. (Large buffers are unmapped when
/// freed, so this does not depend on what ran before, unlike VmHWM.)
fn peak_growth<T>(f: impl FnOnce() -> T) -> (T, f64) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let before = rss_mib();
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut peak = before;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(rss_mib());
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            peak.max(rss_mib())
        });
        let value = f();
        done.store(true, Ordering::Relaxed);
        let peak = sampler.join().unwrap_or(before);
        (value, peak - before)
    })
}

/// The file: a 16-bit RGBA PNG just under 40 MP (here 6320x6320, a few hundred KB)
/// decodes row by row into 8-bit RGB: about 3 bytes per pixel (114 MiB), not 8 + 3.
/// Measured in a process of its own, where no other test allocates beside it.
#[test]
fn png16_rgba_near_the_pixel_limit_decodes_in_bounded_memory() {
    common::run_alone("hostile::png16_rgba_decode_memory_alone");
}

/// The measurement of the test above; run by it in a child process.
#[test]
#[ignore = "run in a process of its own by png16_rgba_near_the_pixel_limit_decodes_in_bounded_memory"]
fn png16_rgba_decode_memory_alone() {
    let bytes = png16_rgba(6320, 6320, false);
    assert!(bytes.len() < 15 * 1024 * 1024, "{} bytes", bytes.len());
    let (image, grown) = peak_growth(|| decode(&bytes, &Limits::default()));
    let image = image.expect("a valid 39.9 MP PNG decodes");
    assert_eq!(image.dimensions(), (6320, 6320));
    eprintln!(
        "16-bit RGBA PNG 6320x6320 ({} KiB): peak RSS +{grown:.0} MiB",
        bytes.len() / 1024
    );
    // The output alone is 114 MiB; the general decoder needed about 460 MiB.
    assert!(
        grown < 260.0,
        "decoding took +{grown:.0} MiB of peak memory (bound 260 MiB)"
    );
}

/// The other file: a JPEG claiming 6000x6000 (36 MP) cost +100 MiB, its full size at
/// 3 bytes per pixel. Over `full_decode_pixels` (24 MP) a JPEG is decoded at half its width
/// and height by DCT scaling: 3000x3000, about a quarter of the memory. A real 36 MP JPEG
/// (here a smooth picture) is measured, at full size too for comparison.
#[test]
fn jpeg_over_24_megapixels_decodes_scaled_in_bounded_memory() {
    let _one_at_a_time = SEQUENTIAL.lock().unwrap_or_else(|e| e.into_inner());
    let bytes = encode(&picture(6000, 6000), ImageFormat::Jpeg);
    let (image, grown) = peak_growth(|| decode(&bytes, &Limits::default()));
    let image = image.expect("a valid 36 MP JPEG decodes");
    assert_eq!(image.dimensions(), (3000, 3000));
    drop(image);
    let whole = Limits {
        full_decode_pixels: u64::MAX,
        ..Limits::default()
    };
    let (image, grown_whole) = peak_growth(|| decode(&bytes, &whole));
    assert_eq!(image.expect("full size").dimensions(), (6000, 6000));
    eprintln!(
        "JPEG 6000x6000 ({} KiB): peak RSS +{grown:.0} MiB at 3000x3000 (DCT scaling), \
         +{grown_whole:.0} MiB at full size",
        bytes.len() / 1024
    );
    // The output is 26 MiB, and the decoder's scaled colour planes as much again (measured
    // +52 MiB); at full size the output alone is 103 MiB (measured +117 MiB).
    assert!(
        grown < 64.0,
        "decoding took +{grown:.0} MiB of peak memory (bound 64 MiB)"
    );
    // Within the limit, 4000x3000 (a phone photo) is decoded whole.
    let bytes = encode(&picture(4000, 3000), ImageFormat::Jpeg);
    let image = decode(&bytes, &Limits::default()).expect("a 12 MP JPEG decodes");
    assert_eq!(image.dimensions(), (4000, 3000));
}
