//! Peak memory of decoding one photo (issue 10, item 5), measured in a fresh process:
//!
//! ```sh
//! cargo run --release -p rollcall-face --example decode_peak -- make-png16 /tmp/big.png 6300 6300
//! cargo run --release -p rollcall-face --example decode_peak -- decode /tmp/big.png
//! cargo run --release -p rollcall-face --example decode_peak -- decode-general /tmp/big.png
//! ```
//!
//! `make-png16` writes a 16-bit RGBA PNG (a smooth pattern, so the file is small), streaming
//! its rows; `decode` runs the engine's decoder (`rollcall_face::decode`) and
//! `decode-general` the general path (`image` at native depth, then to 8-bit RGB). Each
//! prints the process's peak RSS (VmHWM) before and after.

use std::fs::File;
use std::io::BufWriter;
use std::process::ExitCode;

use rollcall_face::Limits;

fn vm_hwm_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn make_png16(path: &str, width: u32, height: u32) -> Result<(), String> {
    let file = File::create(path).map_err(|e| e.to_string())?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Sixteen);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder
        .write_header()
        .map_err(|e| e.to_string())?
        .into_stream_writer()
        .map_err(|e| e.to_string())?;
    let mut row = vec![0u8; width as usize * 8];
    for y in 0..height {
        for (x, px) in row.chunks_exact_mut(8).enumerate() {
            let v = ((x as u32 + y) % 65_536) as u16;
            for (i, c) in [v, v / 2, 65_535 - v, 65_535].iter().enumerate() {
                px[i * 2..i * 2 + 2].copy_from_slice(&c.to_be_bytes());
            }
        }
        std::io::Write::write_all(&mut writer, &row).map_err(|e| e.to_string())?;
    }
    writer.finish().map_err(|e| e.to_string())?;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let limits = Limits {
        max_bytes: u64::MAX,
        ..Limits::default()
    };
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["make-png16", path, w, h] => match (w.parse(), h.parse()) {
            (Ok(w), Ok(h)) => make_png16(path, w, h),
            _ => Err("width and height must be numbers".to_owned()),
        },
        [mode @ ("decode" | "decode-general"), path] => (|| {
            let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
            let before = vm_hwm_mib();
            let started = std::time::Instant::now();
            let (w, h) = if *mode == "decode" {
                let image = rollcall_face::decode(&bytes, &limits).map_err(|e| e.to_string())?;
                image.dimensions()
            } else {
                let image =
                    rollcall_face::decode_dynamic(&bytes, &limits).map_err(|e| e.to_string())?;
                let image = rollcall_face::to_rgb(image);
                image.dimensions()
            };
            println!(
                "{mode}: {w}x{h} ({:.1} MP) from {:.0} KiB in {:.2} s; peak RSS {before:.0} MiB \
                 before, {:.0} MiB after (+{:.0} MiB)",
                f64::from(w) * f64::from(h) / 1e6,
                bytes.len() as f64 / 1024.0,
                started.elapsed().as_secs_f64(),
                vm_hwm_mib(),
                vm_hwm_mib() - before,
            );
            Ok(())
        })(),
        _ => Err(
            "usage: decode_peak make-png16 PATH W H | decode PATH | decode-general PATH".to_owned(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("decode_peak: {e}");
            ExitCode::FAILURE
        }
    }
}
